/**
 * Mixed load on one real server (a `deno run main.ts` subprocess on loopback), issue 7 item 4.
 * For a fixed duration, at the same time:
 * - 32 MCP clients (one MCP token each, keep-alive, closed loop) calling `identity`, `search`
 *   and `list_conversations` in turn over `/mcp`;
 * - 1,000 open SSE streams: relay request streams (`GET mcp/requests`) and conversation event
 *   streams (`GET conversations/{cId}/events`), read to the end;
 * - steady REST writes at a fixed rate: conversation messages (each fans out as an event to
 *   that conversation's open streams) and document upserts (chunked and FTS-indexed).
 * Baseline, in the same run against the same server: the same MCP clients alone. The ratio is
 * MCP tool calls/s under the mixed load ÷ alone. Reported: throughput and p50/p99 per kind,
 * write → SSE delivery latency, errors (must be 0: any error marks the run failed, and
 * `deno task bench` then exits 1) and the server's RSS (idle, peaks; `ps`, sampled).
 *
 * Load generators run in three Workers (MCP clients; streams; writes), so no single client
 * event loop drives everything. The machine has 2 cores shared with the server: figures are
 * for the whole box, and ratios are what compare.
 *
 * Every posted message must reach every open stream of its conversation: an event not
 * delivered counts as an error.
 *
 * Knobs: BENCH_MIXED_WORKSPACES (1: a team; the 32 users are spread over them),
 * BENCH_MIXED_DOCS (3000 per workspace), BENCH_MIXED_SECONDS (20),
 * BENCH_MIXED_BASE_SECONDS (10), BENCH_MIXED_CLIENTS (32), BENCH_MIXED_STREAMS (1000, half
 * relay, half events), BENCH_MIXED_MSG_RATE (50/s), BENCH_MIXED_DOC_RATE (25/s),
 * BENCH_CPU_PROF (a directory: profile the server with --cpu-prof).
 * Run: `deno task bench load_mixed`.
 * @module
 */
import type { BenchResult } from "./result.ts";
import { benchDatabase } from "./engine.ts";
import type { Job, KindStats, Req, WorkerReply } from "./load_mixed_worker.ts";
import {
  benchDocumentText,
  rssKiB,
  sampleRss,
  seedDataDir,
  type SeededUser,
  spawnServer,
} from "./load_mixed_seed.ts";

function envNumber(name: string, fallback: number): number {
  const v = Number(Deno.env.get(name) ?? fallback);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const SECONDS = envNumber("BENCH_MIXED_SECONDS", 20);
const BASE_SECONDS = envNumber("BENCH_MIXED_BASE_SECONDS", 10);
const CLIENTS = Math.floor(envNumber("BENCH_MIXED_CLIENTS", 32));
const STREAMS = Math.floor(envNumber("BENCH_MIXED_STREAMS", 1000));
const MSG_RATE = envNumber("BENCH_MIXED_MSG_RATE", 50);
const DOC_RATE = envNumber("BENCH_MIXED_DOC_RATE", 25);
const WORKSPACES = Math.floor(envNumber("BENCH_MIXED_WORKSPACES", 1));
const DOCS_PER_WORKSPACE = Math.floor(envNumber("BENCH_MIXED_DOCS", 3000));
const CONVERSATIONS_PER_USER = 4;
const WARMUP_MS = 2000;

const MCP_HEADERS = {
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  "MCP-Protocol-Version": "2025-06-18",
};

/** Start a Worker on a job; resolves each reply in order. */
function startWorker(job: Job) {
  const w = new Worker(new URL("./load_mixed_worker.ts", import.meta.url), { type: "module" });
  const queue: WorkerReply[] = [];
  const waiting: ((r: WorkerReply) => void)[] = [];
  let failure: Error | null = null;
  w.onmessage = (e: MessageEvent<WorkerReply>) => {
    const next = waiting.shift();
    if (next) next(e.data);
    else queue.push(e.data);
  };
  w.onerror = (e) => {
    e.preventDefault();
    failure = new Error(`load worker (${job.role}) failed: ${e.message}`);
    for (const f of waiting.splice(0)) f({ type: "ready", opened: 0, errors: [], openMs: 0 });
  };
  w.postMessage(job);
  return {
    async next(): Promise<WorkerReply> {
      const r = queue.shift() ?? await new Promise<WorkerReply>((res) => waiting.push(res));
      if (failure) throw failure;
      return r;
    },
    send: (m: unknown) => w.postMessage(m),
    terminate: () => w.terminate(),
  };
}

function mcpCall(url: string, token: string, kind: string, args: Record<string, unknown>): Req {
  return {
    kind,
    url: `${url}/mcp`,
    method: "POST",
    headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: kind, arguments: args },
    }),
  };
}

