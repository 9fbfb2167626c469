/**
 * Tool approval: who decides, bad input, and the blocked state's durability. Only the poster
 * validates (another member reading the conversation gets 403, a stranger 404, an API key 403
 * for a user's post); Dust's errors for unknown messages and actions, calls that never asked
 * and bad bodies; `answerUserQuestion`'s checks; a high-stake tool asks every time; a cancel
 * drops the waiting calls; and a message parked on an internal write tool (`files_create`)
 * survives a server restart, then runs once approved.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor, startLocalMcpServer } from "../helpers/local_mcp.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { postAgainAndFollow, postAndFollow } from "../helpers/approvals.ts";

const useLocalTool = [
  { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "vault" } }] },
  (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
];

Deno.test("[approval] only the poster decides: 403 for another member and an API key, 404 for a stranger; Dust's 400/404 for bad input", async () => {
  await using model = await startFakeModel(useLocalTool);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "admin",
    workspace: alice.workspace,
  });
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  await using local = await startLocalMcpServer(server, alice, { secret: "42" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const posted = await postAndFollow(api, "What is in the vault?", {
    clientSideMCPServerIds: [local.serverId],
  });
  await using events = posted.events;
  const ask = await events.until("tool_approve_execution");
  const wId = alice.workspace.sId;
  const base = `/api/v1/w/${wId}/assistant/conversations/${posted.conversationId}`;
  const validate = `${base}/messages/${posted.agentMessageId}/validate-action`;
  const body = { actionId: ask.actionId, approved: "approved" };

  // The conversation is private: another member does not see it at all.
  const hidden = await apiJson(server, bob.token, validate, { method: "POST", body });
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body.error.type, "conversation_not_found");
  const bobsList = await dustApiFor(server, bob.token, wId).getBlockedActions({
    conversationId: posted.conversationId,
  });
  assert.ok(bobsList.isErr());
  assert.equal(bobsList.error.type, "conversation_not_found");
  const foreign = await apiJson(server, eve.token, validate, { method: "POST", body });
  assert.equal(foreign.status, 401, "another workspace's user is not a member here");

  // Made visible to the workspace: Bob reads it and sees the waiting call, but cannot decide.
  await server.deps.db.run(
    "UPDATE conversations SET visibility = 'workspace' WHERE s_id = ?",
    posted.conversationId,
  );
  const seen = await dustApiFor(server, bob.token, wId).getBlockedActions({
    conversationId: posted.conversationId,
  });
  assert.equal(seen.isOk() && seen.value.blockedActions.length, 1);
  const refused = await dustApiFor(server, bob.token, wId).validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(refused.isErr());
  assert.equal(refused.error.type, "workspace_auth_error");
  const key = await createApiKey(server, alice.workspace);
  const byKey = await dustApiFor(server, key, wId).validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(byKey.isErr());
  assert.equal(byKey.error.type, "workspace_auth_error");

  // Bad input, Dust's errors.
  for (const bad of [{ actionId: ask.actionId, approved: "yes" }, { approved: "approved" }, []]) {
    const r = await apiJson(server, alice.token, validate, { method: "POST", body: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body.error.type, "invalid_request_error");
  }
  const unknownAction = await apiJson(server, alice.token, validate, {
    method: "POST",
    body: { actionId: "act_unknown0000", approved: "approved" },
  });
  assert.equal(unknownAction.status, 404);
  assert.equal(unknownAction.body.error.type, "action_not_found");
  const unknownMessage = await apiJson(
    server,
    alice.token,
    `${base}/messages/nope/validate-action`,
    {
      method: "POST",
      body,
    },
  );
  assert.equal(unknownMessage.status, 404);
  assert.equal(unknownMessage.body.error.type, "message_not_found");

  // answer-question: Dust's checks; no tool of this server asks questions.
  const answer = (who: string, actionId: string) =>
    dustApiFor(server, who, wId).answerUserQuestion({
      conversationId: posted.conversationId,
      messageId: posted.agentMessageId,
      actionId,
      answer: { selectedOptions: [0] },
    });
  const notQuestion = await answer(alice.token, ask.actionId);
  assert.ok(notQuestion.isErr());
  assert.equal(notQuestion.error.type, "action_not_blocked");
  const noAction = await answer(alice.token, "act_unknown0000");
  assert.ok(noAction.isErr());
  assert.equal(noAction.error.type, "action_not_found");
  const notPoster = await answer(bob.token, ask.actionId);
  assert.ok(notPoster.isErr());
  assert.equal(notPoster.error.type, "workspace_auth_error");
  const badAnswer = await apiJson(
    server,
    alice.token,
    `${base}/messages/${posted.agentMessageId}/answer-question`,
    {
      method: "POST",
      body: { actionId: ask.actionId, answer: { selectedOptions: "all" } },
    },
  );
  assert.equal(badAnswer.status, 400);

  // Still waiting after all of that; the poster decides.
  assert.deepEqual(local.calls, []);
  const ok = await api.validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(ok.isOk());
  await events.until("agent_message_success");
});

Deno.test("[approval] an API key's post is decided by the workspace's API keys", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "files_create", arguments: { path: "k.md", content: "k" } }] },
    (req: ChatRequest) => ({ content: `Done: ${lastToolResult(req)}` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const key = await createApiKey(server, alice.workspace);
  const api = dustApiFor(server, key, alice.workspace.sId);
  const posted = await postAndFollow(api, "Write k.md");
  await using events = posted.events;
  const ask = await events.until("tool_approve_execution");
  assert.equal(ask.metadata.toolName, "files_create");
  assert.equal(ask.userId, undefined, "no user posted");
  const other = await createApiKey(server, alice.workspace, "another key");
  const ok = await dustApiFor(server, other, alice.workspace.sId).validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(ok.isOk(), JSON.stringify(ok.isErr() && ok.error));
  const done = await events.until("agent_message_success");
  assert.match(done.message.content, /^Done: .*k\.md/);
});

Deno.test("[approval] a high-stake tool (destructiveHint) asks every time: always allow approves that call only", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "local_tools__wipe", arguments: { label: "a" } }] },
    (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
    { toolCalls: [{ name: "local_tools__wipe", arguments: { label: "b" } }] },
    (req: ChatRequest) => ({ content: `Got: ${lastToolResult(req)}` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "x", destructive: true });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const first = await postAndFollow(api, "Wipe a", { clientSideMCPServerIds: [local.serverId] });
  {
    await using events = first.events;
    const ask = await events.until("tool_approve_execution");
    assert.equal(ask.stake, "high");
    const r = await api.validateAction({
      conversationId: first.conversationId,
      messageId: first.agentMessageId,
      actionId: ask.actionId,
      approved: "always_approved",
    });
    assert.ok(r.isOk());
    await events.until("agent_message_success");
  }
  const second = await postAgainAndFollow(api, first.conversationId, "Wipe b", [local.serverId]);
  await using events = second.events;
  const ask = await events.until("tool_approve_execution");
  assert.equal(ask.inputs.label, "b");
  assert.deepEqual(local.calls, [{ label: "wiped a" }]);
});

Deno.test("[approval] cancelling a waiting message drops its waiting calls", async () => {
  await using model = await startFakeModel(useLocalTool);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "42" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const posted = await postAndFollow(api, "Vault?", { clientSideMCPServerIds: [local.serverId] });
  await using events = posted.events;
  const ask = await events.until("tool_approve_execution");
  const cancelled = await api.cancelMessageGeneration({
    conversationId: posted.conversationId,
    messageIds: [posted.agentMessageId],
  });
  assert.ok(cancelled.isOk());
  await events.until("agent_generation_cancelled");
  const blocked = await api.getBlockedActions({ conversationId: posted.conversationId });
  assert.deepEqual(blocked.isOk() && blocked.value.blockedActions, []);
  const late = await api.validateAction({
    conversationId: posted.conversationId,
    messageId: posted.agentMessageId,
    actionId: ask.actionId,
    approved: "approved",
  });
  assert.ok(late.isErr());
  assert.equal(late.error.type, "action_not_blocked");
  assert.deepEqual(local.calls, []);
  const row = await server.deps.db.get("SELECT COUNT(*) AS n FROM agent_run_checkpoints") as {
    n: number;
  };
  assert.equal(row.n, 0);
});

Deno.test("[approval] a waiting message survives a restart: listed after it, and runs once approved", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "files_create", arguments: { path: "plan.md", content: "ship it" } }] },
    (req: ChatRequest) => ({ content: `Saved: ${lastToolResult(req)}` }),
  ]);
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-approval-" });
  try {
    let conversationId = "";
    let messageId = "";
    let actionId = "";
    let who: Awaited<ReturnType<typeof createUserWithToken>>;
    {
      await using first = await startTestServer({ flags: model.flags, dataDir });
      who = await createUserWithToken(first, { email: "alice@example.com", role: "user" });
      const posted = await postAndFollow(
        dustApiFor(first, who.token, who.workspace.sId),
        "Save the plan",
      );
      await using events = posted.events;
      actionId = (await events.until("tool_approve_execution")).actionId;
      conversationId = posted.conversationId;
      messageId = posted.agentMessageId;
    }
    await using second = await startTestServer({ flags: model.flags, dataDir });
    const api = dustApiFor(second, who.token, who.workspace.sId);
    const blocked = await api.getBlockedActions({ conversationId });
    assert.ok(blocked.isOk(), JSON.stringify(blocked.isErr() && blocked.error));
    assert.deepEqual(blocked.value.blockedActions.map((b) => b.actionId), [actionId]);
    const ok = await api.validateAction({
      conversationId,
      messageId,
      actionId,
      approved: "approved",
    });
    assert.ok(ok.isOk(), JSON.stringify(ok.isErr() && ok.error));
    let status = "created";
    let content = "";
    for (let i = 0; i < 400 && status === "created"; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const conv = await api.getConversation({ conversationId });
      const m = conv.isOk() ? conv.value.content.flat().find((x) => x.sId === messageId) : null;
      if (m?.type === "agent_message") {
        status = m.status;
        content = m.content ?? "";
      }
    }
    assert.equal(status, "succeeded");
    assert.match(content, /^Saved: .*plan\.md/);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
