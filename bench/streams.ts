/**
 * 10,000 open event streams (issue 15, item 4): RSS while they are open, how long one event
 * takes to reach every one of them, and the RSS left once they have closed.
 *
 * The server is a child process (`deno run -A main.ts`, `--streams-total` and
 * `--streams-per-user` raised to BENCH_STREAMS + 100), its RSS read from `/proc/<pid>/status`.
 * BENCH_STREAMS (default 10,000) raw TCP connections from this process open a conversation's
 * `…/events` stream (BENCH_STREAM_USERS members, default 1; each stream waits for its
 * handshake), in batches of 200. Then one message is posted to the conversation: its
 * `user_message_new` event is published to every stream; the latency of each stream is the time
 * from the POST until its connection reads the event's frame. Then every connection closes and,
 * 3 s later, RSS is read again. Repeated BENCH_STREAM_EVENTS (default 5) times on the same open
 * streams (one event each, p99 over all deliveries).
 *
 * Baseline, same run, same client: a bare `Deno.serve` broadcaster (an SSE stream per
 * connection, one `enqueue` per stream per event) with the same connections and events. Ratios:
 * delivery p99 and RSS per open stream against it.
 *
 * Needs `ulimit -n` ≥ BENCH_STREAMS + 200 (each side holds one descriptor per connection; the
 * client and the server are two processes). Run time ~1–2 min.
 *
 * Run: `deno task bench streams` (on SQLite, then on PostgreSQL), or `deno run -A bench/streams.ts`.
 * @module
 */
import { openConfiguredDatabase } from "../src/server.ts";
import { createUser } from "../src/core/users.ts";
import { addMember, createWorkspace } from "../src/core/workspaces.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import type { BenchResult } from "./result.ts";
import { benchDatabase, benchEngine } from "./engine.ts";

