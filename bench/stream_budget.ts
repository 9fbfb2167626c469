/**
 * Issue 10, finding 1 at bounded scale: event streams nobody reads. A `user` member posts
 * BENCH_STREAM_MESSAGES (default 5) messages of ~1.9 MB in their own conversation, then opens
 * BENCH_STREAM_CONNECTIONS (default 600) raw TCP connections to its `…/events` stream that send
 * the request and never read, holds them BENCH_STREAM_HOLD_MS (default 15 s: longer than the
 * 10 s a full buffer may wait for its reader), and closes them. Meanwhile another client
 * (a Worker thread) calls `/healthz` back to back.
 *
 * The server is a child process (`deno run -A main.ts`), so its resident memory is read from
 * `/proc/<pid>/status`: the peak (sampled every 100 ms, and VmHWM) and the value 3 s after the
 * sockets closed. Baseline, same run, same server: `/healthz` p99 while the server is idle (after
 * the messages were posted). Ratio: /healthz p99 under the attack ÷ idle p99.
 *
 * Two servers: the defaults (the per-user cap refuses most connections with 429), and one with
 * the per-user cap lifted (`--streams-per-user` ≥ connections) so that the one member takes
 * every slot the instance has (500 by default): the aggregate worst case of the defaults.
 * Pass bars: peak RSS < 1 GB and attack /healthz p99 < 100 ms on both. For scale, the same
 * connections against a bare `Deno.serve` that streams endless chunks (pulled as the socket
 * takes them): the RSS Deno itself spends on such clients, and keeps after they close (its
 * allocator does not give the freed buffers back to the system).
 *
 * Run: `deno task bench stream_budget` (or `deno run -A bench/stream_budget.ts`).
 * @module
 */
import { openConfiguredDatabase } from "../src/server.ts";
import { createUser } from "../src/core/users.ts";
import { addMember, createWorkspace } from "../src/core/workspaces.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import { type LoadResult, runLoad } from "./load.ts";
import type { BenchResult } from "./result.ts";

const envInt = (name: string, fallback: number) => {
  const n = Math.floor(Number(Deno.env.get(name) ?? fallback));
  return Number.isFinite(n) && n > 0 ? n : fallback;
};
const CONNECTIONS = envInt("BENCH_STREAM_CONNECTIONS", 600);
const MESSAGES = envInt("BENCH_STREAM_MESSAGES", 5);
const MESSAGE_CHARS = 1_900_000;
const HOLD_MS = envInt("BENCH_STREAM_HOLD_MS", 15_000);
const IDLE_MS = 5_000;
const AFTER_CLOSE_MS = 3_000;
const RSS_LIMIT_MB = 1024;
const HEALTHZ_P99_LIMIT_MS = 100;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * VmRSS and VmHWM of a process, in MiB, from `/proc/<pid>/status` (read through `cat`: Deno
 * opens /proc only with --allow-all, and `deno task bench` grants --allow-run instead).
 */
async function memoryMiB(pid: number): Promise<{ rss: number; hwm: number }> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  if (!out.success) throw new Error(`cannot read /proc/${pid}/status`);
  const status = new TextDecoder().decode(out.stdout);
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)![1]);
  return { rss: kib("VmRSS") / 1024, hwm: kib("VmHWM") / 1024 };
}

