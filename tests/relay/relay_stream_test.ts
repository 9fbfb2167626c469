/**
 * The request stream (dust.md §3.5, §3.7): replay after `lastEventId` exactly once, answered
 * requests never replayed, isolation between users, keep-alives, idle end and shutdown.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { publishRelayRequest } from "../../src/core/relay_requests.ts";
import { listRelayRegistrations, revokeRelayRegistration } from "../../src/core/relay_registry.ts";
import { userActorOf } from "../helpers/actors.ts";

/** Reads SSE frames (the text between blank lines) from a response, with a deadline. */
class FrameReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = "";
  #decoder = new TextDecoder();
  ended = false;
  constructor(res: Response) {
    this.#reader = res.body!.getReader();
  }
  /** The next frame, or null when the stream ended or `ms` passed. */
  async next(ms = 2_000): Promise<string | null> {
    const deadline = Date.now() + ms;
    while (!this.#buf.includes("\n\n")) {
      if (this.ended) return null;
      let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
      const timeout = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), Math.max(0, deadline - Date.now()));
      });
      const read = await Promise.race([this.#reader.read(), timeout]);
      clearTimeout(timer);
      if (read === "timeout") return null;
      if (read.done) this.ended = true;
      else this.#buf += this.#decoder.decode(read.value, { stream: true });
    }
    const i = this.#buf.indexOf("\n\n");
    const frame = this.#buf.slice(0, i);
    this.#buf = this.#buf.slice(i + 2);
    return frame;
  }
  /** Next `data:` frame with a JSON event (skipping handshake and keep-alives). */
  async nextEvent(ms = 2_000): Promise<{ eventId: string; data: { id?: string } } | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (f === null) return null;
      if (f.startsWith("data: {") && !f.includes("event:")) return JSON.parse(f.slice(6));
    }
  }
  async cancel() {
    await this.#reader.cancel().catch(() => {});
  }
}

async function registerAndOpen(server: TestServer, u: UserWithToken, lastEventId?: string) {
  const reg = await apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/mcp/register`, {
    method: "POST",
    body: { serverName: "Local Tools" },
  });
  assert.equal(reg.status, 200);
  const serverId = reg.body.serverId as string;
  return { serverId, stream: await open(server, u, serverId, lastEventId) };
}

async function open(server: TestServer, u: UserWithToken, serverId: string, lastEventId?: string) {
  const q = new URLSearchParams({ serverId, ...(lastEventId ? { lastEventId } : {}) });
  const res = await fetch(`${server.url}/api/v1/w/${u.workspace.sId}/mcp/requests?${q}`, {
    headers: bearer(u.token),
  });
  assert.equal(res.status, 200);
  const reader = new FrameReader(res);
  assert.equal(await reader.next(), "event: dust-handshake\ndata: {}");
  return reader;
}

const call = (id: string) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "t" } });

Deno.test("[relay] reconnect with lastEventId replays an unanswered request exactly once", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { serverId, stream: first } = await registerAndOpen(server, alice);
  await publishRelayRequest(server.deps, serverId, call("r1"));
  const e1 = await first.nextEvent();
  assert.equal(e1?.data.id, "r1");
  await first.cancel();

  await publishRelayRequest(server.deps, serverId, call("r2")); // while disconnected
  const second = await open(server, alice, serverId, e1!.eventId);
  const seen: string[] = [];
  const replayed = await second.nextEvent();
  seen.push(replayed!.data.id!);
  await publishRelayRequest(server.deps, serverId, call("r3")); // live after the replay
  for (let e = await second.nextEvent(300); e; e = await second.nextEvent(300)) {
    seen.push(e.data.id!);
  }
  assert.deepEqual(seen, ["r2", "r3"], "r1 not replayed after its cursor, r2 exactly once");
  await second.cancel();
});

Deno.test("[relay] an answered request is never replayed; unanswered ones are, from the start", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { serverId, stream } = await registerAndOpen(server, alice);
  await stream.cancel();
  await publishRelayRequest(server.deps, serverId, call("a"));
  await publishRelayRequest(server.deps, serverId, call("b"));
  const answered = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/mcp/results`,
    {
      method: "POST",
      body: { serverId, result: { jsonrpc: "2.0", id: "a", result: {} } },
    },
  );
  assert.equal(answered.status, 200);
  const again = await open(server, alice, serverId);
  const ids: string[] = [];
  for (let e = await again.nextEvent(300); e; e = await again.nextEvent(300)) ids.push(e.data.id!);
  assert.deepEqual(ids, ["b"]);
  await again.cancel();
});

