import assert from "node:assert/strict";
import { startTestServer, testEngine } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import {
  eventsOf,
  holdAgentRuns,
  messageBody,
  parseSse,
  readSse,
} from "../helpers/conversations.ts";
import { appendMessageEvent, updateAgentMessage } from "../../src/core/agent_messages.ts";
import { conversationStreamTimings } from "../../src/core/conversation_streams.ts";
import { setConversationTitle } from "../../src/core/conversations.ts";
import {
  appendEvent,
  EVENT_TTL_MS,
  insertEvents,
  pruneExpiredEvents,
  readEventsAfter,
} from "../../src/core/conversation_events.ts";

async function setup() {
  const server = await startTestServer();
  holdAgentRuns(server);
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const url = `/api/v1/w/${alice.workspace.sId}/assistant/conversations`;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "events", message: messageBody("hello") },
  });
  const conv = created.body.conversation;
  return {
    server,
    alice,
    url,
    cId: conv.sId as string,
    userSId: conv.content[0][0].sId as string,
    agentSId: conv.content[1][0].sId as string,
  };
}

Deno.test("[conversation events] the conversation stream uses Dust's SSE framing", async () => {
  const { server, alice, url, cId, userSId, agentSId } = await setup();
  await using _ = server;
  const r = await readSse(
    `${server.url}${url}/${cId}/events`,
    alice.token,
    (t) => t.includes("agent_message_new"),
  );
  assert.equal(r.status, 200);
  assert.match(r.contentType ?? "", /^text\/event-stream/);
  assert.ok(r.text.startsWith("event: dust-handshake\ndata: {}\n\n"));
  const events = eventsOf(parseSse(r.text));
  assert.deepEqual(events.map((e) => e.data.type), ["user_message_new", "agent_message_new"]);
  assert.equal(typeof events[0].eventId, "string");
  assert.equal(events[0].data.messageId, userSId);
  assert.equal(events[0].data.message.rank, 0);
  assert.equal(events[1].data.messageId, agentSId);
  assert.equal(events[1].data.configurationId, "dust");
  assert.equal(events[1].data.message.rank, 1);
});

Deno.test("[conversation events] resuming with lastEventId delivers each later event exactly once", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const first = await readSse(
    `${server.url}${url}/${cId}/events`,
    alice.token,
    (t) => t.includes("agent_message_new"),
  );
  const firstEvents = eventsOf(parseSse(first.text));
  await apiJson(server, alice.token, `${url}/${cId}/messages`, {
    method: "POST",
    body: messageBody("second", []),
  });
  const resumed = await readSse(
    `${server.url}${url}/${cId}/events?lastEventId=${firstEvents[0].eventId}`,
    alice.token,
    (t) => eventsOf(parseSse(t)).length >= 2,
  );
  const ids = eventsOf(parseSse(resumed.text)).map((e) => e.eventId);
  assert.deepEqual(ids.length, 2);
  assert.equal(ids[0], firstEvents[1].eventId);
  assert.ok(Number(ids[1]) > Number(ids[0]));
  assert.equal(new Set(ids).size, ids.length);
});

Deno.test("[conversation events] live events arrive after the replay without duplicates", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const reading = readSse(
    `${server.url}${url}/${cId}/events`,
    alice.token,
    (t) => t.includes('"content":"live"'),
  );
  await new Promise((r) => setTimeout(r, 100));
  await apiJson(server, alice.token, `${url}/${cId}/messages`, {
    method: "POST",
    body: messageBody("live", []),
  });
  const r = await reading;
  const ids = eventsOf(parseSse(r.text)).map((e) => e.eventId);
  assert.equal(ids.length, 3);
  assert.equal(new Set(ids).size, 3);
});

Deno.test("[conversation events] a bad lastEventId answers 400 before any SSE byte", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, `${url}/${cId}/events?lastEventId=abc`);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /lastEventId/);
});