const envInt = (name: string, fallback: number) => {
  const n = Math.floor(Number(Deno.env.get(name) ?? fallback));
  return Number.isFinite(n) && n > 0 ? n : fallback;
};
/** Open files this process may hold (`ulimit -n`): each side holds one per connection. */
async function fdLimit(): Promise<number> {
  const out = await new Deno.Command("sh", { args: ["-c", "ulimit -n"] }).output();
  const n = Number(new TextDecoder().decode(out.stdout).trim());
  return Number.isFinite(n) ? n : Infinity;
}
const WANTED = envInt("BENCH_STREAMS", 10_000);
const FD_LIMIT = await fdLimit();
/** Fewer streams than asked when the descriptor limit would not hold them (printed). */
const STREAMS = Math.min(WANTED, Math.max(100, FD_LIMIT - 200));
const USERS = envInt("BENCH_STREAM_USERS", 1);
const EVENTS = envInt("BENCH_STREAM_EVENTS", 5);
const OPEN_BATCH = 200;
const DELIVERY_TIMEOUT_MS = 30_000;
const AFTER_CLOSE_MS = 3_000;
/** Extra environment of both servers (e.g. `GLIBC_TUNABLES=…`), as NAME=value pairs. */
const SERVER_ENV = Object.fromEntries(
  (Deno.env.get("BENCH_STREAMS_SERVER_ENV") ?? "").split(/\s+/).filter((x) => x.includes("="))
    .map((x) => [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)]),
);
/** Extra `deno run` flags of the product server (e.g. `--cpu-prof`). */
const SERVER_FLAGS = (Deno.env.get("BENCH_STREAMS_SERVER_FLAGS") ?? "").split(/\s+/)
  .filter(Boolean);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function rssMiB(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const status = new TextDecoder().decode(out.stdout);
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)![1]) / 1024;
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(url).then(async (r) => (await r.body?.cancel(), true), () => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${url} never answered`);
}

/**
 * One streaming connection: `next(marker)` resolves with the time its connection first reads
 * `marker` in bytes arriving from then on (the replay of earlier events, read right after the
 * handshake, is never matched). Bytes are searched as they come, never kept: the client must
 * cost less than the servers it measures.
 */
class Reader {
  conn!: Deno.TcpConn;
  #waiting: { marker: Uint8Array; resolve: (t: number) => void } | null = null;
  /** The last bytes of the previous read (a marker split across two reads). */
  #tail = new Uint8Array(0);

  async open(port: number, request: Uint8Array, handshake: string): Promise<void> {
    this.conn = await Deno.connect({ hostname: "127.0.0.1", port });
    for (let off = 0; off < request.length;) off += await this.conn.write(request.subarray(off));
    const got = this.next(handshake);
    void this.#loop();
    await got;
  }

  next(marker: string): Promise<number> {
    this.#tail = new Uint8Array(0);
    return new Promise((resolve) => {
      this.#waiting = { marker: new TextEncoder().encode(marker), resolve };
    });
  }

  #seen(chunk: Uint8Array): boolean {
    const m = this.#waiting!.marker;
    const hay = this.#tail.length ? new Uint8Array([...this.#tail, ...chunk]) : chunk;
    outer: for (let i = 0; i + m.length <= hay.length; i++) {
      if (hay[i] !== m[0]) continue;
      for (let j = 1; j < m.length; j++) if (hay[i + j] !== m[j]) continue outer;
      return true;
    }
    this.#tail = hay.slice(Math.max(0, hay.length - m.length + 1));
    return false;
  }

  async #loop(): Promise<void> {
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        if (this.#waiting && this.#seen(buf.subarray(0, n))) {
          const w = this.#waiting;
          this.#waiting = null;
          w.resolve(performance.now());
        }
      }
    } catch { /* closed */ }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already */ }
  }
}

async function openAll(
  port: number,
  requests: Uint8Array[],
  handshake: string,
): Promise<{ readers: Reader[]; seconds: number }> {
  const t0 = performance.now();
  const readers: Reader[] = [];
  for (let i = 0; i < STREAMS; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, STREAMS - i) }, () => new Reader());
    await Promise.all(
      batch.map((r, j) => r.open(port, requests[(i + j) % requests.length], handshake)),
    );
    readers.push(...batch);
  }
  return { readers, seconds: (performance.now() - t0) / 1000 };
}

/** Publish `EVENTS` events one after the other; every delivery's latency (ms). */
async function deliver(readers: Reader[], marker: string, publish: () => Promise<void>) {
  const latencies: number[] = [];
  const publishMs: number[] = [];
  let lost = 0;
  for (let e = 0; e < EVENTS; e++) {
    const arrivals = readers.map((r) => r.next(marker));
    const t0 = performance.now();
    await publish();
    publishMs.push(performance.now() - t0);
    const timeout = sleep(DELIVERY_TIMEOUT_MS).then(() => NaN);
    const times = await Promise.all(arrivals.map((a) => Promise.race([a, timeout])));
    for (const t of times) {
      if (Number.isNaN(t)) lost++;
      else latencies.push(t - t0);
    }
    await sleep(500);
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  publishMs.sort((a, b) => a - b);
  return {
    p50: q(0.5),
    p99: q(0.99),
    max: latencies[latencies.length - 1],
    lost,
    publishP50: publishMs[Math.floor(publishMs.length / 2)],
  };
}

interface Scenario {
  idleMiB: number;
  openMiB: number;
  afterEventsMiB: number;
  closedMiB: number;
  /** RSS after glibc's malloc_trim(0) (bare server, BENCH_STREAMS_TRIM=1 only). */
  trimmedMiB?: number;
  openSeconds: number;
  delivery: { p50: number; p99: number; max: number; lost: number; publishP50: number };
}

async function measure(
  pid: number,
  port: number,
  requests: Uint8Array[],
  handshake: string,
  marker: string,
  publish: () => Promise<void>,
): Promise<Scenario> {
  await sleep(1000);
  const idleMiB = await rssMiB(pid);
  const { readers, seconds } = await openAll(port, requests, handshake);
  await sleep(1000);
  const openMiB = await rssMiB(pid);
  const delivery = await deliver(readers, marker, publish);
  const afterEventsMiB = await rssMiB(pid);
  for (const r of readers) r.close();
  await sleep(AFTER_CLOSE_MS);
  const closedMiB = await rssMiB(pid);
  return { idleMiB, openMiB, afterEventsMiB, closedMiB, openSeconds: seconds, delivery };
}

/** Members with personal tokens and one conversation they all read (before the server runs). */
async function seed(dataDir: string, databaseUrl: string | null) {
  const db = await openConfiguredDatabase({ dataDir, databaseUrl });
  try {
    const admin = await createUser(db, { email: "admin@example.com", name: "A", password: null });
    const ws = await createWorkspace(db, { name: "Bench", adminUserId: admin.id });
    const tokens = [
      (await issuePersonalToken(db, { workspaceId: ws.id, userId: admin.id, name: "b" })).secret,
    ];
    for (let i = 1; i < USERS; i++) {
      const u = await createUser(db, { email: `m${i}@example.com`, name: `M${i}`, password: null });
      await addMember(db, { workspaceId: ws.id, userId: u.id, role: "user" });
      tokens.push(
        (await issuePersonalToken(db, { workspaceId: ws.id, userId: u.id, name: "b" })).secret,
      );
    }
    return { wId: ws.sId, tokens };
  } finally {
    await db.close();
  }
}

async function product(): Promise<Scenario> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-streams-" });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  // PostgreSQL (the second pass of `deno task bench`): a fresh database; events then reach the
  // server's streams through LISTEN/NOTIFY, as they would from another instance.
  const database = await benchDatabase();
  const { wId, tokens } = await seed(dataDir, database.flags["database-url"] ?? null);
  const limit = String(STREAMS + 100);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...SERVER_FLAGS,
      new URL("../main.ts", import.meta.url).pathname,
      ...["--data-dir", dataDir, "--port", String(port), "--host", "127.0.0.1"],
      ...["--log-level", "error", "--streams-total", limit, "--streams-per-user", limit],
      ...Object.entries(database.flags).flatMap(([k, v]) => [`--${k}`, v]),
    ],
    stdout: "null",
    stderr: "inherit",
    env: SERVER_ENV,
  }).spawn();
  try {
    await waitHttp(`${url}/healthz`);
    const base = `${url}/api/v1/w/${wId}/assistant/conversations`;
    const headers = { Authorization: `Bearer ${tokens[0]}`, "Content-Type": "application/json" };
    const message = (text: string) => ({
      content: text,
      mentions: [],
      context: { username: "admin", timezone: "UTC" },
    });
    // A workspace-visible conversation every member reads.
    const created = await fetch(base, {
      method: "POST",
      headers,
      body: JSON.stringify({ title: "fan-out", visibility: "workspace", message: message("hi") }),
    });
    if (created.status !== 200) {
      throw new Error(`create: ${created.status} ${await created.text()}`);
    }
    const cId = (await created.json()).conversation.sId;
    const path = `/api/v1/w/${wId}/assistant/conversations/${cId}/events`;
    const requests = tokens.map((t) =>
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t}\r\n\r\n`,
      )
    );
    let n = 0;
    return await measure(
      child.pid,
      port,
      requests,
      "dust-handshake",
      '"user_message_new"',
      async () => {
        const r = await fetch(`${base}/${cId}/messages`, {
          method: "POST",
          headers,
          body: JSON.stringify(message(`event ${n++}`)),
        });
        if (r.status !== 200) throw new Error(`post: ${r.status} ${await r.text()}`);
        await r.body?.cancel();
      },
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
    await database.drop();
  }
}

