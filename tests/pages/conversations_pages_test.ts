/**
 * The conversation pages per role: the three lists (mine, shared, in Pods), one conversation
 * read by those who may (its `conversationUrl` from MCP and REST opens it), posting a message
 * that mentions an agent (answered by the fake model, with the tool call's arguments and result
 * shown), a failed answer's error with what to do, cancel, and the page's event stream (the
 * browser session's; signing out ends it).
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type ConsoleMember, consoleWorld, csrfOf, textOf } from "../helpers/console_world.ts";
import { lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { connectV1, payloadOf } from "../mcp/helpers.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { holdAgentRuns } from "../helpers/conversations.ts";
import { updateAgent } from "../../src/core/agent_editing.ts";
import { appendEvent, messageStream } from "../../src/core/conversation_events.ts";
import { waitForAgentMessages } from "../../src/core/agent_messages.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";
import { deleteSession } from "../../src/core/sessions.ts";

const list = (wId: string, view = "") => `/w/${wId}/conversations${view ? `?view=${view}` : ""}`;

/** Post from the conversation page's form; returns the agent message ids created. */
async function postFromPage(
  s: TestServer,
  m: ConsoleMember,
  wId: string,
  cId: string,
  content: string,
  agent: string,
): Promise<string[]> {
  const before = await agentMessageIds(s, cId);
  const r = await m.browser.post(`/w/${wId}/conversations/${cId}/messages`, {
    csrf: await csrfOf(m, wId),
    agent,
    content,
  });
  assert.equal(r.status, 303, r.text.slice(0, 300));
  assert.equal(r.location, `/w/${wId}/conversations/${cId}`);
  return (await agentMessageIds(s, cId)).filter((id) => !before.includes(id));
}

async function agentMessageIds(s: TestServer, cId: string): Promise<string[]> {
  return (await s.deps.db.all<{ s_id: string }>(
    `SELECT m.s_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
     WHERE c.s_id = ? AND m.type = 'agent_message' ORDER BY m.rank`,
    cId,
  )).map((r) => r.s_id);
}

Deno.test("[pages] conversations: each role lists mine, shared and Pod conversations it reads, and opens only those", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const w = await consoleWorld(s);
  const see = async (m: ConsoleMember, view: string) => {
    const r = await m.browser.get(list(w.wId, view));
    assert.equal(r.status, 200);
    return textOf(r.text);
  };
  assert.ok((await see(w.bob, "")).includes("Bob's private notes"));
  assert.ok(!(await see(w.bob, "")).includes("Company announcements"));
  assert.ok((await see(w.bob, "shared")).includes("Company announcements"));
  assert.ok((await see(w.bob, "pods")).includes("Crew planning"));
  assert.ok(!(await see(w.alice, "")).includes("Bob's private notes"));
  assert.ok((await see(w.alice, "shared")).includes("Company announcements"));
  assert.ok(!(await see(w.alice, "pods")).includes("Crew planning"), "the admin is not in the Pod");
  assert.ok((await see(w.bea, "pods")).includes("Crew planning"));
  assert.ok(!(await see(w.bea, "")).includes("Bob's private notes"));

  const open = async (m: ConsoleMember, cId: string) =>
    (await m.browser.get(`/w/${w.wId}/conversations/${cId}`)).status;
  assert.equal(await open(w.bob, w.bobPrivate), 200);
  assert.equal(await open(w.alice, w.bobPrivate), 404);
  assert.equal(await open(w.bea, w.bobPrivate), 404);
  assert.equal(await open(w.bea, w.aliceShared), 200);
  assert.equal(await open(w.alice, w.bobPod), 404);
  assert.equal(await open(w.bea, w.bobPod), 200);
  assert.equal(await open(w.carol, w.aliceShared), 404);
  assert.equal((await w.carol.browser.get(list(w.wId))).status, 404);
  const page = textOf((await w.bob.browser.get(`/w/${w.wId}/conversations/${w.bobPod}`)).text);
  assert.ok(page.includes("In Pod Crew") && page.includes("pod talk"));
});