Deno.test("[conversation events] the message stream ends with data: done after the terminal event", async () => {
  const { server, alice, url, cId, agentSId } = await setup();
  await using _ = server;
  await appendMessageEvent(server.deps, agentSId, {
    type: "generation_tokens",
    configurationId: "dust",
    messageId: agentSId,
    text: "Hel",
    classification: "tokens",
  });
  const reading = readSse(
    `${server.url}${url}/${cId}/messages/${agentSId}/events`,
    alice.token,
    () => false,
  );
  await new Promise((r) => setTimeout(r, 100));
  const message = await updateAgentMessage(server.deps, {
    messageId: agentSId,
    status: "succeeded",
    content: "Hello",
  });
  await appendMessageEvent(server.deps, agentSId, {
    type: "agent_message_success",
    configurationId: "dust",
    messageId: agentSId,
    message,
    runIds: [],
  });
  const r = await reading;
  assert.equal(r.ended, true);
  const frames = parseSse(r.text);
  assert.deepEqual(eventsOf(frames).map((e) => e.data.type), [
    "generation_tokens",
    "agent_message_success",
  ]);
  assert.equal(frames[frames.length - 1].data, "done");
});

Deno.test("[conversation events] a finished message whose events expired still gets its terminal event", async () => {
  const { server, alice, url, cId, agentSId } = await setup();
  await using _ = server;
  await updateAgentMessage(server.deps, {
    messageId: agentSId,
    status: "failed",
    error: { code: "model_not_configured", message: "No model is configured." },
  });
  const r = await readSse(
    `${server.url}${url}/${cId}/messages/${agentSId}/events`,
    alice.token,
    () => false,
  );
  assert.equal(r.ended, true);
  const events = eventsOf(parseSse(r.text));
  assert.equal(events.length, 1);
  assert.equal(events[0].data.type, "agent_error");
  assert.equal(events[0].data.error.code, "model_not_configured");
});

Deno.test("[conversation events] a user message id on the message stream answers 404 message_not_found", async () => {
  const { server, alice, url, cId, userSId } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, `${url}/${cId}/messages/${userSId}/events`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "message_not_found");
});

Deno.test("[conversation events] a stream sends comment keep-alives while idle", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const saved = { ...conversationStreamTimings };
  conversationStreamTimings.keepAliveMs = 30;
  try {
    const r = await readSse(
      `${server.url}${url}/${cId}/events`,
      alice.token,
      (t) => t.includes(": keep-alive"),
    );
    assert.ok(r.text.includes(": keep-alive\n\n"));
  } finally {
    Object.assign(conversationStreamTimings, saved);
  }
});

Deno.test("[conversation events] an idle stream ends with data: done after the idle limit", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const saved = { ...conversationStreamTimings };
  conversationStreamTimings.keepAliveMs = 20;
  conversationStreamTimings.idleMs = 60;
  try {
    const r = await readSse(`${server.url}${url}/${cId}/events`, alice.token, () => false);
    assert.equal(r.ended, true);
    assert.ok(r.text.endsWith("data: done\n\n"));
  } finally {
    Object.assign(conversationStreamTimings, saved);
  }
});

Deno.test("[conversation events] open streams end when the server stops", async () => {
  const { server, alice, url, cId } = await setup();
  const reading = readSse(`${server.url}${url}/${cId}/events`, alice.token, () => false, 8000);
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await server.stop();
  const r = await reading;
  assert.equal(r.ended, true);
  assert.ok(Date.now() - started < 5000);
});

Deno.test("[conversation events] a non-participant cannot open the stream", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const r = await apiJson(server, bob.token, `${url}/${cId}/events`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "conversation_not_found");
});

Deno.test("[conversation events] a title change reaches the conversation stream as conversation_title", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  await setConversationTitle(server.deps, { conversationId: cId, title: "Renamed" });
  const r = await readSse(
    `${server.url}${url}/${cId}/events`,
    alice.token,
    (t) => t.includes("conversation_title"),
  );
  const last = eventsOf(parseSse(r.text)).at(-1)!;
  assert.equal(last.data.type, "conversation_title");
  assert.equal(last.data.title, "Renamed");
  const got = await apiJson(server, alice.token, `${url}/${cId}`);
  assert.equal(got.body.conversation.title, "Renamed");
});