/** A bare `Deno.serve` broadcaster: one SSE stream per connection, `POST /publish` fans out. */
const BARE = `
const enc = new TextEncoder();
const streams = new Set();
Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} }, (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/healthz") return new Response("ok");
  if (path === "/trim") {
    // Diagnosis only (BENCH_STREAMS_TRIM=1): glibc's malloc_trim(0), to show where the RSS kept
    // after the streams closed sits (freed allocator pages, not live memory).
    const libc = Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } });
    libc.symbols.malloc_trim(0);
    libc.close();
    return new Response("ok");
  }
  if (path === "/publish") {
    const frame = enc.encode('data: {"type":"user_message_new","n":' + Date.now() + '}\\n\\n');
    for (const c of streams) c.enqueue(frame);
    return new Response("ok");
  }
  let me;
  return new Response(new ReadableStream({
    start(c) { me = c; streams.add(c); c.enqueue(enc.encode("event: hello\\ndata: {}\\n\\n")); },
    cancel() { streams.delete(me); },
  }), { headers: { "Content-Type": "text/event-stream" } });
});
`;

async function bare(): Promise<Scenario> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", BARE, String(port)],
    stdout: "null",
    stderr: "inherit",
    env: SERVER_ENV,
  }).spawn();
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`);
    const request = new TextEncoder().encode(`GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const s = await measure(
      child.pid,
      port,
      [request],
      "event: hello",
      '"user_message_new"',
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/publish`, { method: "POST" });
        await r.body?.cancel();
      },
    );
    if (Deno.env.get("BENCH_STREAMS_TRIM") === "1") {
      await (await fetch(`http://127.0.0.1:${port}/trim`)).body?.cancel();
      await sleep(500);
      s.trimmedMiB = await rssMiB(child.pid);
    }
    return s;
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