/** Client i cycles through the three tools, starting at a different one than its neighbour. */
function mcpClients(url: string, users: SeededUser[]): Req[][] {
  return Array.from({ length: CLIENTS }, (_, i) => {
    const t = users[i % users.length].mcpToken;
    const calls = [
      mcpCall(url, t, "identity", {}),
      mcpCall(url, t, "search", { query: "zeppelin policy", topK: 10 }),
      mcpCall(url, t, "list_conversations", {}),
    ];
    return [...calls.slice(i % 3), ...calls.slice(0, i % 3)];
  });
}

function streamRequests(url: string, users: SeededUser[]) {
  const out: (Req & { kind: "relay" | "events" })[] = [];
  const relay = users.flatMap((u) => u.relayServerIds.map((s) => ({ u, s })));
  const convs = users.flatMap((u) => u.conversationIds.map((c) => ({ u, c })));
  for (let i = 0; i < STREAMS; i++) {
    const auth = (u: SeededUser) => ({ Authorization: `Bearer ${u.restToken}` });
    if (i % 2 === 0) {
      const { u, s } = relay[(i / 2) % relay.length];
      out.push({
        kind: "relay",
        url: `${url}/api/v1/w/${u.wId}/mcp/requests?serverId=${encodeURIComponent(s)}`,
        headers: auth(u),
      });
    } else {
      const { u, c } = convs[((i - 1) / 2) % convs.length];
      out.push({
        kind: "events",
        url: `${url}/api/v1/w/${u.wId}/assistant/conversations/${c}/events`,
        headers: auth(u),
      });
    }
  }
  return out;
}

function writeKinds(url: string, users: SeededUser[]) {
  const json = (u: SeededUser) => ({
    Authorization: `Bearer ${u.restToken}`,
    "Content-Type": "application/json",
  });
  const messages: Req[] = users.flatMap((u) =>
    u.conversationIds.map((c) => ({
      kind: "post_message",
      url: `${url}/api/v1/w/${u.wId}/assistant/conversations/${c}/messages`,
      headers: json(u),
      body: JSON.stringify({
        content: "bench-sent:{{t}} hello from the mixed load",
        mentions: [],
        context: { username: "bench", timezone: "UTC" },
      }),
    }))
  );
  const docs: Req[] = [];
  for (let d = 0; d < 50; d++) {
    for (const [i, u] of users.entries()) {
      docs.push({
        kind: "upsert_document",
        url: `${url}/api/v1/w/${u.wId}/spaces/${u.spaceId}/data_sources/${u.dataSourceId}` +
          `/documents/live-${i}-${d}`,
        headers: json(u),
        body: JSON.stringify({ text: benchDocumentText(d), title: `Live ${d}` }),
      });
    }
  }
  return [
    { kind: "post_message", ratePerSec: MSG_RATE, requests: messages },
    { kind: "upsert_document", ratePerSec: DOC_RATE, requests: docs },
  ];
}

type Phase = Extract<WorkerReply, { type: "mcp" }>;

function fmtKinds(label: string, kinds: Record<string, KindStats>): string[] {
  return Object.entries(kinds).map(([k, s]) =>
    `${label} ${k.padEnd(18)} ${s.perSec.toFixed(0).padStart(6)}/s  p50 ${
      s.p50Ms.toFixed(2)
    } ms  p99 ${s.p99Ms.toFixed(2)} ms  errors ${s.errors}/${s.ok + s.errors}`
  );
}

const total = (p: { kinds: Record<string, KindStats> }) =>
  Object.values(p.kinds).reduce((a, s) => a + s.perSec, 0);
const errorsOf = (p: { kinds: Record<string, KindStats> }) =>
  Object.values(p.kinds).reduce((a, s) => a + s.errors, 0);

/** Run on SQLite, and by bench/run.ts on PostgreSQL too. */
export const engines = ["sqlite", "postgres"];

