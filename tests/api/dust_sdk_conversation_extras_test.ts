/**
 * `@dust-tt/client` 1.2.8 against the rest of Dust's conversation routes: mentions
 * (`parseForMentions`, `getMentionsSuggestions`), conversation tools (`postConversationTools`),
 * feedback (`postFeedback`, `getConversationFeedback`, `deleteFeedback`) and `retryMessage`,
 * each with a user token and an API key where it applies, and their refusals and bad input.
 * The SDK validates each answer with its own zod schemas: `isOk()` proves the shape.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor } from "../helpers/local_mcp.ts";
import { globalSpaceSId } from "../helpers/knowledge.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { postAndFollow } from "../helpers/approvals.ts";

async function setup(flags: Record<string, string> = {}) {
  const server = await startTestServer({ flags });
  const alice = await createUserWithToken(server, {
    email: "alice@example.com",
    role: "admin",
    name: "Alice Martin",
  });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    name: "Bob Stone",
    workspace: alice.workspace,
  });
  const key = await createApiKey(server, alice.workspace);
  const sdk = (token: string) => dustApiFor(server, token, alice.workspace.sId);
  return { server, alice, bob, key, sdk };
}

/** A conversation with one user message mentioning Dust (its agent message fails at once: no model). */
async function conversationWithAnswer(server: TestServer, token: string, wId: string) {
  const created = await dustApiFor(server, token, wId).createConversation({
    title: "Feedback",
    visibility: "unlisted",
    message: {
      content: "Hello",
      mentions: [{ configurationId: "dust" }],
      context: { username: "alice", timezone: "UTC" },
    },
    blocking: true,
  });
  if (created.isErr()) throw new Error(JSON.stringify(created.error));
  const c = created.value.conversation;
  const agent = c.content.flat().find((m) => m.type === "agent_message")!;
  const user = c.content.flat().find((m) => m.type === "user_message")!;
  return { conversationId: c.sId, agentMessageId: agent.sId, userMessageId: user.sId };
}

Deno.test("[sdk] parseForMentions and getMentionsSuggestions: serialised agent mentions, agents and members by name, with a user token and an API key", async () => {
  const { server, alice, bob, key, sdk } = await setup();
  await using _ = server;
  for (const token of [alice.token, key]) {
    const parsed = await sdk(token).parseForMentions({
      markdown: "Hi @dust, ask @Dust. Not me@dust nor @dusty",
    });
    assert.ok(parsed.isOk(), JSON.stringify(parsed.isErr() && parsed.error));
    assert.equal(
      parsed.value,
      "Hi :mention[Dust]{sId=dust}, ask :mention[Dust]{sId=dust}. Not me@dust nor @dusty",
    );
  }
  const agents = await sdk(alice.token).getMentionsSuggestions({ query: "du", select: "agents" });
  assert.ok(agents.isOk(), JSON.stringify(agents.isErr() && agents.error));
  assert.deepEqual(agents.value.map((s) => [s.type, s.id, s.label]), [["agent", "dust", "Dust"]]);
  const people = await sdk(alice.token).getMentionsSuggestions({ query: "bo", select: ["users"] });
  assert.ok(people.isOk());
  assert.deepEqual(people.value.map((s) => [s.type, s.id, s.label, s.description]), [
    ["user", bob.user.sId, "Bob Stone", "bob@example.com"],
  ]);
  const me = await sdk(alice.token).getMentionsSuggestions({ query: "ali" });
  assert.deepEqual(me.isOk() && me.value, [], "the caller is left out by default");
  const meToo = await sdk(alice.token).getMentionsSuggestions({ query: "ali", current: true });
  assert.deepEqual(meToo.isOk() && meToo.value.map((s) => s.id), [alice.user.sId]);
  const byKey = await sdk(key).getMentionsSuggestions({ query: "b" });
  assert.ok(byKey.isOk());
  assert.ok(byKey.value.some((s) => s.id === bob.user.sId));

  const { conversationId } = await conversationWithAnswer(server, alice.token, alice.workspace.sId);
  const inConversation = await sdk(alice.token).getMentionsSuggestions({
    query: "",
    select: "users",
    conversationId,
    current: true,
  });
  assert.ok(inConversation.isOk());
  assert.equal(inConversation.value[0].id, alice.user.sId, "participants first");
  const hidden = await sdk(bob.token).getMentionsSuggestions({ query: "", conversationId });
  assert.ok(hidden.isErr());
  assert.equal(hidden.error.type, "conversation_not_found");
  const wId = alice.workspace.sId;
  const badSelect = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${wId}/assistant/mentions/suggestions?query=a&select=robots`,
  );
  assert.equal(badSelect.status, 400);
  const noMarkdown = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${wId}/assistant/mentions/parse`,
    {
      method: "POST",
      body: { markdown: 42 },
    },
  );
  assert.equal(noMarkdown.status, 400);
  assert.equal(noMarkdown.body.error.type, "invalid_request_error");
});