const NONE: Scenario = {
  idleMiB: NaN,
  openMiB: NaN,
  afterEventsMiB: NaN,
  closedMiB: NaN,
  openSeconds: NaN,
  delivery: { p50: NaN, p99: NaN, max: NaN, lost: 0, publishP50: NaN },
};

function describe(label: string, s: Scenario): string {
  const perStream = ((s.openMiB - s.idleMiB) * 1024) / STREAMS;
  const trimmed = s.trimmedMiB === undefined
    ? ""
    : ` → after malloc_trim(0) ${s.trimmedMiB.toFixed(0)} MiB`;
  return [
    `${label}: RSS idle ${s.idleMiB.toFixed(0)} MiB → ${STREAMS} open ${s.openMiB.toFixed(0)} MiB`,
    `(${perStream.toFixed(1)} KiB/stream, opened in ${s.openSeconds.toFixed(1)} s)`,
    `→ after ${EVENTS} events ${s.afterEventsMiB.toFixed(0)} → closed ${
      s.closedMiB.toFixed(0)
    } MiB${trimmed};`,
    `delivery p50 ${s.delivery.p50.toFixed(1)} ms, p99 ${s.delivery.p99.toFixed(1)} ms,`,
    `max ${s.delivery.max.toFixed(1)} ms, lost ${s.delivery.lost}`,
    `(publishing request p50 ${s.delivery.publishP50.toFixed(1)} ms)`,
  ].join(" ");
}

export async function run(): Promise<BenchResult> {
  const only = Deno.env.get("BENCH_STREAMS_ONLY");
  const base = only === "product" ? NONE : await bare();
  const prod = only === "bare" ? NONE : await product();
  const failures: string[] = [];
  if (prod.openMiB >= 1024) {
    failures.push(`RSS with ${STREAMS} streams ${prod.openMiB} MiB ≥ 1 GiB`);
  }
  // Issue 15's 200 ms p99 is a target, not a pass bar: on a shared 2-core machine the bare
  // server misses it too (the client shares the cores); it is reported against the baseline.
  const target = prod.delivery.p99 <= 200 ? "met" : "not met";
  if (prod.delivery.lost > 0) failures.push(`${prod.delivery.lost} deliveries lost`);
  const perStream = (s: Scenario) => (s.openMiB - s.idleMiB) / STREAMS;
  return {
    name: "streams",
    ratio: prod.delivery.p99 / base.delivery.p99,
    ratioLabel: `delivery p99 of one event to ${STREAMS} open conversation streams ÷ a bare ` +
      "Deno.serve broadcaster's, same client (lower is better)",
    lines: [
      ...(STREAMS < WANTED
        ? [
          `only ${STREAMS} of ${WANTED} streams: ulimit -n is ${FD_LIMIT} (raise it to measure all)`,
        ]
        : []),
      describe("bare Deno.serve broadcaster (baseline)", base),
      describe(
        `product on ${benchEngine() === "postgres" ? "PostgreSQL" : "SQLite"} ` +
          `(${USERS} member${USERS > 1 ? "s" : ""})`,
        prod,
      ),
      `delivery p99 target 200 ms: ${target} (bare ${base.delivery.p99.toFixed(0)} ms in this run)`,
      `RSS per open stream ${(perStream(prod) / perStream(base)).toFixed(2)}× the bare server's; ` +
      `RSS kept after closing: product ${(prod.closedMiB - prod.idleMiB).toFixed(0)} MiB, bare ${
        (base.closedMiB - base.idleMiB).toFixed(0)
      } MiB over idle`,
    ],
    failures,
    figures: { streams: STREAMS, users: USERS, events: EVENTS, bare: base, product: prod },
  };
}

/** `deno task bench` runs it once per engine. */
export const engines = ["sqlite", "postgres"];

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
  console.log(`ratio ${r.ratio.toFixed(2)}: ${r.ratioLabel}`);
}
