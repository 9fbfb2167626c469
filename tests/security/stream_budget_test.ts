/**
 * Issue 10, finding 1 in bounded form: a member posts a few large messages and opens many
 * event streams that never read. The per-user cap answers 429 (another user still opens
 * streams), the instance cap too, a reader that takes nothing once its buffer is full is cut
 * (its subscription removed), a cut reader resumes with `lastEventId` and gets every event
 * exactly once, and the open-stream count returns to zero once the clients are gone.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { holdAgentRuns, messageBody } from "../helpers/conversations.ts";
import { readEventsAfter } from "../../src/core/conversation_events.ts";

/** Wait (bounded) until `cond()` holds; returns whether it did. */
async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return cond();
}

/** A conversation of user messages of the given sizes in characters (no agent mentioned). */
async function conversationOf(s: TestServer, u: UserWithToken, sizes: number[]) {
  const w = `/api/v1/w/${u.workspace.sId}/assistant/conversations`;
  const body = (i: number) => messageBody(`${i}`.padEnd(sizes[i], "x"), []);
  const created = await apiJson(s, u.token, w, {
    method: "POST",
    body: { title: "big", visibility: "unlisted", message: body(0) },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body).slice(0, 300));
  const cId = created.body.conversation.sId as string;
  for (let i = 1; i < sizes.length; i++) {
    const r = await apiJson(s, u.token, `${w}/${cId}/messages`, { method: "POST", body: body(i) });
    assert.equal(r.status, 200);
  }
  return { cId, events: `${w}/${cId}/events`, channel: `conversation:${cId}` };
}

/** Open a stream and read up to its handshake; the caller cancels the reader. */
async function openStream(s: TestServer, token: string, path: string) {
  const res = await fetch(`${s.url}${path}`, { headers: bearer(token) });
  if (res.status !== 200) return { status: res.status, res, reader: null };
  const reader = res.body!.getReader();
  await reader.read();
  return { status: 200, res, reader };
}