Deno.test("[conversation events] cancelling publishes agent_generation_cancelled on both streams", async () => {
  const { server, alice, url, cId, agentSId } = await setup();
  await using _ = server;
  await apiJson(server, alice.token, `${url}/${cId}/cancel`, {
    method: "POST",
    body: { messageIds: [agentSId] },
  });
  const msg = await readSse(
    `${server.url}${url}/${cId}/messages/${agentSId}/events`,
    alice.token,
    () => false,
  );
  assert.equal(msg.ended, true);
  assert.deepEqual(eventsOf(parseSse(msg.text)).map((e) => e.data.type), [
    "agent_generation_cancelled",
  ]);
  const conv = await readSse(
    `${server.url}${url}/${cId}/events`,
    alice.token,
    (t) => t.includes("cancelled"),
  );
  assert.equal(eventsOf(parseSse(conv.text)).at(-1)!.data.type, "agent_generation_cancelled");
});

Deno.test("[conversation events] ids keep growing after the whole log expired, so an old lastEventId still resumes", async () => {
  const { server, alice, url, cId } = await setup();
  await using _ = server;
  const before = await appendEvent(server.deps, `conversation:${cId}`, { type: "marker", n: 1 });
  // Every event expires: the log is empty, as on an instance quiet for ten minutes.
  await pruneExpiredEvents(server.deps, Date.now() + EVENT_TTL_MS + 60_000);
  assert.deepEqual(await readEventsAfter(server.deps, `conversation:${cId}`, 0, 10), []);
  await setConversationTitle(server.deps, { conversationId: cId, title: "After expiry" });
  const r = await readSse(
    `${server.url}${url}/${cId}/events?lastEventId=${before.eventId}`,
    alice.token,
    (t) => t.includes("After expiry"),
  );
  const events = eventsOf(parseSse(r.text));
  assert.deepEqual(events.map((e) => e.data.type), ["conversation_title"]);
  assert.ok(Number(events[0].eventId) > Number(before.eventId), "an event id was reused");
});

Deno.test("[conversation events] a message stream whose terminal event is larger than a stream piece still ends after it", async () => {
  const { server, alice, url, cId, agentSId } = await setup();
  await using _ = server;
  const content = "word ".repeat(100_000);
  const message = await updateAgentMessage(server.deps, {
    messageId: agentSId,
    status: "succeeded",
    content,
  });
  await appendMessageEvent(server.deps, agentSId, {
    type: "agent_message_success",
    configurationId: "dust",
    messageId: agentSId,
    message,
    runIds: [],
  });
  const r = await readSse(
    `${server.url}${url}/${cId}/messages/${agentSId}/events`,
    alice.token,
    () => false,
  );
  assert.equal(r.ended, true);
  const frames = parseSse(r.text);
  const events = eventsOf(frames);
  assert.deepEqual(events.map((e) => e.data.type), ["agent_message_success"]);
  assert.equal(events[0].data.message.content, content);
  assert.equal(frames[frames.length - 1].data, "done");
});

Deno.test({
  name:
    "[conversation events] PostgreSQL: an event whose note never came is sent at the next keep-alive",
  ignore: testEngine() !== "postgres",
  async fn() {
    const { server, alice, url, cId } = await setup();
    await using _ = server;
    const saved = { ...conversationStreamTimings };
    conversationStreamTimings.keepAliveMs = 50;
    try {
      const reading = readSse(
        `${server.url}${url}/${cId}/events`,
        alice.token,
        (t) => t.includes("lost_note_event"),
      );
      await new Promise((r) => setTimeout(r, 200));
      // Committed to the log, never published (an instance killed between the two).
      await server.deps.db.tx(async () =>
        await insertEvents(server.deps.db, [{
          stream: `conversation:${cId}`,
          data: { type: "lost_note_event" },
        }])
      );
      const r = await reading;
      assert.ok(r.text.includes('"type":"lost_note_event"'), r.text.slice(-300));
      // Read once per log per second for all its streams, not once per stream and keep-alive.
      assert.ok(server.deps.streams.newestIds.size <= 1);
    } finally {
      Object.assign(conversationStreamTimings, saved);
    }
  },
});
