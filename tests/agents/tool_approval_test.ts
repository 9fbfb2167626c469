/**
 * Tool approval end to end through `@dust-tt/client` 1.2.8, unchanged: a local MCP server on
 * `DustMcpServerTransport`, the scripted model calling its tool, and the poster deciding.
 * Blocked (the message waits with `tool_approve_execution`, the tool has not run), listed
 * (`getBlockedActions`), approved (the tool runs, the agent answers), rejected (the model is
 * told, the tool never runs), always allowed (the next call asks no more, even after the local
 * server registers again), expired (the model is told it timed out), and `skipToolsValidation`.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { DustAPI } from "@dust-tt/client";
import { dustApiFor, quietLogger, startLocalMcpServer } from "../helpers/local_mcp.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { postAgainAndFollow, postAndFollow } from "../helpers/approvals.ts";
import { EXPIRED_TEXT, REJECTED_TEXT } from "../../src/agents/tool_calls.ts";

/** The model calls the local tool, then answers with what it got back. */
const useLocalTool = (label: string) => [
  { toolCalls: [{ name: "local_tools__get_secret", arguments: { label } }] },
  (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
];

async function setup(script: ReturnType<typeof useLocalTool>, flags: Record<string, string> = {}) {
  const model = await startFakeModel(script);
  const server = await startTestServer({ flags: { ...model.flags, ...flags } });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const local = await startLocalMcpServer(server, alice, { secret: "42" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  return {
    model,
    server,
    alice,
    local,
    api,
    async [Symbol.asyncDispose]() {
      await local.close();
      await server.stop();
      await model.close();
    },
  };
}

Deno.test("[approval] a local tool call blocks with tool_approve_execution, is listed, and runs once approved", async () => {
  await using t = await setup(useLocalTool("vault"));
  const posted = await postAndFollow(t.api, "What is in the vault?", {
    clientSideMCPServerIds: [t.local.serverId],
  });
  await using events = posted.events;
  const ask = await events.until("tool_approve_execution");
  assert.equal(ask.stake, "low");
  assert.equal(ask.metadata.toolName, "get_secret");
  assert.equal(ask.metadata.mcpServerName, "Local Tools");
  assert.equal(ask.metadata.agentName, "Dust");
  assert.deepEqual(ask.inputs, { label: "vault" });
  assert.equal(ask.conversationId, posted.conversationId);
  assert.equal(ask.userId, t.alice.user.sId);
  assert.deepEqual(t.local.calls, [], "nothing ran before the approval");

  const blocked = await t.api.getBlockedActions({ conversationId: posted.conversationId });
  assert.ok(blocked.isOk(), JSON.stringify(blocked.isErr() && blocked.error));
  assert.equal(blocked.value.blockedActions.length, 1);
  const b = blocked.value.blockedActions[0];
  assert.equal(b.actionId, ask.actionId);
  assert.equal(b.messageId, posted.agentMessageId);
  assert.equal(b.status, "blocked_validation_required");
  const conv = await t.api.getConversation({ conversationId: posted.conversationId });
  assert.ok(conv.isOk());
  assert.equal(conv.value.actionRequired, true, "the poster is told an action is required");
  const agentMessage = conv.value.content.flat().find((m) => m.sId === posted.agentMessageId);
  assert.equal(agentMessage?.type === "agent_message" && agentMessage.status, "created");
  assert.equal(
    agentMessage?.type === "agent_message" && agentMessage.actions[0].status,
    "blocked_validation_required",
  );

  const ok = await t.api.validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(ok.isOk(), JSON.stringify(ok.isErr() && ok.error));
  assert.equal(ok.value.success, true);
  const done = await events.until("agent_message_success");
  assert.equal(done.message.content, "Got: vault: 42");
  assert.deepEqual(t.local.calls, [{ label: "vault" }], "the tool ran once, after the approval");
  assert.deepEqual(events.types(), [
    "tool_params",
    "tool_approve_execution",
    "mcp_approve_execution",
    "agent_action_success",
    "agent_message_success",
  ]);
  const after = await t.api.getBlockedActions({ conversationId: posted.conversationId });
  assert.deepEqual(after.isOk() && after.value.blockedActions, []);
  const conv2 = await t.api.getConversation({ conversationId: posted.conversationId });
  assert.equal(conv2.isOk() && conv2.value.actionRequired, false);
  const again = await t.api.validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(again.isErr());
  assert.equal(again.error.type, "action_not_blocked");
});

Deno.test("[approval] a rejected call never runs and the agent is told the user rejected it", async () => {
  await using t = await setup(useLocalTool("vault"));
  const posted = await postAndFollow(t.api, "What is in the vault?", {
    clientSideMCPServerIds: [t.local.serverId],
  });
  await using events = posted.events;
  const ask = await events.until("tool_approve_execution");
  const r = await t.api.validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "rejected",
  });
  assert.ok(r.isOk());
  const done = await events.until("agent_message_success");
  assert.equal(done.message.content, `Got: ${REJECTED_TEXT}`);
  assert.deepEqual(t.local.calls, []);
  assert.equal(done.message.actions[0].status, "denied");
  assert.equal(t.model.requests.length, 2);
  assert.equal(lastToolResult(t.model.requests[1]), REJECTED_TEXT);
});

Deno.test("[approval] always allow is remembered per user and tool: the next call asks no more, after a new registration too", async () => {
  await using t = await setup([
    { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "a" } }] },
    (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
    { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "b" } }] },
    (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
  ]);
  const first = await postAndFollow(t.api, "First", { clientSideMCPServerIds: [t.local.serverId] });
  {
    await using events = first.events;
    const ask = await events.until("tool_approve_execution");
    const r = await t.api.validateAction({
      conversationId: first.conversationId,
      messageId: first.agentMessageId,
      actionId: ask.actionId,
      approved: "always_approved",
    });
    assert.ok(r.isOk());
    await events.until("agent_message_success");
  }
  // The local server registers again (a new serverId, same name): still always allowed.
  await t.local.close();
  await using again = await startLocalMcpServer(t.server, t.alice, { secret: "43" });
  assert.notEqual(again.serverId, t.local.serverId);
  const second = await postAgainAndFollow(t.api, first.conversationId, "Second", [again.serverId]);
  await using events = second.events;
  const done = await events.until("agent_message_success");
  assert.equal(done.message.content, "Got: b: 43");
  assert.ok(!events.types().includes("tool_approve_execution"), events.types().join());
  assert.deepEqual(again.calls, [{ label: "b" }]);
});

