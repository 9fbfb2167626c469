/**
 * Local tools from an MCP client: `create_conversation` and `create_conversation_message` take
 * `clientSideMCPServerIds` (Dust's REST message-context field). A real MCP SDK server runs as
 * the user's local server through `@dust-tt/client`'s `DustMcpServerTransport`, a real MCP
 * client posts on `/mcp` naming it, the scripted model calls `<server>__<tool>` through the
 * relay, and `get_conversation_messages` shows the answer with the tool's result. Refused ids
 * (another user's, unknown, too many) are readable tool errors and write nothing.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { startLocalMcpServer } from "../helpers/local_mcp.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import {
  type AnyClient,
  connectV1,
  connectV2,
  createMcpUser,
  errorOf,
  type McpUser,
  payloadOf,
  rawMcp,
  rpcOf,
  TOOLS_CALL,
} from "../mcp/helpers.ts";

/** The model calls the local tool once, then answers with what it returned. */
const useLocalTool = (label: string) => [
  { toolCalls: [{ name: "local_tools__get_secret", arguments: { label } }] },
  (req: ChatRequest) => ({ content: `Found ${lastToolResult(req)}` }),
];

type Page = {
  messages: string;
  pendingApprovals: { actionId: string; messageId: string }[];
};

/**
 * Poll `get_conversation_messages` (bounded) until its text contains `needle`. A local tool
 * asks for approval (tool_approval_test.ts): the first waiting call the page shows is
 * approved the way its text says, through REST validate-action with the poster's token.
 */
async function waitForText(
  c: AnyClient,
  conversationId: string,
  needle: string,
  poster: { server: TestServer; user: McpUser },
) {
  let text = "";
  let approved = false;
  for (let i = 0; i < 400 && !text.includes(needle); i++) {
    await new Promise((r) => setTimeout(r, 25));
    const page = payloadOf<Page>(
      await c.callTool({ name: "get_conversation_messages", arguments: { conversationId } }),
    );
    text = page.messages;
    const waiting = page.pendingApprovals[0];
    if (waiting && !approved) {
      assert.match(text, /\[Waiting for approval: Dust wants to run get_secret \(Local Tools\)/);
      const { user, server } = poster;
      const r = await apiJson(
        server,
        user.token,
        `/api/v1/w/${user.workspace.sId}/assistant/conversations/${conversationId}/messages/${waiting.messageId}/validate-action`,
        { method: "POST", body: { actionId: waiting.actionId, approved: "approved" } },
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      approved = true;
    }
  }
  assert.ok(approved, "the local tool call waited for the poster's approval");
  return text;
}

async function countRows(s: TestServer, table: "conversations" | "messages"): Promise<number> {
  return (await s.deps.db.get(`SELECT COUNT(*) AS n FROM ${table}`) as { n: number }).n;
}

function toolNamesOffered(req: ChatRequest): string[] {
  return (req.tools ?? []).map((t: { function: { name: string } }) => t.function.name);
}

/** Alice, and Bob in her workspace with a relay server registered over REST (Dust's route). */
async function aliceAndBobsServer(s: TestServer): Promise<{ alice: McpUser; bobsServer: string }> {
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "user" });
  const bob = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const r = await apiJson(s, bob.token, `/api/v1/w/${bob.workspace.sId}/mcp/register`, {
    method: "POST",
    body: { serverName: "Bob Tools" },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { alice, bobsServer: r.body.serverId as string };
}

Deno.test("[agents] through /mcp: create_conversation_message with clientSideMCPServerIds lets the agent call the local tool", async () => {
  await using model = await startFakeModel(useLocalTool("vault"));
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "42" });
  await using c = await connectV2(server, alice.mcpToken);
  const { conversationId } = payloadOf<{ conversationId: string }>(
    await c.callTool({ name: "create_conversation", arguments: { title: "Local tools" } }),
  );
  const posted = payloadOf<{ agentMessageIds: string[] }>(
    await c.callTool({
      name: "create_conversation_message",
      arguments: {
        conversationId,
        message: "What is in the vault?",
        clientSideMCPServerIds: [local.serverId],
      },
    }),
  );
  assert.equal(posted.agentMessageIds.length, 1);
  const text = await waitForText(c, conversationId, "Found vault: 42", { server, user: alice });
  assert.match(text, />> Agent \(Dust\) .*\n+Found vault: 42/);
  assert.deepEqual(local.calls, [{ label: "vault" }], "the local tool ran once, through the relay");
  assert.ok(toolNamesOffered(model.requests[0]).includes("local_tools__get_secret"));
});