Deno.test("[pages] conversations: conversationUrl from MCP and REST is the conversation's page", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const w = await consoleWorld(s);
  await using c = await connectV1(s, w.bob.mcpToken);
  const made = payloadOf<{ conversationId: string; conversationUrl: string }>(
    await c.callTool({
      name: "create_conversation",
      arguments: { title: "From my MCP client", message: "hi", agentName: "helper" },
    }),
  );
  const pageUrl = `${s.config.publicUrl}/w/${w.wId}/conversations/${made.conversationId}`;
  assert.equal(made.conversationUrl, pageUrl);
  const page = await w.bob.browser.get(made.conversationUrl);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  assert.ok(textOf(page.text).includes("From my MCP client"));
  const more = payloadOf<{ conversationUrl: string }>(
    await c.callTool({
      name: "create_conversation_message",
      arguments: { conversationId: made.conversationId, message: "again", agentName: null },
    }),
  );
  assert.equal(more.conversationUrl, pageUrl);
  const rest = await apiJson(
    s,
    w.bob.token,
    `/api/v1/w/${w.wId}/assistant/conversations/${made.conversationId}`,
  );
  assert.equal(rest.status, 200);
  assert.equal(rest.body.conversation.url, pageUrl);
  // Someone who may not read it gets the page's 404, not the conversation.
  assert.equal((await w.alice.browser.get(made.conversationUrl)).status, 404);
});

Deno.test("[pages] conversations: a message mentioning an agent is answered; its tool call shows arguments and result; the agent's spaces bound its search", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "search", arguments: { query: "bluefinch" } }] },
    (req) => ({ content: `Search said: ${lastToolResult(req).slice(0, 400)}` }),
  ]);
  await using s = await startTestServer({ flags: model.flags });
  const w = await consoleWorld(s);
  const [first] = await postFromPage(
    s,
    w.alice,
    w.wId,
    w.aliceShared,
    "Any news on the merger?",
    w.helperAgent,
  );
  await waitForAgentMessages(s.deps, [first]);
  let page = await w.alice.browser.get(`/w/${w.wId}/conversations/${w.aliceShared}`);
  let text = textOf(page.text);
  assert.ok(text.includes("Any news on the merger?"));
  assert.ok(text.includes("Tool search — succeeded"), text.slice(0, 2000));
  assert.ok(page.text.includes("&quot;query&quot;: &quot;bluefinch&quot;"), "the call's arguments");
  assert.ok(text.includes("Search said:") && text.includes("Plans"), "alice reads Secret: found");

  // Limited to Company Data, the agent's search no longer reaches Secret, even for Alice.
  await updateAgent(s.deps, w.bea.actor, { agentId: w.helperAgent, spaceIds: [w.companySpace] });
  const [second] = await postFromPage(s, w.alice, w.wId, w.aliceShared, "And now?", w.helperAgent);
  await waitForAgentMessages(s.deps, [second]);
  page = await w.alice.browser.get(`/w/${w.wId}/conversations/${w.aliceShared}`);
  text = textOf(page.text);
  const answers = text.split("Search said:");
  assert.equal(answers.length, 3);
  assert.ok(answers[1].includes("Plans") && !answers[2].includes("Plans"));
});

Deno.test("[pages] conversations: a failed answer says why and what to do (the model link for an instance admin only)", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const [m1] = await postFromPage(s, w.alice, w.wId, w.aliceShared, "Hello?", w.helperAgent);
  await waitForAgentMessages(s.deps, [m1]);
  const forAdmin = await w.alice.browser.get(`/w/${w.wId}/conversations/${w.aliceShared}`);
  const adminText = textOf(forAdmin.text);
  assert.ok(adminText.includes("The answer failed"), adminText.slice(0, 1500));
  assert.ok(adminText.includes("(model_not_configured)"));
  assert.ok(forAdmin.text.includes('href="/admin/model"'));
  const forBob = await w.bob.browser.get(`/w/${w.wId}/conversations/${w.aliceShared}`);
  assert.ok(textOf(forBob.text).includes("Ask an instance admin to set one"));
  assert.ok(!forBob.text.includes('href="/admin/model"'));
  // An agent the member cannot see, in a forged form: refused on the page, nothing posted.
  const r = await w.bob.browser.post(`/w/${w.wId}/conversations/${w.aliceShared}/messages`, {
    csrf: await csrfOf(w.bob, w.wId),
    agent: w.privateAgent,
    content: "psst",
  });
  assert.equal(r.status, 400);
  assert.ok(textOf(r.text).includes("The agent configuration was not found."));
  assert.ok(
    !textOf((await w.bob.browser.get(`/w/${w.wId}/conversations/${w.aliceShared}`)).text).includes(
      "psst",
    ),
  );
});

