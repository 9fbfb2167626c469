import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { createPodFixture, holdAgentRuns, userActor } from "../helpers/conversations.ts";
import {
  createConversation,
  getConversation,
  listConversations,
  markConversationRead,
  postConversation,
} from "../../src/core/conversations.ts";
import { defaultMessageContext } from "../../src/core/message_context.ts";
import { createConversationMessage } from "../../src/core/messages.ts";
import { getConversationMessages } from "../../src/core/conversation_text.ts";
import {
  cancelMessageGeneration,
  createAgentAction,
  getConversationForAgent,
  updateAgentAction,
  updateAgentMessage,
} from "../../src/core/agent_messages.ts";
import { AppError } from "../../src/errors.ts";
import type { ApiKeyActor } from "../../src/auth/actor.ts";
import { toWorkspaceRef } from "../../src/core/workspaces.ts";

async function setup() {
  const server = await startTestServer();
  holdAgentRuns(server);
  const alice = await createUserWithToken(server, {
    email: "alice@example.com",
    role: "admin",
    name: "Alice Martin",
  });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  return { server, deps: server.deps, alice, bob, a: userActor(alice), b: userActor(bob) };
}

async function rejectsWith(
  fn: () => Promise<unknown>,
  status: number,
  message: string | RegExp,
): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.status, status);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

async function rejectsAsync(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.message, message);
    return true;
  });
}

Deno.test("[conversations core] create_conversation mentions Dust by default and returns Dust's fields", async () => {
  const { server, deps, alice, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "Plan", message: "Hello" });
  assert.deepEqual(Object.keys(r).sort(), [
    "agentMessageIds",
    "conversationId",
    "conversationUrl",
    "podId",
    "podName",
    "title",
    "userMessageId",
  ]);
  assert.equal(r.title, "Plan");
  assert.equal(r.podId, null);
  assert.equal(r.agentMessageIds.length, 1);
  assert.ok(r.conversationUrl.includes(`/w/${alice.workspace.sId}/`));
  const conv = await getConversation(deps, a, { conversationId: r.conversationId });
  assert.equal(conv.content[1][0].configuration.sId, "dust");
  assert.equal(conv.content[0][0].context.username, alice.user.username);
  assert.equal(conv.content[0][0].context.origin, "api");
});

Deno.test("[conversations core] create_conversation with agentName null posts without an agent", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "t", message: "note", agentName: null });
  assert.equal(r.agentMessageIds.length, 0);
  assert.equal(typeof r.userMessageId, "string");
});

Deno.test("[conversations core] create_conversation with an unknown agent name fails and creates nothing", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  await rejectsAsync(
    createConversation(deps, a, { title: "t", message: "x", agentName: "Nope" }),
    'No agent found matching name: "Nope"',
  );
  const n = await deps.db.get("SELECT COUNT(*) AS n FROM conversations") as { n: number };
  assert.equal(n.n, 0);
});

Deno.test("[conversations core] create_conversation in a Pod the user is not in says Pod not found", async () => {
  const { server, deps, alice, b } = await setup();
  await using _ = server;
  const pod = await createPodFixture(server, alice.workspace.id, "Pod", [alice]);
  await rejectsAsync(
    createConversation(deps, b, { title: "t", podId: pod }),
    "Pod not found or you do not have access.",
  );
});

Deno.test("[conversations core] create_conversation in a Pod names the Pod", async () => {
  const { server, deps, alice, a } = await setup();
  await using _ = server;
  const pod = await createPodFixture(server, alice.workspace.id, "Launch", [alice]);
  const r = await createConversation(deps, a, { title: "t", podId: pod });
  assert.equal(r.podId, pod);
  assert.equal(r.podName, "Launch");
  assert.equal(r.userMessageId, null);
});

Deno.test("[conversations core] list_conversations pages 25 at a time by updatedAt with no gap or repeat", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  for (let i = 0; i < 30; i++) await createConversation(deps, a, { title: `c${i}` });
  const p1 = await listConversations(deps, a, {});
  assert.equal(p1.conversations.length, 25);
  assert.equal(p1.hasMore, true);
  assert.equal(p1.lastValue, String(p1.conversations[24].updated));
  assert.equal(p1.conversations[0].title, "c29");
  const p2 = await listConversations(deps, a, { lastValue: p1.lastValue! });
  assert.equal(p2.conversations.length, 5);
  assert.equal(p2.hasMore, false);
  assert.equal(p2.lastValue, null);
  const all = [...p1.conversations, ...p2.conversations].map((c) => c.title);
  assert.equal(new Set(all).size, 30);
  const asc = await listConversations(deps, a, { orderDirection: "asc" });
  assert.equal(asc.conversations[0].title, "c0");
});