Deno.test("[agents] through /mcp: create_conversation with clientSideMCPServerIds (v1 client) lets the agent call the local tool", async () => {
  await using model = await startFakeModel(useLocalTool("door"));
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "s3cr3t" });
  await using c = await connectV1(server, alice.mcpToken);
  const created = payloadOf<{ conversationId: string; agentMessageIds: string[] }>(
    await c.callTool({
      name: "create_conversation",
      arguments: {
        title: "Local tools",
        message: "Open the door",
        clientSideMCPServerIds: [local.serverId],
      },
    }),
  );
  assert.equal(created.agentMessageIds.length, 1);
  const text = await waitForText(c, created.conversationId, "Found door: s3cr3t", {
    server,
    user: alice,
  });
  assert.match(text, />> Agent \(Dust\) .*\n+Found door: s3cr3t/);
  assert.deepEqual(local.calls, [{ label: "door" }]);
});

Deno.test("[agents] through /mcp: another user's or an unknown server id is Dust's 403 text as isError and nothing is written", async () => {
  await using model = await startFakeModel(useLocalTool("vault"));
  await using server = await startTestServer({ flags: model.flags });
  const { alice, bobsServer } = await aliceAndBobsServer(server);
  await using c = await connectV2(server, alice.mcpToken);

  const refusedConversation = await c.callTool({
    name: "create_conversation",
    arguments: { title: "t", message: "use bob's tools", clientSideMCPServerIds: [bobsServer] },
  });
  assert.equal(errorOf(refusedConversation), "User does not have access to the local MCP servers.");
  assert.equal(await countRows(server, "conversations"), 0, "a refused create writes nothing");

  const { conversationId } = payloadOf<{ conversationId: string }>(
    await c.callTool({ name: "create_conversation", arguments: { title: "Mine" } }),
  );
  for (const ids of [[bobsServer], ["mcp-client-side:unknown.0000000000000000"]]) {
    const refused = await c.callTool({
      name: "create_conversation_message",
      arguments: { conversationId, message: "use these tools", clientSideMCPServerIds: ids },
    });
    assert.equal(
      errorOf(refused),
      "User does not have access to the client-side MCP servers.",
      ids[0],
    );
  }
  assert.equal(await countRows(server, "messages"), 0, "a refused post writes no message");
  assert.equal(model.requests.length, 0, "no agent ran");
});

Deno.test("[mcp tools] clientSideMCPServerIds: optional array of at most 10 strings in tools/list; more, or with no message, is a tool error", async () => {
  await using server = await startTestServer();
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "user" });
  await using c = await connectV2(server, alice.mcpToken);
  const { tools } = await c.listTools() as {
    tools: { name: string; inputSchema: { properties: Record<string, unknown>; required?: [] } }[];
  };
  for (const name of ["create_conversation", "create_conversation_message"]) {
    const schema = tools.find((t) => t.name === name)!.inputSchema;
    const prop = schema.properties.clientSideMCPServerIds as Record<string, unknown>;
    assert.equal(prop.type, "array", name);
    assert.equal(prop.maxItems, 10, name);
    assert.deepEqual((prop.items as { type: string }).type, "string", name);
    assert.ok(!(schema.required ?? []).includes("clientSideMCPServerIds" as never), name);
  }
  const eleven = Array.from({ length: 11 }, (_, i) => `mcp-client-side:x.${i}`);
  const tooMany = await c.callTool({
    name: "create_conversation",
    arguments: { title: "t", message: "hi", clientSideMCPServerIds: eleven },
  });
  assert.match(errorOf(tooMany), /clientSideMCPServerIds/);
  const noMessage = await c.callTool({
    name: "create_conversation",
    arguments: { title: "t", clientSideMCPServerIds: ["mcp-client-side:x.0"] },
  });
  assert.equal(
    errorOf(noMessage),
    "clientSideMCPServerIds: only applies together with message",
  );
  assert.equal(await countRows(server, "conversations"), 0);
});

Deno.test("[mcp fast path] a refused clientSideMCPServerIds post answers the same as through the SDK", async () => {
  await using server = await startTestServer();
  const { alice, bobsServer } = await aliceAndBobsServer(server);
  const auth = { Authorization: `Bearer ${alice.mcpToken}` };
  const call = TOOLS_CALL("create_conversation", {
    title: "t",
    message: "use bob's tools",
    clientSideMCPServerIds: [bobsServer],
  }, 3);
  const fast = await rawMcp(server, call, auth);
  assert.match(fast.headers.get("content-type") ?? "", /application\/json/, "fast path");
  const sdk = await rawMcp(server, call, { ...auth, "MCP-Protocol-Version": null });
  assert.match(sdk.headers.get("content-type") ?? "", /text\/event-stream/, "SDK path");
  assert.deepEqual(rpcOf(fast.text), rpcOf(sdk.text));
  const result = rpcOf(fast.text).result as { isError: boolean; content: { text: string }[] };
  assert.equal(result.isError, true);
  assert.equal(result.content[0].text, "User does not have access to the local MCP servers.");
  assert.equal(await countRows(server, "conversations"), 0);
});