export async function run(): Promise<BenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-mixed-" });
  const database = await benchDatabase();
  try {
    const users = Math.max(1, CLIENTS);
    const relayStreams = Math.ceil(STREAMS / 2);
    const seedStart = performance.now();
    const seeded = await seedDataDir(dataDir, {
      workspaces: Math.min(WORKSPACES, users),
      users,
      docsPerWorkspace: DOCS_PER_WORKSPACE,
      conversationsPerUser: CONVERSATIONS_PER_USER,
      relayServersPerUser: Math.ceil(relayStreams / users),
    }, database.flags);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const server = await spawnServer(dataDir, database.flags);
    try {
      return await measure(server.url, server.pid, seeded, seedSeconds);
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await database.drop();
  }
}

/** The MCP clients alone for BASE_SECONDS (the baseline), with the server's peak RSS. */
async function runBaseline(pid: number, clients: Req[][]) {
  const rss = sampleRss(pid);
  const worker = startWorker({
    role: "mcp",
    clients,
    durationMs: BASE_SECONDS * 1000,
    warmupMs: WARMUP_MS,
  });
  try {
    const base = await worker.next() as Phase;
    return { base, baseMem: await rss.stop() };
  } finally {
    worker.terminate();
    await rss.stop();
  }
}

/** Open the streams, then run the MCP clients and the writes together for SECONDS. */
async function runMixed(url: string, pid: number, users: SeededUser[], clients: Req[][]) {
  const rss = sampleRss(pid);
  const workers: Awaited<ReturnType<typeof startWorker>>[] = [];
  // On any failure, end every Worker (the streams one waits for "stop") and the sampler, so a
  // failed run exits instead of hanging.
  try {
    const streams = startWorker({ role: "streams", streams: streamRequests(url, users) });
    workers.push(streams);
    const ready = await streams.next() as Extract<WorkerReply, { type: "ready" }>;
    await new Promise((r) => setTimeout(r, 500));
    const streamsKiB = await rssKiB(pid);
    const writes = startWorker({
      role: "writes",
      kinds: writeKinds(url, users),
      durationMs: SECONDS * 1000 + WARMUP_MS,
    });
    const mcp = startWorker({
      role: "mcp",
      clients,
      durationMs: SECONDS * 1000,
      warmupMs: WARMUP_MS,
    });
    workers.push(writes, mcp);
    const [mixed, written] = await Promise.all([mcp.next(), writes.next()]) as [
      Phase,
      Extract<WorkerReply, { type: "writes" }>,
    ];
    await new Promise((r) => setTimeout(r, 1000)); // let the last events arrive
    streams.send("stop");
    const streamed = await streams.next() as Extract<WorkerReply, { type: "streams" }>;
    return { ready, streamsKiB, mixed, written, streamed, mixedMem: await rss.stop() };
  } finally {
    for (const w of workers) w.terminate();
    await rss.stop();
  }
}

type Measured =
  & Awaited<ReturnType<typeof runBaseline>>
  & Awaited<ReturnType<typeof runMixed>>
  & {
    idleKiB: number;
    users: number;
    clients: number;
    seedSeconds: number;
    expectedEvents: number;
  };

/**
 * Events the conversation streams should have received: for each message posted, one per
 * open stream of its conversation (the conversations had no events before the streams opened).
 */
function expectedEvents(m: Measured, streams: Req[]): number {
  const perConversation = new Map<string, number>();
  for (const s of streams) {
    const c = /\/conversations\/([^/]+)\/events$/.exec(s.url)?.[1];
    if (c) perConversation.set(c, (perConversation.get(c) ?? 0) + 1);
  }
  let expected = 0;
  for (const [url, ok] of Object.entries(m.written.okByUrl)) {
    const c = /\/conversations\/([^/]+)\/messages$/.exec(url)?.[1];
    if (c) expected += ok * (perConversation.get(c) ?? 0);
  }
  return expected;
}

/** Every error sample, and the error count (must be 0). */
function collectFailures(m: Measured): { failures: string[]; errorCount: number } {
  const failures = [
    ...m.base.errors.map((e) => `baseline MCP: ${e}`),
    ...m.mixed.errors.map((e) => `mixed MCP: ${e}`),
    ...m.written.errors.map((e) => `REST write: ${e}`),
    ...m.ready.errors.map((e) => `stream open: ${e}`),
    ...m.streamed.errors.map((e) => `stream: ${e}`),
  ];
  const lost = Math.max(0, m.expectedEvents - m.streamed.events);
  if (lost > 0) failures.push(`${lost} of ${m.expectedEvents} conversation events not delivered`);
  const errorCount = errorsOf(m.base) + errorsOf(m.mixed) + errorsOf(m.written) +
    m.streamed.endedEarly + (STREAMS - m.ready.opened) + lost;
  if (errorCount > 0 && failures.length === 0) failures.push(`${errorCount} errors`);
  return { failures, errorCount };
}