/** A raw TCP client that sends the request and never reads the answer. */
async function openNonReader(s: TestServer, token: string, path: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Authorization: Bearer ${token}\r\n\r\n`;
  const bytes = new TextEncoder().encode(request);
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  return conn;
}

/** Read a raw connection until the server closes it (or `ms` passes); returns the bytes. */
async function readToEnd(conn: Deno.TcpConn, ms = 20_000) {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(1 << 20);
  let closed = false;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 1000)));
    const n = await Promise.race([conn.read(buf).catch(() => null), timeout]);
    clearTimeout(timer);
    if (n === "timeout") continue;
    if (n === null) {
      closed = true;
      break;
    }
    parts.push(buf.slice(0, n));
  }
  const bytes = new Uint8Array(parts.reduce((t, p) => t + p.length, 0));
  parts.reduce((off, p) => (bytes.set(p, off), off + p.length), 0);
  return { bytes, text: new TextDecoder().decode(bytes), closed };
}

/** The body of a raw chunked HTTP response, as far as it arrived (a cut one stops early). */
function dechunk(raw: Uint8Array): string {
  const latin = new TextDecoder("latin1").decode(raw);
  let at = latin.indexOf("\r\n\r\n") + 4;
  const parts: Uint8Array[] = [];
  while (at > 3 && at < raw.length) {
    const eol = latin.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(latin.slice(at, eol), 16);
    if (!(size > 0)) break;
    parts.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)));
    at = eol + 2 + size + 2;
  }
  const body = new Uint8Array(parts.reduce((t, p) => t + p.length, 0));
  parts.reduce((off, p) => (body.set(p, off), off + p.length), 0);
  return new TextDecoder().decode(body);
}

async function members(s: TestServer) {
  holdAgentRuns(s);
  const alice = await createUserWithToken(s, { email: "alice@a.example", role: "admin" });
  const mallory = await createUserWithToken(s, {
    email: "mallory@a.example",
    role: "user",
    workspace: alice.workspace,
  });
  return { alice, mallory };
}

Deno.test("[security] streams: one user's streams stop at the per-user cap with a 429; another user still opens streams", async () => {
  await using s = await startTestServer({
    flags: { "streams-per-user": "3", "streams-total": "20" },
  });
  const { alice, mallory } = await members(s);
  const mine = await conversationOf(s, mallory, [10]);
  const theirs = await conversationOf(s, alice, [10]);
  const open: Awaited<ReturnType<typeof openStream>>[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const o = await openStream(s, mallory.token, mine.events);
      open.push(o);
      assert.equal(o.status, 200, `stream ${i} within the cap`);
    }
    const refused = await apiJson(s, mallory.token, mine.events);
    assert.equal(refused.status, 429, "the fourth stream of one user is refused");
    assert.equal(refused.body.error.type, "rate_limit_error");
    assert.match(refused.body.error.message, /3 per user/);
    assert.ok(Number(refused.headers.get("Retry-After")) > 0, "Retry-After is set");
    // The same budget covers relay request streams.
    const reg = await apiJson(s, mallory.token, `/api/v1/w/${mallory.workspace.sId}/mcp/register`, {
      method: "POST",
      body: { serverName: "Tools" },
    });
    const relay = await apiJson(
      s,
      mallory.token,
      `/api/v1/w/${mallory.workspace.sId}/mcp/requests?serverId=${reg.body.serverId}`,
    );
    assert.equal(relay.status, 429, "a relay stream counts against the same budget");
    const other = await openStream(s, alice.token, theirs.events);
    open.push(other);
    assert.equal(other.status, 200, "another user still opens a stream");
    // Closing one frees a slot.
    await open.shift()!.reader!.cancel();
    assert.ok(await until(() => s.deps.streams.openBy(`user:${mallory.user.id}`) === 2));
    const again = await openStream(s, mallory.token, mine.events);
    open.push(again);
    assert.equal(again.status, 200, "a freed slot can be taken again");
  } finally {
    await Promise.all(open.map((o) => o.reader?.cancel().catch(() => {})));
  }
});

Deno.test("[security] streams: the instance cap answers 429 once every slot is taken", async () => {
  await using s = await startTestServer({
    flags: { "streams-per-user": "3", "streams-total": "4" },
  });
  const { alice, mallory } = await members(s);
  const mine = await conversationOf(s, mallory, [10]);
  const theirs = await conversationOf(s, alice, [10]);
  const open: Awaited<ReturnType<typeof openStream>>[] = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await openStream(s, mallory.token, mine.events));
    open.push(await openStream(s, alice.token, theirs.events));
    assert.deepEqual(open.map((o) => o.status), [200, 200, 200, 200]);
    const refused = await apiJson(s, alice.token, theirs.events);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.type, "rate_limit_error");
    assert.ok(refused.headers.get("Retry-After"));
  } finally {
    await Promise.all(open.map((o) => o.reader?.cancel().catch(() => {})));
  }
});

Deno.test("[security] streams: a client that never reads is cut once its buffer is full, and its slot returns when it goes", async () => {
  await using s = await startTestServer({ flags: { "stream-buffer-kib": "64" } });
  s.deps.streams.timings.stallMs = 200;
  const { mallory } = await members(s);
  // ~7.6 MB of log: more than the socket buffers of a loopback connection take.
  const conv = await conversationOf(s, mallory, Array(4).fill(1_900_000));
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await openNonReader(s, mallory.token, conv.events));
    assert.ok(await until(() => s.deps.events.listenerCount(conv.channel) === 3, 5000));
    const cut = await until(() => s.deps.events.listenerCount(conv.channel) === 0, 20_000);
    assert.ok(cut, "streams that take nothing are cut and unsubscribed");
    // The connections are still open: their slots stay taken until the clients go.
    assert.equal(s.deps.streams.open, 3);
    const first = await readToEnd(conns[0]);
    assert.ok(first.closed, "the server closed the connection");
    const body = dechunk(first.bytes);
    assert.ok(body.startsWith("event: dust-handshake"), body.slice(0, 100));
    assert.ok(!body.includes("data: done"), "a cut stream does not claim it is done");
    assert.ok(body.length < 7_600_000, "the cut reader did not get the whole log");
    for (const c of conns) c.close();
    conns.length = 0;
    assert.ok(await until(() => s.deps.streams.open === 0), "every slot is given back");
  } finally {
    for (const c of conns) c.close();
  }
});

/** Complete `{eventId, data}` frames of SSE text (an unterminated last frame is dropped). */
function completeEvents(text: string): { eventId: string }[] {
  const frames = text.split("\n\n");
  frames.pop();
  return frames.filter((f) => f.startsWith("data: {")).map((f) => JSON.parse(f.slice(6)));
}

Deno.test("[security] streams: a slow reader that is cut resumes with lastEventId and gets every event exactly once", async () => {
  await using s = await startTestServer({ flags: { "stream-buffer-kib": "64" } });
  s.deps.streams.timings.stallMs = 200;
  const { mallory } = await members(s);
  // Small events between the large ones, so frames of both sizes cross the cuts.
  const sizes = [1_900_000, 10, 20_000, 1_900_000, 10, 10, 1_900_000, 300_000, 1_900_000, 10];
  const conv = await conversationOf(s, mallory, sizes);
  const expected = (await readEventsAfter(s.deps, conv.channel, 0, 1000)).map((e) => e.eventId);
  const seen: string[] = [];
  let cuts = 0;
  for (let round = 0; round < 30 && seen.length < expected.length; round++) {
    const last = seen.at(-1);
    const conn = await openNonReader(
      s,
      mallory.token,
      `${conv.events}${last ? `?lastEventId=${last}` : ""}`,
    );
    // Read a little, then stop until the server cuts the stream (or has sent everything).
    const head = new Uint8Array(64 * 1024);
    const n = await conn.read(head);
    // The first round must be cut (the log is larger than the socket buffers): wait long for it.
    const wasCut = await until(
      () => s.deps.events.listenerCount(conv.channel) === 0,
      round === 0 ? 20_000 : 2000,
    );
    if (wasCut) cuts++;
    const rest = await readToEnd(conn, wasCut ? 20_000 : 3000);
    conn.close();
    const raw = new Uint8Array((n ?? 0) + rest.bytes.length);
    raw.set(head.subarray(0, n ?? 0));
    raw.set(rest.bytes, n ?? 0);
    for (const e of completeEvents(dechunk(raw))) {
      assert.ok(!seen.includes(e.eventId), `event ${e.eventId} delivered twice`);
      seen.push(e.eventId);
    }
  }
  assert.ok(cuts >= 1, "the slow reader was cut at least once");
  assert.deepEqual(seen, expected, "every event exactly once, in order");
  assert.ok(await until(() => s.deps.streams.open === 0));
});

Deno.test("[security] streams: the open-stream count and subscriptions return to zero after clients close", async () => {
  await using s = await startTestServer();
  const { alice, mallory } = await members(s);
  const conv = await conversationOf(s, mallory, [50_000, 50_000]);
  const reg = await apiJson(s, alice.token, `/api/v1/w/${alice.workspace.sId}/mcp/register`, {
    method: "POST",
    body: { serverName: "Tools" },
  });
  const relayPath = `/api/v1/w/${alice.workspace.sId}/mcp/requests?serverId=${reg.body.serverId}`;
  const open = [];
  for (let i = 0; i < 10; i++) open.push(await openStream(s, mallory.token, conv.events));
  for (let i = 0; i < 5; i++) open.push(await openStream(s, alice.token, relayPath));
  assert.equal(s.deps.streams.open, 15);
  assert.equal(s.deps.events.listenerCount(conv.channel), 10);
  assert.equal(s.deps.relay.openStreams, 5);
  await Promise.all(open.map((o) => o.reader!.cancel()));
  assert.ok(await until(() => s.deps.streams.open === 0), "every slot is given back");
  assert.equal(s.deps.events.listenerCount(conv.channel), 0);
  assert.equal(s.deps.relay.openStreams, 0);
});
