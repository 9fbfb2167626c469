/**
 * The client-side MCP relay, measured against baselines from the same run:
 *
 * 1. Round trip: a JSON-RPC request sent by the server side's MCP transport
 *    (`RelayClientTransport.send`: id rewrite, log row, publish) → SSE frame on the client's
 *    open request stream → the client POSTs the answer to `mcp/results` (bearer auth, log
 *    delete, publish) → the waiting transport receives it. Sequential, p50/p99. Baseline: one
 *    `fetch` POST round trip to a bare `Deno.serve` echo on the same loopback.
 * 2. Memory: resident memory (RSS, from `ps`) of a dust-mcp server process holding 1,000 open relay
 *    request streams (1,000 registered servers of 20 users), per stream, against a bare
 *    `Deno.serve` process holding 1,000 idle SSE streams (one comment frame each).
 *
 * Run: `deno task bench relay` (or `deno run -A bench/relay.ts`).
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { benchDatabase, benchEngine } from "./engine.ts";
import { startServer } from "../src/server.ts";
import { openConfiguredDatabase } from "../src/server.ts";
import { createUser } from "../src/core/users.ts";
import { createWorkspace } from "../src/core/workspaces.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import { resolveUserActor } from "../src/auth/user_actor.ts";
import { ALL_SCOPES } from "../src/auth/actor.ts";
import { postConversation } from "../src/core/conversations.ts";
import { registerRelayServer } from "../src/core/relay_registry.ts";
import { RelayClientTransport } from "../src/relay/transport.ts";
import type { Deps } from "../src/deps.ts";
import type { BenchResult } from "./result.ts";

const ROUND_TRIPS = Number(Deno.env.get("BENCH_RELAY_ROUND_TRIPS") ?? 2000);
const STREAMS = Number(Deno.env.get("BENCH_RELAY_STREAMS") ?? 1000);
const WARMUP = 100;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
}

/** A user with a personal token in a fresh workspace (through the core). */
async function createBenchUser(deps: Pick<Deps, "db">, i: number) {
  const user = await createUser(deps.db, {
    email: `bench${i}@example.com`,
    name: `Bench ${i}`,
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: `Bench ${i}`, adminUserId: user.id });
  const { secret } = await issuePersonalToken(deps.db, {
    workspaceId: ws.id,
    userId: user.id,
    name: "b",
  });
  return { user, ws, token: secret };
}

/** Client side of the relay: reads the SSE stream, answers every request by POST. */
async function runResponder(url: string, wId: string, token: string, serverId: string) {
  const auth = { Authorization: `Bearer ${token}` };
  const res = await fetch(`${url}/api/v1/w/${wId}/mcp/requests?serverId=${serverId}`, {
    headers: auth,
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const loop = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!frame.startsWith("data: {")) continue;
        const { data } = JSON.parse(frame.slice(6));
        const r = await fetch(`${url}/api/v1/w/${wId}/mcp/results`, {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/json" },
          body: JSON.stringify({ serverId, result: { jsonrpc: "2.0", id: data.id, result: {} } }),
        });
        await r.body?.cancel();
      }
    }
  })();
  return { stop: async () => (await reader.cancel(), await loop) };
}

/** Sequential relay round trips through the real server; returns latency samples (ms). */
async function measureRoundTrips(): Promise<number[]> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-" });
  const database = await benchDatabase();
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "warn", ...database.flags },
    {},
  );
  const server = await startServer(config).catch(async (
    e,
  ) => (await database.drop(), Promise.reject(e)));
  try {
    const deps = server.deps;
    const u = await createBenchUser(deps, 0);
    const actor = (await resolveUserActor(deps, {
      userSId: u.user.sId,
      workspaceSId: u.ws.sId,
      scopes: new Set(ALL_SCOPES),
      credential: { kind: "personal_token", id: "bench" },
    }))!;
    const { serverId } = await registerRelayServer(deps, actor, { serverName: "Bench Tools" });
    const convo = await postConversation(deps, actor, {
      title: "bench",
      visibility: "unlisted",
      post: {
        content: "hi",
        mentions: [],
        context: { username: "b", timezone: "UTC" },
        contentFragments: [],
      },
    });
    const responder = await runResponder(server.url, u.ws.sId, u.token, serverId);
    const transport = new RelayClientTransport(deps, {
      serverId,
      conversationId: convo.conversation.sId,
      messageId: convo.userMessage!.sId as string,
    });
    let resolve: () => void = () => {};
    transport.onmessage = () => resolve();
    await transport.start();
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + ROUND_TRIPS; i++) {
      const got = new Promise<void>((r) => (resolve = r));
      const t0 = performance.now();
      await transport.send({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: "x" } });
      await got;
      if (i >= WARMUP) samples.push(performance.now() - t0);
    }
    await transport.close();
    await responder.stop();
    return samples;
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
    await database.drop();
  }
}

/** Sequential fetch POST round trips to a bare Deno.serve echo. */
async function measureEchoRoundTrips(): Promise<number[]> {
  const echo = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) =>
      new Response(await req.text(), { headers: { "Content-Type": "application/json" } }),
  );
  const url = `http://127.0.0.1:${echo.addr.port}/`;
  const samples: number[] = [];
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, result: {} });
  for (let i = 0; i < WARMUP + ROUND_TRIPS; i++) {
    const t0 = performance.now();
    const r = await fetch(url, {
      method: "POST",
      body,
      headers: { "Content-Type": "application/json" },
    });
    await r.text();
    if (i >= WARMUP) samples.push(performance.now() - t0);
  }
  await echo.shutdown();
  return samples;
}