Deno.test("[pages] conversations: starting one from the list page, and cancelling an answer being written", async () => {
  await using model = await startFakeModel([{ hang: true }]);
  await using s = await startTestServer({ flags: model.flags });
  const w = await consoleWorld(s);
  const csrf = await csrfOf(w.bob, w.wId);
  const r = await w.bob.browser.post(list(w.wId), {
    csrf,
    title: "Pod question",
    where: `pod:${w.podSpace}`,
    agent: w.helperAgent,
    content: "Take your time",
  });
  assert.equal(r.status, 303, r.text.slice(0, 300));
  const cId = r.location!.split("/").pop()!;
  await model.waitForRequests(1);
  const page = await w.bob.browser.get(r.location!);
  assert.ok(page.text.includes("data-stream-url"), "the answer is followed while it is written");
  assert.ok(textOf(page.text).includes("In Pod Crew"));
  const nonce = /<script nonce="([^"]+)" src="\/static\/console\/conversation_stream.js"/.exec(
    page.text,
  )?.[1];
  assert.ok(nonce, "the stream script carries the response's nonce");
  const csp = page.headers.get("content-security-policy")!;
  assert.ok(csp.includes(`script-src 'nonce-${nonce}'`) && !csp.includes("unsafe-inline'; script"));
  assert.ok(csp.includes("frame-ancestors 'none'"));
  const [mId] = await agentMessageIds(s, cId);
  const cancel = await w.bob.browser.post(`/w/${w.wId}/conversations/${cId}/cancel`, {
    csrf,
    messageId: mId,
  });
  assert.equal(cancel.status, 303);
  await waitForAgentMessages(s.deps, [mId]);
  const after = textOf((await w.bob.browser.get(r.location!)).text);
  assert.ok(after.includes("The answer was stopped."));
  // A non-member's cancel is a 404 and changes nothing.
  assert.equal(
    (await w.carol.browser.post(`/w/${w.wId}/conversations/${cId}/cancel`, {
      csrf: await csrfOf(w.carol, w.carol.workspace.sId),
      messageId: mId,
    })).status,
    404,
  );
});

Deno.test("[pages] conversations: the page's event stream follows the member's session; signing out ends it", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const w = await consoleWorld(s);
  const [mId] = await postFromPage(s, w.bob, w.wId, w.bobPrivate, "stream me", w.helperAgent);
  const url = `${s.url}/w/${w.wId}/conversations/${w.bobPrivate}/messages/${mId}/events`;
  // Others: refused before any stream.
  assert.equal((await w.alice.browser.get(url)).status, 404);
  const anon = await fetch(url, { redirect: "manual" });
  await anon.body?.cancel();
  assert.equal(anon.status, 303);

  const cookie = w.bob.browser.cookies.get(sessionCookieName(s.config))!;
  const res = await fetch(url, { headers: { cookie: `${sessionCookieName(s.config)}=${cookie}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (want: (t: string) => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!want(text) && Date.now() < deadline) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
  };
  try {
    await appendEvent(s.deps, messageStream(mId), { type: "generation_tokens", text: "Hel" });
    await readUntil((t) => t.includes('"Hel"'));
    assert.ok(text.includes('"generation_tokens"'), "a live event reaches the signed-in member");
    await deleteSession(s.deps.db, cookie); // signing out
    await appendEvent(s.deps, messageStream(mId), { type: "generation_tokens", text: "lo!" });
    await readUntil((t) => t.includes("data: done"));
    assert.ok(text.includes("data: done"), "the stream ends once the session is gone");
    assert.ok(!text.includes('"lo!"'), "no event after signing out");
  } finally {
    await reader.cancel().catch(() => {});
  }
});