/** An admin and a `user` member of one workspace, with personal tokens (before the server runs). */
async function seed(dataDir: string) {
  const db = await openConfiguredDatabase({ dataDir, databaseUrl: null });
  try {
    const admin = await createUser(db, { email: "admin@example.com", name: "A", password: null });
    const member = await createUser(db, { email: "member@example.com", name: "M", password: null });
    const ws = await createWorkspace(db, { name: "Bench", adminUserId: admin.id });
    await addMember(db, { workspaceId: ws.id, userId: member.id, role: "user" });
    const token = await issuePersonalToken(db, {
      workspaceId: ws.id,
      userId: member.id,
      name: "b",
    });
    return { wId: ws.sId, token: token.secret };
  } finally {
    await db.close();
  }
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(url).then(async (r) => (await r.body?.cancel(), true), () => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${url} never answered`);
}

/** The member's conversation of MESSAGES large messages; returns its events path. */
async function postConversation(url: string, wId: string, token: string): Promise<string> {
  const base = `${url}/api/v1/w/${wId}/assistant/conversations`;
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  const message = (i: number) => ({
    content: `${i} `.padEnd(MESSAGE_CHARS, "x"),
    mentions: [],
    context: { username: "member", timezone: "UTC" },
  });
  const created = await fetch(base, {
    method: "POST",
    headers,
    body: JSON.stringify({ title: "big", message: message(0) }),
  });
  if (created.status !== 200) throw new Error(`create: ${created.status} ${await created.text()}`);
  const cId = (await created.json()).conversation.sId;
  for (let i = 1; i < MESSAGES; i++) {
    const r = await fetch(`${base}/${cId}/messages`, {
      method: "POST",
      headers,
      body: JSON.stringify(message(i)),
    });
    if (r.status !== 200) throw new Error(`post: ${r.status} ${await r.text()}`);
  }
  return `/api/v1/w/${wId}/assistant/conversations/${cId}/events`;
}

/** Open `n` connections that send the stream request and never read. */
async function openNonReaders(port: number, path: string, token: string, n: number) {
  const request = new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      for (let off = 0; off < request.length;) off += await conn.write(request.subarray(off));
    }));
  }
  return conns;
}

/** The status of each connection's response (reads its first bytes only), then closes it. */
async function statusesAndClose(conns: Deno.TcpConn[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await Promise.all(conns.map(async (conn) => {
    const buf = new Uint8Array(64);
    let status = "none";
    const n = await Promise.race([conn.read(buf).catch(() => null), sleep(2000).then(() => null)]);
    if (n) status = new TextDecoder().decode(buf.subarray(9, 12));
    counts[status] = (counts[status] ?? 0) + 1;
    try {
      conn.close();
    } catch { /* already closed */ }
  }));
  return counts;
}

/** A bare Deno.serve that streams endless 16 KiB chunks, pulled as the socket takes them. */
const BARE_STREAMER = `
const chunk = new Uint8Array(16384).fill(120);
Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} }, (req) =>
  new URL(req.url).pathname === "/healthz" ? new Response("ok") : new Response(
    new ReadableStream({ pull(c) { c.enqueue(chunk.slice()); } },
      new ByteLengthQueuingStrategy({ highWaterMark: 65536 })),
    { headers: { "Content-Type": "text/event-stream" } }));
`;

interface MemoryFigures {
  baseMiB: number;
  peakMiB: number;
  hwmMiB: number;
  afterMiB: number;
}

/**
 * Open the non-reading connections, hold them, read their statuses and close them, sampling
 * the server's RSS every 100 ms; RSS `AFTER_CLOSE_MS` after the close.
 */
async function holdNonReaders(pid: number, port: number, path: string, token: string) {
  const baseMiB = (await memoryMiB(pid)).rss;
  let peakMiB = baseMiB;
  const sampler = setInterval(async () => {
    peakMiB = Math.max(peakMiB, (await memoryMiB(pid).catch(() => ({ rss: 0 }))).rss);
  }, 100);
  const conns = await openNonReaders(port, path, token, CONNECTIONS);
  await sleep(HOLD_MS);
  const statuses = await statusesAndClose(conns);
  await sleep(AFTER_CLOSE_MS);
  clearInterval(sampler);
  const mem = await memoryMiB(pid);
  const memory: MemoryFigures = {
    baseMiB,
    peakMiB: Math.max(peakMiB, mem.rss),
    hwmMiB: mem.hwm,
    afterMiB: mem.rss,
  };
  return { memory, statuses };
}

/** The same connections against the bare streamer: Deno's own cost of such clients. */
async function bareBaseline(): Promise<MemoryFigures> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", BARE_STREAMER, String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`);
    await sleep(500);
    return (await holdNonReaders(child.pid, port, "/stream", "none")).memory;
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