Deno.test("[sdk] postConversationTools adds and removes an MCP server view for a conversation; unknown views, strangers and bad bodies are refused", async () => {
  const { server, alice, bob, key, sdk } = await setup();
  await using _ = server;
  const gs = await globalSpaceSId(server, alice.workspace);
  const views = await sdk(alice.token).getMCPServerViews(gs, true);
  assert.ok(views.isOk());
  const search = views.value.find((v) => v.server.name === "search")!;
  const { conversationId } = await conversationWithAnswer(server, alice.token, alice.workspace.sId);
  for (const action of ["add", "add", "delete", "delete"] as const) {
    const r = await sdk(alice.token).postConversationTools({
      conversationId,
      action,
      mcpServerViewId: search.sId,
      agentConfigurationId: "dust",
    });
    assert.ok(r.isOk(), JSON.stringify(r.isErr() && r.error));
    assert.equal(r.value.success, true);
  }
  const keys = await conversationWithAnswer(server, key, alice.workspace.sId);
  const byKey = await sdk(key).postConversationTools({
    conversationId: keys.conversationId,
    action: "add",
    mcpServerViewId: search.sId,
  });
  assert.ok(byKey.isOk(), JSON.stringify(byKey.isErr() && byKey.error));
  const rows = await server.deps.db.get(
    "SELECT COUNT(*) AS n FROM conversation_mcp_server_views",
  ) as { n: number };
  assert.equal(rows.n, 1);

  const unknown = await sdk(alice.token).postConversationTools({
    conversationId,
    action: "add",
    mcpServerViewId: "msv_unknown",
  });
  assert.ok(unknown.isErr());
  assert.equal(unknown.error.type, "mcp_server_view_not_found");
  const stranger = await sdk(bob.token).postConversationTools({
    conversationId,
    action: "add",
    mcpServerViewId: search.sId,
  });
  assert.ok(stranger.isErr());
  assert.equal(stranger.error.type, "conversation_not_found");
  const noAgent = await sdk(alice.token).postConversationTools({
    conversationId,
    action: "add",
    mcpServerViewId: search.sId,
    agentConfigurationId: "nobody",
  });
  assert.ok(noAgent.isErr());
  assert.equal(noAgent.error.type, "agent_configuration_not_found");
  const bad = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/assistant/conversations/${conversationId}/tools`,
    { method: "POST", body: { action: "toggle", mcp_server_view_id: search.sId } },
  );
  assert.equal(bad.status, 400);
});

Deno.test("[sdk] postFeedback, getConversationFeedback, deleteFeedback: one thumb per user and agent message; API keys get 401", async () => {
  const { server, alice, bob, key, sdk } = await setup();
  await using _ = server;
  const { conversationId, agentMessageId, userMessageId } = await conversationWithAnswer(
    server,
    alice.token,
    alice.workspace.sId,
  );
  const api = sdk(alice.token);
  const up = await api.postFeedback(conversationId, agentMessageId, { thumbDirection: "up" });
  assert.ok(up.isOk(), JSON.stringify(up.isErr() && up.error));
  const down = await api.postFeedback(conversationId, agentMessageId, {
    thumbDirection: "down",
    feedbackContent: "Too short",
    isConversationShared: true,
  });
  assert.ok(down.isOk());
  const list = await api.getConversationFeedback({ conversationId });
  assert.ok(list.isOk(), JSON.stringify(list.isErr() && list.error));
  assert.equal(list.value.length, 1, "one feedback per user and message: replaced");
  assert.equal(list.value[0].messageId, agentMessageId);
  assert.equal(list.value[0].thumbDirection, "down");
  assert.equal(list.value[0].content, "Too short");
  assert.equal(list.value[0].isConversationShared, true);
  assert.equal(list.value[0].agentConfigurationId, "dust");
  assert.equal(list.value[0].userId, alice.user.id);

  const onUserMessage = await api.postFeedback(conversationId, userMessageId, {
    thumbDirection: "up",
  });
  assert.ok(onUserMessage.isErr());
  assert.equal(onUserMessage.error.type, "invalid_request_error");
  const badThumb = await api.postFeedback(conversationId, agentMessageId, {
    thumbDirection: "sideways",
  });
  assert.ok(badThumb.isErr());
  assert.equal(badThumb.error.type, "invalid_request_error");
  const stranger = await sdk(bob.token).postFeedback(conversationId, agentMessageId, {
    thumbDirection: "up",
  });
  assert.ok(stranger.isErr());
  assert.equal(stranger.error.type, "conversation_not_found");
  for (
    const r of [
      await sdk(key).postFeedback(conversationId, agentMessageId, { thumbDirection: "up" }),
      await sdk(key).getConversationFeedback({ conversationId }),
      await sdk(key).deleteFeedback(conversationId, agentMessageId),
    ]
  ) {
    assert.ok(r.isErr());
    assert.equal(r.error.type, "not_authenticated");
  }

  const deleted = await api.deleteFeedback(conversationId, agentMessageId);
  assert.ok(deleted.isOk(), JSON.stringify(deleted.isErr() && deleted.error));
  const again = await api.deleteFeedback(conversationId, agentMessageId);
  assert.ok(again.isErr());
  assert.equal(again.error.type, "invalid_request_error");
  const empty = await api.getConversationFeedback({ conversationId });
  assert.deepEqual(empty.isOk() && empty.value, []);
});

Deno.test("[sdk] retryMessage answers a finished agent message again as a new version; blocked_only republishes waiting approvals", async () => {
  await using model = await startFakeModel([
    { content: "first answer" },
    { content: "second answer" },
    { toolCalls: [{ name: "files_create", arguments: { path: "x.md", content: "x" } }] },
    (req: ChatRequest) => ({ content: `Saved ${lastToolResult(req)}` }),
  ]);
  const { server, alice, bob, key, sdk } = await setup(model.flags);
  await using _ = server;
  const api = sdk(alice.token);
  const first = await postAndFollow(api, "Answer me");
  {
    await using events = first.events;
    await events.until("agent_message_success");
  }
  const retried = await api.retryMessage({
    conversationId: first.conversationId,
    messageId: first.agentMessageId,
  });
  assert.ok(retried.isOk(), JSON.stringify(retried.isErr() && retried.error));
  assert.notEqual(retried.value.sId, first.agentMessageId);
  assert.equal(retried.value.version, 1);
  assert.equal(retried.value.parentMessageId, first.userMessageId);
  let content: string | null = null;
  for (let i = 0; i < 400 && content !== "second answer"; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const conv = await api.getConversation({ conversationId: first.conversationId });
    const versions = conv.isOk()
      ? conv.value.content.find((v) => v[0].type === "agent_message")
      : [];
    const last = versions?.[versions.length - 1];
    content = last?.type === "agent_message" ? last.content : null;
  }
  assert.equal(content, "second answer");
  const old = await api.retryMessage({
    conversationId: first.conversationId,
    messageId: first.agentMessageId,
  });
  assert.ok(old.isErr(), "only the latest version");
  assert.equal(old.error.type, "invalid_request_error");
  const notAgent = await api.retryMessage({
    conversationId: first.conversationId,
    messageId: first.userMessageId,
  });
  assert.ok(notAgent.isErr());
  assert.equal(notAgent.error.type, "invalid_request_error");
  const unknown = await api.retryMessage({
    conversationId: first.conversationId,
    messageId: "nope",
  });
  assert.ok(unknown.isErr());
  assert.equal(unknown.error.type, "message_not_found");
  await server.deps.db.run(
    "UPDATE conversations SET visibility = 'workspace' WHERE s_id = ?",
    first.conversationId,
  );
  const notPoster = await sdk(bob.token).retryMessage({
    conversationId: first.conversationId,
    messageId: retried.value.sId,
  });
  assert.ok(notPoster.isErr());
  assert.equal(notPoster.error.type, "workspace_auth_error");
  const notBlocked = await api.retryMessage({
    conversationId: first.conversationId,
    messageId: retried.value.sId,
    blockedOnly: true,
  });
  assert.ok(notBlocked.isErr());
  assert.equal(notBlocked.error.type, "invalid_request_error");

  // An API key's post parked on files_create: blocked_only publishes the request again.
  const parked = await postAndFollow(sdk(key), "Save x");
  await using events = parked.events;
  const ask = await events.until("tool_approve_execution");
  const running = await sdk(key).retryMessage({
    conversationId: parked.conversationId,
    messageId: parked.agentMessageId,
  });
  assert.ok(running.isErr(), "a waiting message is not retried");
  const again = await sdk(key).retryMessage({
    conversationId: parked.conversationId,
    messageId: parked.agentMessageId,
    blockedOnly: true,
  });
  assert.ok(again.isOk(), JSON.stringify(again.isErr() && again.error));
  assert.equal(again.value.status, "created");
  const repeated = await events.until("tool_approve_execution");
  assert.equal(repeated.actionId, ask.actionId);
});