/** Resident set size of a process, in KiB (`ps`: reading /proc needs --allow-all in Deno). */
async function rssKiB(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  const kib = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isFinite(kib)) throw new Error(`ps failed for pid ${pid}`);
  return kib;
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(url).then(async (r) => (await r.body?.cancel(), true)).catch(() =>
      false
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Open `urls` as SSE streams, wait for a first frame on each; returns the closers. */
async function openStreams(urls: { url: string; token?: string }[]) {
  const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  for (let i = 0; i < urls.length; i += 50) {
    await Promise.all(
      urls.slice(i, i + 50).map(async ({ url, token }) => {
        const res = await fetch(url, {
          headers: token ? { Authorization: `Bearer ${token}` } : {},
        });
        if (res.status !== 200) throw new Error(`stream ${url}: ${res.status}`);
        const reader = res.body!.getReader();
        await reader.read();
        readers.push(reader);
      }),
    );
  }
  return () => Promise.all(readers.map((r) => r.cancel().catch(() => {})));
}

/** RSS growth of a process while it holds the streams: [before, after] KiB. */
async function rssWithStreams(
  pid: number,
  urls: { url: string; token?: string }[],
): Promise<[number, number]> {
  await new Promise((r) => setTimeout(r, 500));
  const before = await rssKiB(pid);
  const close = await openStreams(urls);
  await new Promise((r) => setTimeout(r, 1000));
  const after = await rssKiB(pid);
  await close();
  return [before, after];
}

const BASELINE_SSE = `
const enc = new TextEncoder();
Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} }, (req) =>
  new URL(req.url).pathname === "/healthz" ? new Response("ok") : new Response(
    new ReadableStream({ start(c) { c.enqueue(enc.encode(": hi\\n\\n")); } }),
    { headers: { "Content-Type": "text/event-stream" } }));
`;

async function measureStreamMemory() {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  // Users, tokens and registrations are created before the server process starts.
  const database = await benchDatabase();
  const databaseUrl = database.flags["database-url"] ?? null;
  const db = await openConfiguredDatabase({ dataDir, databaseUrl });
  const users = [];
  for (let i = 0; i < 20; i++) users.push(await createBenchUser({ db }, i));
  await db.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "--data-dir",
      dataDir,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--log-level",
      "error",
      // This measures memory per open stream, not the stream budget: let every stream open.
      "--streams-per-user",
      String(Math.ceil(STREAMS / users.length)),
      "--streams-total",
      String(STREAMS),
      ...(databaseUrl ? ["--database-url", databaseUrl] : []),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitHttp(`${url}/healthz`);
    const streams: { url: string; token: string }[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const u = users[i % users.length];
      const r = await fetch(`${url}/api/v1/w/${u.ws.sId}/mcp/register`, {
        method: "POST",
        headers: { Authorization: `Bearer ${u.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ serverName: `Bench ${i}` }),
      });
      const { serverId } = await r.json();
      streams.push({
        url: `${url}/api/v1/w/${u.ws.sId}/mcp/requests?serverId=${serverId}`,
        token: u.token,
      });
    }
    return await rssWithStreams(child.pid, streams);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
    await database.drop();
  }
}

async function measureBaselineStreamMemory() {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", BASELINE_SSE, String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`);
    const urls = Array.from(
      { length: STREAMS },
      (_, i) => ({ url: `http://127.0.0.1:${port}/s${i}` }),
    );
    return await rssWithStreams(child.pid, urls);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

/** Run on SQLite, and by bench/run.ts on PostgreSQL too. */
export const engines = ["sqlite", "postgres"];

export async function run(): Promise<BenchResult> {
  const echo = stats(await measureEchoRoundTrips());
  const relay = stats(await measureRoundTrips());
  const [bBefore, bAfter] = await measureBaselineStreamMemory();
  const [rBefore, rAfter] = await measureStreamMemory();
  const perStream = (a: number, b: number) => (b - a) / STREAMS;
  const relayKiB = perStream(rBefore, rAfter);
  const baseKiB = perStream(bBefore, bAfter);
  const f = (v: number) => v.toFixed(3);
  return {
    name: "relay",
    ratio: relay.p50 / echo.p50,
    ratioLabel: "relay round trip p50 ÷ bare Deno.serve fetch echo p50 (lower is better)",
    lines: [
      `engine ${benchEngine()}; round trip (n=${relay.n}): relay p50 ${f(relay.p50)} ms, p99 ${
        f(relay.p99)
      } ms; ` +
      `echo baseline p50 ${f(echo.p50)} ms, p99 ${f(echo.p99)} ms; p99 ratio ${
        f(relay.p99 / echo.p99)
      }`,
      `${STREAMS} open streams: dust-mcp RSS ${rBefore} → ${rAfter} KiB (${
        relayKiB.toFixed(1)
      } KiB/stream); ` +
      `bare Deno.serve SSE RSS ${bBefore} → ${bAfter} KiB (${baseKiB.toFixed(1)} KiB/stream); ` +
      `per-stream ratio ${f(relayKiB / baseKiB)}`,
    ],
    figures: {
      roundTrip: { relay, echo },
      streams: {
        count: STREAMS,
        relayKiB: [rBefore, rAfter],
        baselineKiB: [bBefore, bAfter],
        relayKiBPerStream: relayKiB,
        baselineKiBPerStream: baseKiB,
      },
    },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
}
