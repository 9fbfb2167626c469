/**
 * The whole user story through Dust's own SDK (`@dust-tt/client` 1.2.8), unchanged: the user's
 * app registers a local MCP server with `DustMcpServerTransport`, posts a message naming it in
 * `clientSideMCPServerIds`, and streams the agent's events while the agent uses the local tool.
 * Also the MCP-tool path: a real MCP client on `/mcp` posts with `create_conversation_message`
 * and reads the agent's answer with `get_conversation_messages` (without client-side servers;
 * naming them from an MCP client is tested in mcp_local_tools_test.ts).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor, startLocalMcpServer } from "../helpers/local_mcp.ts";
import { lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { connectV2, createMcpUser, payloadOf } from "../mcp/helpers.ts";

const script = [
  { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "vault" } }] },
  (req: Parameters<typeof lastToolResult>[0]) => ({ content: `Found ${lastToolResult(req)}` }),
];

Deno.test("[agents] through @dust-tt/client: register a local server, post, stream the agent using the local tool", async () => {
  await using model = await startFakeModel(script);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "42" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);

  const created = await api.createConversation({
    title: null,
    visibility: "unlisted",
    // Approvals of local tools through the SDK: tool_approval_test.ts.
    skipToolsValidation: true,
    message: {
      content: "What is in the vault?",
      mentions: [{ configurationId: "dust" }],
      context: {
        username: "alice",
        timezone: "UTC",
        clientSideMCPServerIds: [local.serverId],
      },
    },
  });
  assert.ok(created.isOk(), JSON.stringify(created.isErr() && created.error));
  const { conversation, message } = created.value;
  const stream = await api.streamAgentAnswerEvents({ conversation, userMessageId: message!.sId });
  assert.ok(stream.isOk());
  const types: string[] = [];
  let final: { content: string | null; status: string } | null = null;
  for await (const e of stream.value.eventStream) {
    types.push(e.type);
    if (e.type === "agent_message_success") final = e.message;
  }
  assert.deepEqual(types.filter((t) => t !== "generation_tokens"), [
    "tool_params",
    "agent_action_success",
    "agent_message_success",
  ]);
  assert.equal(final?.status, "succeeded");
  assert.equal(final?.content, "Found vault: 42");
});

Deno.test("[agents] through /mcp: create_conversation_message mentions Dust and the answer shows in get_conversation_messages", async () => {
  await using model = await startFakeModel([{ content: "Answer via MCP." }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "user" });
  await using c = await connectV2(server, alice.mcpToken);
  const { conversationId } = payloadOf<{ conversationId: string }>(
    await c.callTool({ name: "create_conversation", arguments: { title: "Via MCP" } }),
  );
  const posted = payloadOf<{ agentMessageIds: string[] }>(
    await c.callTool({
      name: "create_conversation_message",
      arguments: { conversationId, message: "Hello Dust" },
    }),
  );
  assert.equal(posted.agentMessageIds.length, 1, "the default agent Dust is mentioned");
  // The tool does not wait for the answer (as in Dust): the caller polls, bounded here.
  let text = "";
  for (let i = 0; i < 200 && !text.includes("Answer via MCP."); i++) {
    await new Promise((r) => setTimeout(r, 25));
    text = payloadOf<{ messages: string }>(
      await c.callTool({ name: "get_conversation_messages", arguments: { conversationId } }),
    ).messages;
  }
  assert.match(text, />> User \(alice, alice@example\.com\) .*\n+Hello Dust/);
  assert.match(text, />> Agent \(Dust\) .*\n+Answer via MCP\./);
  assert.equal(model.requests.length, 1);
});