Deno.test("[relay] two users' registrations never see each other's requests", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = await registerAndOpen(server, alice);
  const b = await registerAndOpen(server, bob);
  await publishRelayRequest(server.deps, a.serverId, call("for-alice"));
  await publishRelayRequest(server.deps, b.serverId, call("for-bob"));
  assert.equal((await a.stream.nextEvent())?.data.id, "for-alice");
  assert.equal((await b.stream.nextEvent())?.data.id, "for-bob");
  assert.equal(await a.stream.nextEvent(200), null);
  assert.equal(await b.stream.nextEvent(200), null);
  // Bob cannot open or answer alice's server either.
  const res = await fetch(
    `${server.url}/api/v1/w/${bob.workspace.sId}/mcp/requests?serverId=${a.serverId}`,
    { headers: bearer(bob.token) },
  );
  assert.equal(res.status, 403);
  await res.body?.cancel();
  await a.stream.cancel();
  await b.stream.cancel();
});

Deno.test("[relay] the stream sends keep-alive comments, then data: done after idling", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  server.deps.relay.timings.keepAliveMs = 40;
  server.deps.relay.timings.streamIdleMs = 400;
  const { stream } = await registerAndOpen(server, alice);
  assert.equal(await stream.next(), ": keep-alive");
  let last: string | null = "";
  for (let f = await stream.next(); f !== null; f = await stream.next()) last = f;
  assert.equal(last, "data: done");
  assert.equal(stream.ended, true);
  assert.equal(server.deps.relay.openStreams, 0);
});

Deno.test("[relay] open request streams end when the server stops", async () => {
  const server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { stream } = await registerAndOpen(server, alice);
  assert.equal(server.deps.relay.openStreams, 1);
  const stopped = server.stop();
  while ((await stream.next()) !== null) { /* drain until the end */ }
  assert.equal(stream.ended, true);
  await stopped;
  assert.equal(server.deps.relay.openStreams, 0);
});

Deno.test("[relay] live registrations: users list and revoke their own, admins everyone's; revoke ends the stream", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const carol = await createUserWithToken(server, {
    email: "carol@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const b = await registerAndOpen(server, bob);
  const c = await registerAndOpen(server, carol);
  const ids = async (u: UserWithToken) =>
    (await listRelayRegistrations(server.deps, await userActorOf(server, u))).map((r) => r.serverId)
      .sort();
  assert.deepEqual(await ids(bob), [b.serverId]);
  assert.deepEqual(await ids(admin), [b.serverId, c.serverId].sort());
  const view = (await listRelayRegistrations(server.deps, await userActorOf(server, bob)))[0];
  assert.equal(view.userEmail, "bob@example.com");
  assert.equal(view.connected, true);

  await assert.rejects(
    async () =>
      await revokeRelayRegistration(server.deps, await userActorOf(server, bob), {
        serverId: c.serverId,
      }),
    /not registered/,
  );
  await revokeRelayRegistration(server.deps, await userActorOf(server, admin), {
    serverId: c.serverId,
  });
  let last: string | null = "";
  for (let f = await c.stream.next(); f !== null; f = await c.stream.next()) last = f;
  assert.equal(last, "data: done");
  assert.equal(c.stream.ended, true);
  await revokeRelayRegistration(server.deps, await userActorOf(server, bob), {
    serverId: b.serverId,
  });
  assert.deepEqual(await ids(admin), []);
  await b.stream.cancel();
});

Deno.test("[relay] requests larger than one stream piece arrive whole, live and replayed, in order", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const big = (id: string, n: number) => ({
    ...call(id),
    params: { name: "t", arguments: { text: "é".repeat(n) } },
  });
  const { serverId, stream } = await registerAndOpen(server, alice);
  await publishRelayRequest(server.deps, serverId, big("live-big", 300_000));
  await publishRelayRequest(server.deps, serverId, call("live-small"));
  const live = [await stream.nextEvent(), await stream.nextEvent()];
  assert.deepEqual(live.map((e) => e?.data.id), ["live-big", "live-small"]);
  await stream.cancel();
  await publishRelayRequest(server.deps, serverId, big("replayed-big", 500_000));
  const again = await open(server, alice, serverId, live[1]!.eventId);
  const e = await again.nextEvent(5000) as { data: Awaited<ReturnType<typeof big>> } | null;
  assert.equal(e?.data.id, "replayed-big");
  assert.equal(e?.data.params.arguments.text, "é".repeat(500_000));
  await again.cancel();
});
