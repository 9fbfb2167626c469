/**
 * Tool approval over MCP: a message posted with `create_conversation_message` naming the
 * user's local MCP server waits for the user's approval. A 2026-07-28 client that declares
 * elicitation is asked by `get_conversation_messages` (an `input_required` elicitation per
 * waiting call, answered through the SDK's own retry) and the agent goes on; a declined
 * request leaves the call waiting. Clients that cannot be asked read where to decide in the
 * text (mcp_local_tools_test.ts approves that way).
 */
import assert from "node:assert/strict";
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from "@modelcontextprotocol/client";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startLocalMcpServer } from "../helpers/local_mcp.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { createMcpUser, payloadOf } from "./helpers.ts";

type Page = { messages: string; pendingApprovals: { actionId: string }[] };

/** A 2026-07-28 client declaring elicitation, answering every request with `decide()`. */
async function elicitingClient(
  server: TestServer,
  token: string,
  decide: (message: string) => { action: "accept" | "decline"; content?: { decision: string } },
) {
  const client = new V2Client({ name: "eliciting", version: "1.0.0" }, {
    capabilities: { elicitation: { form: {} } },
    versionNegotiation: { mode: "auto" },
  });
  client.setRequestHandler("elicitation/create", (request) => {
    const message = String((request.params as { message?: string }).message ?? "");
    return decide(message);
  });
  await client.connect(
    new V2Transport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

const script = [
  { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "vault" } }] },
  (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
];

async function postWithLocalTools(c: V2Client, serverId: string): Promise<string> {
  const created = await c.callTool({ name: "create_conversation", arguments: { title: "t" } });
  const { conversationId } = payloadOf<{ conversationId: string }>(created as never);
  await c.callTool({
    name: "create_conversation_message",
    arguments: { conversationId, message: "Vault?", clientSideMCPServerIds: [serverId] },
  });
  return conversationId;
}

async function readPage(c: V2Client, conversationId: string): Promise<Page> {
  const r = await c.callTool({ name: "get_conversation_messages", arguments: { conversationId } });
  return payloadOf<Page>(r as never);
}

Deno.test("[mcp approvals] a 2026-07-28 client that elicits is asked by get_conversation_messages; approving lets the agent go on", async () => {
  await using model = await startFakeModel(script);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "42" });
  const asked: string[] = [];
  const c = await elicitingClient(server, alice.mcpToken, (message) => {
    asked.push(message);
    return { action: "accept", content: { decision: "approve" } };
  });
  try {
    assert.equal(c.getNegotiatedProtocolVersion?.(), "2026-07-28");
    const conversationId = await postWithLocalTools(c, local.serverId);
    let text = "";
    for (let i = 0; i < 400 && !text.includes("Got: vault: 42"); i++) {
      await new Promise((r) => setTimeout(r, 25));
      text = (await readPage(c, conversationId)).messages;
    }
    assert.match(text, />> Agent \(Dust\) .*\n+Got: vault: 42/);
    assert.equal(asked.length, 1, "asked once");
    assert.match(
      asked[0],
      /^Dust wants to run get_secret \(Local Tools\) with \{"label":"vault"\}/,
    );
    assert.deepEqual(local.calls, [{ label: "vault" }]);
  } finally {
    await c.close();
  }
});

Deno.test("[mcp approvals] a declined elicitation leaves the call waiting, and the text says where to decide", async () => {
  await using model = await startFakeModel(script);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "42" });
  let asked = 0;
  const c = await elicitingClient(server, alice.mcpToken, () => {
    asked++;
    return { action: "decline" };
  });
  try {
    const conversationId = await postWithLocalTools(c, local.serverId);
    let page: Page = { messages: "", pendingApprovals: [] };
    for (let i = 0; i < 400 && page.pendingApprovals.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      page = await readPage(c, conversationId);
    }
    assert.equal(page.pendingApprovals.length, 1);
    assert.ok(asked >= 1);
    assert.match(page.messages, /\[Waiting for approval: Dust wants to run get_secret/);
    assert.match(page.messages, /validate-action with \{"actionId":"act_/);
    assert.deepEqual(local.calls, []);
  } finally {
    await c.close();
  }
});
