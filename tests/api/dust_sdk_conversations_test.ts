/**
 * Dust's own SDK (`@dust-tt/client` 1.2.8) against the conversation routes: every call must
 * come back `Ok` (the SDK validates responses with its zod schemas) with the expected values.
 */
import assert from "node:assert/strict";
import { DustAPI } from "@dust-tt/client";
import { startTestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { holdAgentRuns } from "../helpers/conversations.ts";
import {
  type AgentMessageCreated,
  appendMessageEvent,
  updateAgentMessage,
} from "../../src/core/agent_messages.ts";
import type { Deps } from "../../src/deps.ts";

const quiet = { error() {}, info() {}, trace() {}, warn() {} };

const context = {
  username: "alice",
  timezone: "Europe/Paris",
  fullName: "Alice",
  origin: "api" as const,
};

/** A stand-in agent runner: streams two tokens, then succeeds (the agents area runs real ones). */
function fakeRunner(deps: Deps): (m: AgentMessageCreated) => void {
  return (m) => {
    setTimeout(async () => {
      const base = { configurationId: m.agentSId, messageId: m.messageSId };
      await appendMessageEvent(deps, m.messageSId, {
        type: "generation_tokens",
        ...base,
        text: "Hel",
        classification: "tokens",
      });
      await appendMessageEvent(deps, m.messageSId, {
        type: "generation_tokens",
        ...base,
        text: "lo",
        classification: "tokens",
      });
      const message = await updateAgentMessage(deps, {
        messageId: m.messageSId,
        status: "succeeded",
        content: "Hello",
      });
      await appendMessageEvent(deps, m.messageSId, {
        type: "agent_message_success",
        ...base,
        message,
        runIds: [],
      });
    }, 30);
  };
}

/** A server whose agent messages go to the stand-in runner (or stay `created`). */
async function setup(withRunner = false) {
  const server = await startTestServer();
  holdAgentRuns(server, withRunner ? fakeRunner(server.deps) : undefined);
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const api = new DustAPI({ url: server.url }, {
    apiKey: alice.token,
    workspaceId: alice.workspace.sId,
  }, quiet);
  return { server, alice, api };
}

Deno.test("[sdk conversations] createConversation, getConversation, getConversations and markAsRead parse", async () => {
  const { server, api } = await setup();
  await using _ = server;
  const created = await api.createConversation({
    title: "SDK",
    visibility: "unlisted",
    message: { content: "Hi", mentions: [{ configurationId: "dust" }], context },
    contentFragment: undefined,
  });
  assert.ok(created.isOk(), JSON.stringify(created.isErr() && created.error));
  const { conversation, message } = created.value;
  assert.equal(conversation.title, "SDK");
  assert.equal(message?.content, "Hi");
  const got = await api.getConversation({ conversationId: conversation.sId });
  assert.ok(got.isOk(), JSON.stringify(got.isErr() && got.error));
  assert.equal(got.value.content.length, 2);
  const agent = got.value.content[1][0];
  assert.equal(agent.type, "agent_message");
  const list = await api.getConversations();
  assert.ok(list.isOk(), JSON.stringify(list.isErr() && list.error));
  assert.deepEqual(list.value.map((c) => c.sId), [conversation.sId]);
  const read = await api.markAsRead({ conversationId: conversation.sId });
  assert.ok(read.isOk());
  assert.equal(read.value, true);
});

Deno.test("[sdk conversations] postUserMessage and postContentFragment parse", async () => {
  const { server, api } = await setup();
  await using _ = server;
  const created = await api.createConversation({
    title: "SDK",
    visibility: "unlisted",
    message: undefined,
    contentFragment: { title: "a.txt", content: "abc", contentType: "text/plain", url: null },
  });
  assert.ok(created.isOk(), JSON.stringify(created.isErr() && created.error));
  const cId = created.value.conversation.sId;
  const posted = await api.postUserMessage({
    conversationId: cId,
    message: { content: "More", mentions: [], context },
  });
  assert.ok(posted.isOk(), JSON.stringify(posted.isErr() && posted.error));
  assert.equal(posted.value.content, "More");
  const cf = await api.postContentFragment({
    conversationId: cId,
    contentFragment: { title: "b.md", content: "# b", contentType: "text/markdown", url: null },
  });
  assert.ok(cf.isOk(), JSON.stringify(cf.isErr() && cf.error));
  const got = await api.getConversation({ conversationId: cId });
  assert.ok(got.isOk(), JSON.stringify(got.isErr() && got.error));
  assert.deepEqual(got.value.content.map((v) => v[0].type), [
    "content_fragment",
    "user_message",
    "content_fragment",
  ]);
});

Deno.test("[sdk conversations] cancelMessageGeneration parses", async () => {
  const { server, api } = await setup();
  await using _ = server;
  const created = await api.createConversation({
    title: "SDK",
    visibility: "unlisted",
    message: { content: "Hi", mentions: [{ configurationId: "dust" }], context },
    contentFragment: undefined,
  });
  assert.ok(created.isOk());
  const agent = created.value.conversation.content[1][0];
  const r = await api.cancelMessageGeneration({
    conversationId: created.value.conversation.sId,
    messageIds: [agent.sId],
  });
  assert.ok(r.isOk(), JSON.stringify(r.isErr() && r.error));
});

Deno.test("[sdk conversations] streamAgentAnswerEvents yields tokens and ends on agent_message_success", async () => {
  const { server, api } = await setup(true);
  await using _ = server;
  const created = await api.createConversation({
    title: "stream",
    visibility: "unlisted",
    message: { content: "Say hello", mentions: [{ configurationId: "dust" }], context },
    contentFragment: undefined,
  });
  assert.ok(created.isOk());
  const { conversation, message } = created.value;
  const streamed = await api.streamAgentAnswerEvents({
    conversation,
    userMessageId: message!.sId,
  });
  assert.ok(streamed.isOk(), JSON.stringify(streamed.isErr() && streamed.error));
  const types: string[] = [];
  let text = "";
  for await (const e of streamed.value.eventStream) {
    types.push(e.type);
    if (e.type === "generation_tokens") text += e.text;
  }
  assert.deepEqual(types, ["generation_tokens", "generation_tokens", "agent_message_success"]);
  assert.equal(text, "Hello");
});

Deno.test("[sdk conversations] streamConversationEvents yields user_message_new and agent_message_new", async () => {
  const { server, api } = await setup();
  await using _ = server;
  const created = await api.createConversation({
    title: "conv stream",
    visibility: "unlisted",
    message: { content: "Hi", mentions: [{ configurationId: "dust" }], context },
    contentFragment: undefined,
  });
  assert.ok(created.isOk());
  const abort = new AbortController();
  const streamed = await api.streamConversationEvents({
    conversationId: created.value.conversation.sId,
    signal: abort.signal,
  });
  assert.ok(streamed.isOk());
  const types: string[] = [];
  try {
    for await (const e of streamed.value.eventStream) {
      types.push(e.type);
      if (types.length === 2) break;
    }
  } finally {
    abort.abort();
  }
  assert.deepEqual(types, ["user_message_new", "agent_message_new"]);
});

Deno.test("[sdk conversations] an API key's getConversations is an Err with user_not_found", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  const key = await createApiKey(server, alice.workspace);
  const api = new DustAPI(
    { url: server.url },
    { apiKey: key, workspaceId: alice.workspace.sId },
    quiet,
  );
  const r = await api.getConversations();
  assert.ok(r.isErr());
  assert.equal(r.error.type, "user_not_found");
});