Deno.test("[conversations core] list_conversations without podId leaves out Pod and other users' conversations", async () => {
  const { server, deps, alice, a, b } = await setup();
  await using _ = server;
  const pod = await createPodFixture(server, alice.workspace.id, "Pod", [alice]);
  await createConversation(deps, a, { title: "mine" });
  await createConversation(deps, a, { title: "in pod", podId: pod });
  await createConversation(deps, b, { title: "bob's" });
  assert.deepEqual((await listConversations(deps, a, {})).conversations.map((c) => c.title), [
    "mine",
  ]);
  const inPod = await listConversations(deps, a, { podId: pod });
  assert.deepEqual(inPod.conversations.map((c) => c.title), ["in pod"]);
  assert.equal(inPod.conversations[0].spaceId, pod);
});

Deno.test("[conversations core] list_conversations of an unreadable Pod says Pod not found", async () => {
  const { server, deps, alice, b } = await setup();
  await using _ = server;
  const pod = await createPodFixture(server, alice.workspace.id, "Pod", [alice]);
  await rejectsWith(
    async () => await listConversations(deps, b, { podId: pod }),
    404,
    "Pod not found or you do not have access.",
  );
  await rejectsWith(
    async () => await listConversations(deps, b, { podId: "vlt_nope" }),
    404,
    "Pod not found or you do not have access.",
  );
});

Deno.test("[conversations core] list_conversations refuses API keys (user_not_found) and bad cursors", async () => {
  const { server, deps, alice, a } = await setup();
  await using _ = server;
  await createApiKey(server, alice.workspace);
  const key: ApiKeyActor = {
    kind: "api_key",
    workspace: toWorkspaceRef(alice.workspace),
    credential: { kind: "api_key", id: "key_test" },
  };
  await rejectsWith(async () => await listConversations(deps, key, {}), 401, /user token/);
  await rejectsWith(
    async () => await listConversations(deps, a, { lastValue: "yesterday" }),
    400,
    /lastValue/,
  );
});

Deno.test("[conversations core] get_conversation_messages renders Dust's text transcript", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "Render", message: "What is up?" });
  await updateAgentMessage(deps, {
    messageId: r.agentMessageIds[0],
    status: "succeeded",
    content: "All good.",
  });
  await markConversationRead(deps, a, { conversationId: r.conversationId, read: true });
  const conv = await getConversation(deps, a, { conversationId: r.conversationId });
  const [[um], [am]] = conv.content;
  const out = await getConversationMessages(deps, a, { conversationId: r.conversationId });
  assert.equal(out.conversationId, r.conversationId);
  assert.equal(out.title, "Render");
  assert.equal(out.hasMore, false);
  assert.equal(out.lastValue, null);
  assert.equal(
    out.messages,
    `>> User (Alice Martin, alice@example.com) [${
      new Date(um.created).toISOString()
    }]:\nWhat is up?\n` +
      `\n>> Agent (Dust) [${new Date(am.created).toISOString()}]:\nAll good.\n`,
  );
});

Deno.test("[conversations core] get_conversation_messages shows a failed, cancelled or running agent message with its state", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const failed = await createConversation(deps, a, { title: "F", message: "Hi?" });
  await updateAgentMessage(deps, {
    messageId: failed.agentMessageIds[0],
    status: "failed",
    error: { code: "model_error", message: "The model provider answered 500." },
  });
  const out = await getConversationMessages(deps, a, { conversationId: failed.conversationId });
  assert.match(
    out.messages,
    /\n>> Agent \(Dust\) \[[^\]]+\]:\n\[Agent message failed \(model_error\): The model provider answered 500\.\]\n$/,
  );
  const partial = await createConversation(deps, a, { title: "C", message: "Hi?" });
  await updateAgentMessage(deps, { messageId: partial.agentMessageIds[0], content: "Half an" });
  const running = await getConversationMessages(deps, a, {
    conversationId: partial.conversationId,
  });
  assert.match(running.messages, /\nHalf an\n\[Agent message in progress\]\n$/);
  await updateAgentMessage(deps, { messageId: partial.agentMessageIds[0], status: "cancelled" });
  const cancelled = await getConversationMessages(deps, a, {
    conversationId: partial.conversationId,
  });
  assert.match(cancelled.messages, /\nHalf an\n\[Agent message cancelled\]\n$/);
});

Deno.test("[conversations core] get_conversation_messages marks messages newer than the last read as unread", async () => {
  const { server, deps, a, b } = await setup();
  await using _ = server;
  const r = await postConversation(deps, a, {
    title: "u",
    visibility: "workspace",
    post: {
      content: "first",
      mentions: [],
      context: defaultMessageContext(a),
      contentFragments: [],
    },
  });
  const cId = r.conversation.sId;
  await markConversationRead(deps, a, { conversationId: cId, read: true });
  assert.ok(
    !(await getConversationMessages(deps, a, { conversationId: cId })).messages.includes(
      "(unread)",
    ),
  );
  assert.ok(
    (await getConversationMessages(deps, b, { conversationId: cId })).messages.includes(
      "] (unread):\nfirst",
    ),
  );
  await new Promise((res) => setTimeout(res, 5));
  await createConversationMessage(deps, b, {
    conversationId: cId,
    message: "reply",
    agentName: null,
  });
  const forAlice = (await getConversationMessages(deps, a, { conversationId: cId })).messages;
  assert.ok(forAlice.includes("]:\nfirst"));
  assert.ok(forAlice.includes("] (unread):\nreply"));
});