function reportLines(m: Measured, ratio: number, errorCount: number): string[] {
  const mb = (kib: number) => `${(kib / 1024).toFixed(1)} MB`;
  const perConversation = Math.ceil(STREAMS / 2) / (m.users * CONVERSATIONS_PER_USER);
  const { ready, streamed } = m;
  return [
    `seeded ${m.users} users (an MCP token each) in ${WORKSPACES} workspace(s) of ` +
    `${DOCS_PER_WORKSPACE} documents, ${m.users * CONVERSATIONS_PER_USER} conversations, ` +
    `in ${m.seedSeconds.toFixed(1)} s`,
    `baseline: ${m.clients} MCP clients alone, ${BASE_SECONDS} s: ${
      total(m.base).toFixed(0)
    } calls/s`,
    ...fmtKinds("  alone", m.base.kinds),
    `mixed, ${SECONDS} s: ${m.clients} MCP clients + ${ready.opened}/${STREAMS} SSE streams ` +
    `(opened in ${ready.openMs.toFixed(0)} ms) + writes (${MSG_RATE} messages/s, ${DOC_RATE} ` +
    `upserts/s): ${total(m.mixed).toFixed(0)} calls/s = ${ratio.toFixed(3)} × alone`,
    ...fmtKinds("  mixed", m.mixed.kinds),
    ...fmtKinds("  write", m.written.kinds),
    `  SSE: ${streamed.frames} frames, ${streamed.events} of ${m.expectedEvents} expected ` +
    `events (≈ ${perConversation.toFixed(1)} streams per conversation × ${
      m.written.kinds.post_message?.ok ?? 0
    } messages), ended early ${streamed.endedEarly}`,
    `  write → SSE delivery: p50 ${streamed.delivery.p50Ms.toFixed(2)} ms, p99 ${
      streamed.delivery.p99Ms.toFixed(2)
    } ms (n=${streamed.delivery.n})`,
    `server RSS: idle ${mb(m.idleKiB)}, peak with MCP alone ${mb(m.baseMem.peakKiB)}, ` +
    `with ${ready.opened} streams open ${mb(m.streamsKiB)}, peak mixed ${
      mb(m.mixedMem.peakKiB)
    } (${m.mixedMem.samples} samples)`,
    `errors: ${errorCount}${errorCount ? " — FAILED" : " (required 0)"}`,
  ];
}

async function measure(
  url: string,
  pid: number,
  users: SeededUser[],
  seedSeconds: number,
): Promise<BenchResult> {
  await new Promise((r) => setTimeout(r, 1000));
  const idleKiB = await rssKiB(pid);
  const clients = mcpClients(url, users);
  const m: Measured = {
    ...await runBaseline(pid, clients),
    ...await runMixed(url, pid, users, clients),
    idleKiB,
    users: users.length,
    clients: clients.length,
    seedSeconds,
    expectedEvents: 0,
  };
  m.expectedEvents = expectedEvents(m, streamRequests(url, users));
  const { failures, errorCount } = collectFailures(m);
  const ratio = total(m.mixed) / total(m.base);
  const settings = { SECONDS, BASE_SECONDS, CLIENTS, STREAMS, MSG_RATE, DOC_RATE, WORKSPACES };
  return {
    name: "load_mixed",
    ratio,
    ratioLabel:
      `MCP tool calls/s with ${STREAMS} SSE streams + REST writes ÷ the same clients alone`,
    lines: reportLines(m, ratio, errorCount),
    failures,
    figures: {
      settings: { ...settings, DOCS_PER_WORKSPACE },
      ...m,
      rssKiB: {
        idle: idleKiB,
        basePeak: m.baseMem.peakKiB,
        streams: m.streamsKiB,
        mixedPeak: m.mixedMem.peakKiB,
      },
      errorCount,
    },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
  if (r.failures?.length) Deno.exit(1);
}