interface ScenarioResult extends MemoryFigures {
  label: string;
  idle: LoadResult;
  attack: LoadResult;
  statuses: Record<string, number>;
}

/** One server: idle /healthz, then the attack with /healthz measured throughout. */
async function scenario(label: string, extraArgs: string[]): Promise<ScenarioResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const member = await seed(dataDir);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      ...["--data-dir", dataDir, "--port", String(port), "--host", "127.0.0.1"],
      ...["--log-level", "error", ...extraArgs],
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitHttp(`${url}/healthz`);
    const events = await postConversation(url, member.wId, member.token);
    const healthz = { target: { url: `${url}/healthz` }, concurrency: 1 };
    const idle = await runLoad({ ...healthz, durationMs: IDLE_MS, warmupMs: 1000 });
    await sleep(500);
    // /healthz throughout: opening, holding, closing and the pause after it.
    const during = runLoad({ ...healthz, durationMs: 2_000 + HOLD_MS + AFTER_CLOSE_MS });
    const held = await holdNonReaders(child.pid, port, events, member.token);
    const attack = await during;
    return { label, idle, attack, ...held.memory, statuses: held.statuses };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
  }
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

function describe(r: ScenarioResult): string[] {
  const statuses = Object.entries(r.statuses).map(([k, v]) => `${v}× ${k}`).join(", ");
  return [
    `${r.label}: ${CONNECTIONS} non-reading connections (${statuses}), held ${HOLD_MS / 1000} s`,
    `  server RSS: ${describeMemory(r)}`,
    `  /healthz: idle p99 ${ms(r.idle.p99Ms)}; under attack p99 ${ms(r.attack.p99Ms)}, ` +
    `p50 ${ms(r.attack.p50Ms)}, max ${ms(r.attack.maxMs)} (${r.attack.requests} requests, ` +
    `${r.attack.errors} errors); p99 ratio ${(r.attack.p99Ms / r.idle.p99Ms).toFixed(2)}`,
  ];
}

function describeMemory(m: MemoryFigures): string {
  const f = (v: number) => v.toFixed(1);
  return `idle ${f(m.baseMiB)} MiB, peak ${f(m.peakMiB)} MiB (VmHWM ${f(m.hwmMiB)}), ` +
    `${AFTER_CLOSE_MS / 1000} s after close ${f(m.afterMiB)} MiB`;
}

export async function run(): Promise<BenchResult> {
  const bare = await bareBaseline();
  const capped = await scenario("defaults (32 per user, 500 in total)", []);
  // Every stream the instance allows, from one member: the aggregate worst case at defaults.
  const uncapped = await scenario(`--streams-per-user ${CONNECTIONS} (the 500 in total bind)`, [
    "--streams-per-user",
    String(CONNECTIONS),
  ]);
  const failures: string[] = [];
  for (const r of [capped, uncapped]) {
    if (r.peakMiB >= RSS_LIMIT_MB) {
      failures.push(`${r.label}: peak RSS ${r.peakMiB.toFixed(0)} MiB`);
    }
    if (!(r.attack.p99Ms < HEALTHZ_P99_LIMIT_MS)) {
      failures.push(`${r.label}: /healthz p99 ${r.attack.p99Ms.toFixed(1)} ms under attack`);
    }
  }
  return {
    name: "stream_budget",
    ratio: capped.attack.p99Ms / capped.idle.p99Ms,
    ratioLabel:
      "/healthz p99 while one member holds non-reading streams ÷ idle p99 (lower is better)",
    lines: [
      `${MESSAGES} messages of ${MESSAGE_CHARS} characters in one conversation`,
      ...describe(capped),
      ...describe(uncapped),
      `bare Deno.serve streamer, same ${CONNECTIONS} connections (Deno's own cost): RSS ${
        describeMemory(bare)
      }`,
    ],
    failures,
    figures: {
      connections: CONNECTIONS,
      messages: MESSAGES,
      holdMs: HOLD_MS,
      capped,
      uncapped,
      bare,
    },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
}