Deno.test("[conversations core] get_conversation_messages pages by rank, most recent first", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "p", message: "m0", agentName: null });
  for (let i = 1; i < 30; i++) {
    await createConversationMessage(deps, a, {
      conversationId: r.conversationId,
      message: `m${i}`,
      agentName: null,
    });
  }
  const p1 = await getConversationMessages(deps, a, { conversationId: r.conversationId });
  assert.equal(p1.hasMore, true);
  assert.equal(p1.lastValue, 5);
  assert.ok(p1.messages.startsWith(">> User"));
  assert.ok(p1.messages.includes("\nm5\n") && p1.messages.includes("\nm29\n"));
  assert.ok(!p1.messages.includes("\nm4\n"));
  assert.ok(p1.messages.indexOf("\nm5\n") < p1.messages.indexOf("\nm29\n"));
  const p2 = await getConversationMessages(deps, a, {
    conversationId: r.conversationId,
    lastValue: 5,
  });
  assert.equal(p2.hasMore, false);
  assert.equal(p2.lastValue, null);
  assert.equal(p2.messages.split(">> User").length - 1, 5);
});

Deno.test("[conversations core] create_conversation_message answers Conversation not found for a foreign id", async () => {
  const { server, deps, a, b } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "private" });
  await rejectsAsync(
    createConversationMessage(deps, b, { conversationId: r.conversationId, message: "hi" }),
    "Conversation not found.",
  );
  const ok = await createConversationMessage(deps, a, {
    conversationId: r.conversationId,
    message: "hi",
  });
  assert.equal(ok.conversationId, r.conversationId);
  assert.equal(ok.agentMessageIds.length, 1);
});

Deno.test("[conversations core] mark_conversation_read returns Dust's shape and flips unread", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "m", message: "x", agentName: null });
  assert.deepEqual(
    await markConversationRead(deps, a, { conversationId: r.conversationId, read: false }),
    {
      success: true,
      conversationId: r.conversationId,
      read: false,
    },
  );
  assert.equal((await listConversations(deps, a, {})).conversations[0].unread, true);
  await markConversationRead(deps, a, { conversationId: r.conversationId, read: true });
  assert.equal((await listConversations(deps, a, {})).conversations[0].unread, false);
});

Deno.test("[conversations core] a cancelled agent message refuses the runner's later updates", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "c", message: "x" });
  const [mId] = r.agentMessageIds;
  await cancelMessageGeneration(deps, a, { conversationId: r.conversationId, messageIds: [mId] });
  assert.equal(
    await updateAgentMessage(deps, { messageId: mId, status: "succeeded", content: "late" }),
    null,
  );
  const conv = await getConversation(deps, a, { conversationId: r.conversationId });
  assert.equal(conv.content[1][0].status, "cancelled");
  assert.equal(conv.content[1][0].content, null);
});

Deno.test("[conversations core] getConversationForAgent returns history, the user message and its context", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "h", message: "first", agentName: null });
  const second = await createConversationMessage(deps, a, {
    conversationId: r.conversationId,
    message: "second",
  });
  const ctx = await getConversationForAgent(deps, { messageId: second.agentMessageIds[0] });
  assert.equal(ctx.conversation.sId, r.conversationId);
  assert.deepEqual(ctx.history.map((m) => m.json.content), ["first", "second"]);
  assert.equal(ctx.userMessage?.sId, second.userMessageId);
  assert.deepEqual(ctx.userMessage?.json.context.clientSideMCPServerIds, []);
  assert.equal(ctx.agentMessage.agentStatus, "created");
});

Deno.test("[conversations core] agent actions appear on the agent message in Dust's shape", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  const r = await createConversation(deps, a, { title: "a", message: "search" });
  const [mId] = r.agentMessageIds;
  const action = await createAgentAction(deps, {
    messageId: mId,
    step: 0,
    functionCallName: "search__semantic_search",
    functionCallId: "call_1",
    params: { query: "x" },
  });
  assert.equal(action.status, "running");
  assert.equal(action.toolName, "semantic_search");
  await updateAgentAction(deps, {
    actionId: action.sId as string,
    status: "succeeded",
    output: [{ type: "text", text: "found" }],
  });
  const conv = await getConversation(deps, a, { conversationId: r.conversationId });
  const [act] = conv.content[1][0].actions;
  assert.equal(act.status, "succeeded");
  assert.deepEqual(act.output, [{ type: "text", text: "found" }]);
  assert.equal(act.functionCallId, "call_1");
});

Deno.test("[conversations core] a title over 1024 characters is refused naming title", async () => {
  const { server, deps, a } = await setup();
  await using _ = server;
  await assert.rejects(
    createConversation(deps, a, { title: "t".repeat(1025) }),
    (e: unknown) => e instanceof AppError && e.status === 400 && /^title:/.test(e.message),
  );
});