Deno.test("[approval] a call nobody decides expires: the agent is told it timed out and the action is no longer blocked", async () => {
  await using t = await setup(useLocalTool("vault"), { "tool-approval-timeout-seconds": "1" });
  const posted = await postAndFollow(t.api, "What is in the vault?", {
    clientSideMCPServerIds: [t.local.serverId],
  });
  await using events = posted.events;
  const ask = await events.until("tool_approve_execution");
  const done = await events.until("agent_message_success", 20_000);
  assert.equal(done.message.content, `Got: ${EXPIRED_TEXT}`);
  assert.deepEqual(t.local.calls, []);
  const late = await t.api.validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(late.isErr());
  assert.equal(late.error.type, "action_not_blocked");
  const blocked = await t.api.getBlockedActions({ conversationId: posted.conversationId });
  assert.deepEqual(blocked.isOk() && blocked.value.blockedActions, []);
});

Deno.test("[approval] skipToolsValidation runs the tool without asking", async () => {
  await using t = await setup(useLocalTool("vault"));
  const posted = await postAndFollow(t.api, "What is in the vault?", {
    clientSideMCPServerIds: [t.local.serverId],
    skipToolsValidation: true,
  });
  await using events = posted.events;
  const done = await events.until("agent_message_success");
  assert.equal(done.message.content, "Got: vault: 42");
  assert.deepEqual(events.types(), [
    "tool_params",
    "agent_action_success",
    "agent_message_success",
  ]);
});

Deno.test("[approval] the SDK's high-level agents API approves through its own handler (autoApproveTools, toolApprovalRequired)", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "files_create", arguments: { path: "a.md", content: "a" } }] },
    (req: ChatRequest) => ({ content: `Saved: ${lastToolResult(req)}` }),
    { toolCalls: [{ name: "files_create", arguments: { path: "b.md", content: "b" } }] },
    (req: ChatRequest) => ({ content: `Refused: ${lastToolResult(req)}` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const auto = new DustAPI({
    baseUrl: server.url,
    apiKey: alice.token,
    workspaceId: alice.workspace.sId,
    autoApproveTools: true,
    logger: quietLogger,
  });
  const saved = await auto.agents.sendMessage({ agentId: "dust", message: "Save a.md" });
  assert.match(saved.text, /^Saved: .*a\.md/);

  const asking = new DustAPI({
    baseUrl: server.url,
    apiKey: alice.token,
    workspaceId: alice.workspace.sId,
    logger: quietLogger,
  });
  const stream = asking.agents.streamMessage({ agentId: "dust", message: "Save b.md" });
  const asked: string[] = [];
  stream.on("toolApprovalRequired", (approval) => {
    asked.push(approval.toolName);
    return false;
  });
  const refused = await stream.finalMessage();
  assert.deepEqual(asked, ["files_create"]);
  assert.equal(refused.text, `Refused: ${REJECTED_TEXT}`);
});
