/**
 * The whole user story through Dust's own SDK (`@dust-tt/client` 1.2.8), unchanged: the user's
 * app registers a local MCP server with `DustMcpServerTransport`, posts a message naming it in
 * `clientSideMCPServerIds`, and streams the agent's events while the agent uses the local tool.
 * Also the MCP-tool path: the core `createConversationMessage` the `/mcp` tool calls.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor, startLocalMcpServer } from "../helpers/local_mcp.ts";
import { lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { createConversationWithMessage, userActorOf } from "../helpers/actors.ts";
import { createConversationMessage } from "../../src/core/messages.ts";
import { waitForAgentMessages } from "../../src/core/agent_messages.ts";
import { getConversation } from "../../src/core/conversations.ts";

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

Deno.test("[agents] the MCP tool path (createConversationMessage) runs the agent to an answer", async () => {
  await using model = await startFakeModel([{ content: "Answer via MCP." }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const actor = userActorOf(server, alice);
  const { conversationId } = await createConversationWithMessage(server, alice);
  const posted = await createConversationMessage(server.deps, actor, {
    conversationId,
    message: "Hello Dust",
  });
  assert.equal(posted.agentMessageIds.length, 1);
  await waitForAgentMessages(server.deps, posted.agentMessageIds, 10_000);
  const convo = getConversation(server.deps, actor, { conversationId });
  const agent = JSON.parse(JSON.stringify(convo)).content.flat()
    .find((m: { sId: string }) => m.sId === posted.agentMessageIds[0]);
  assert.equal(agent.status, "succeeded");
  assert.equal(agent.content, "Answer via MCP.");
});
