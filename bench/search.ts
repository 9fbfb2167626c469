/**
 * Search over 100,000 and then 1,000,000 generated documents in a real server's database (the
 * corpus is grown in place: latency is measured at each size), and what the search worker
 * buys (at the first size): while searches that rank every match run (`commonterm midterm`;
 * single words are served by the top-k lists), how long does `/healthz` take — with the FTS on
 * the worker pool (the product) versus the same FTS on the main thread. Baseline, in the same
 * run: a bare indexed SQLite point lookup on the same database. Also a conversation listing
 * (`listConversations`, 25 per page over 500 conversations).
 *
 * Corpus: one chunk per document (~60 words from a 5,000-word vocabulary), plus planted terms
 * `rareterm` (every 5,000th document: 20), `midterm` (every 40th: 2,500) and `commonterm`
 * (every 4th: 25,000 — perf.md's ~24k-match case; ten times these at 1M). Generation goes
 * through the core (`upsertDocument`, 1,000 per transaction) and is bounded by
 * `BENCH_SEARCH_GEN_SECONDS` (default 900 s in all: 1M takes ~4 min on an idle 2-core machine,
 * more when it is shared); the document count reached is printed.
 * `BENCH_SEARCH_SIZES` (default `100000,1000000`) sets the sizes; `100000` alone skips 1M.
 *
 * Run: `deno task bench search` (or `deno run -A bench/search.ts`).
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";

import { createUser, toUserRef } from "../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../src/core/workspaces.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import { buildMatchQuery, searchWorkspace } from "../src/core/search.ts";
import { runSearchQuery, type SearchRequest } from "../src/core/search_query.ts";
import { searchPartitionsFor } from "../src/core/search_index.ts";
import { listConversations, postConversation } from "../src/core/conversations.ts";
import type { UserActor } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";
import { AppError } from "../src/errors.ts";
import type { BenchResult } from "./result.ts";
import type { SqliteDb } from "../src/db/sqlite.ts";

const SIZES = (Deno.env.get("BENCH_SEARCH_SIZES") ?? "100000,1000000").split(",")
  .map(Number).filter((n) => Number.isInteger(n) && n > 0).sort((a, b) => a - b);
const GEN_SECONDS = Number(Deno.env.get("BENCH_SEARCH_GEN_SECONDS") ?? 900);
const PROBE_MS = Number(Deno.env.get("BENCH_SEARCH_PROBE_MS") ?? 3000);

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99) };
}

const ms = (v: number) => `${v.toFixed(3)} ms`;

/** A deterministic PRNG (mulberry32), so every run indexes the same corpus. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function documentText(i: number, rand: () => number): string {
  const words: string[] = [];
  for (let w = 0; w < 60; w++) words.push(`w${Math.floor(5000 * rand() ** 2)}`);
  if (i % 5000 === 0) words.push("rareterm");
  if (i % 40 === 0) words.push("midterm");
  if (i % 4 === 0) words.push("commonterm");
  return words.join(" ");
}

/** Where generation stands: documents so far, the PRNG, and the time spent. */
interface Corpus {
  docs: number;
  rand: () => number;
  seconds: number;
}

/**
 * Grow the corpus to `target` documents through the core, 1,000 per transaction, within what
 * is left of the time cap.
 */
async function generate(
  deps: Deps,
  actor: UserActor,
  where: { spaceId: string; dataSourceId: string },
  corpus: Corpus,
  target: number,
) {
  const { rand } = corpus;
  const started = performance.now();
  const budgetMs = (GEN_SECONDS - corpus.seconds) * 1000;
  let n = corpus.docs;
  while (n < target && performance.now() - started < budgetMs) {
    const end = Math.min(target, n + 1000);
    await deps.db.tx(async () => {
      for (; n < end; n++) {
        await upsertDocument(deps, actor, {
          ...where,
          documentId: `doc-${n}`,
          text: documentText(n, rand),
          timestamp: 1_700_000_000_000 + n,
        });
      }
    });
  }
  corpus.docs = n;
  corpus.seconds += (performance.now() - started) / 1000;
}

async function timeAsync(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** Sequential GET /healthz for `PROBE_MS`, latency per request. */
async function probeHealthz(url: string): Promise<number[]> {
  const out: number[] = [];
  const until = performance.now() + PROBE_MS;
  while (performance.now() < until && out.length < 200_000) {
    const t = performance.now();
    const res = await fetch(url);
    await res.body?.cancel();
    out.push(performance.now() - t);
  }
  return out;
}

/** Run `load` in `concurrency` loops until `stop` is set; count iterations. */
function backgroundLoad(concurrency: number, load: () => Promise<unknown>) {
  let stop = false;
  let count = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      await load();
      count++;
    }
  });
  return {
    async end() {
      stop = true;
      await Promise.all(loops);
      return count;
    },
  };
}

export async function run(): Promise<BenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-search-" });
  // One member drives both workers in the /healthz phase: its search budget allows two at once.
  const config = resolveConfig({
    port: "0",
    host: "127.0.0.1",
    "data-dir": dataDir,
    "log-level": "error",
    "search-member-concurrency": "2",
  }, {});
  const server = await startServer(config);
  try {
    return await measure(server.deps, server.url);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

const TERMS = {
  rare: "rareterm",
  mid: "midterm",
  common: "commonterm",
  // Two words: the top-k lists (src/core/search_topk.ts) serve single words, so this query
  // ranks every match (27,500 at 100k) — the expensive kind the workers keep off the loop.
  two: "commonterm midterm",
} as const;
/** The query of the `/healthz` probes: one that costs the ranking of every match. */
const HEAVY = TERMS.two;

interface Bench {
  deps: Deps;
  actor: UserActor;
  ws: { id: number; sId: string };
  token: string;
  where: { spaceId: string; dataSourceId: string };
  dsRowId: number;
  spaceRowId: number;
}

async function setUp(deps: Deps): Promise<Bench> {
  const user = await createUser(deps.db, {
    email: "bench@example.com",
    name: "Bench",
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: "Bench", adminUserId: user.id });
  const actor: UserActor = {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role: "admin",
    scopes: new Set(["read", "write"]),
    credential: { kind: "personal_token", id: "bench" },
  };
  const token =
    (await issuePersonalToken(deps.db, { workspaceId: ws.id, userId: user.id, name: "b" })).secret;
  const spaceId = (await listWorkspaceSpaces(deps.db, ws.id)).find((s) => s.kind === "global")!.sId;
  const dataSourceId =
    (await createDataSource(deps, actor, { spaceId, name: "Corpus" })).data_source.sId;
  const dsRow = await deps.db.get(
    "SELECT id, space_id FROM data_sources WHERE s_id = ?",
    dataSourceId,
  ) as { id: number; space_id: number };
  return {
    deps,
    actor,
    ws,
    token,
    where: { spaceId, dataSourceId },
    dsRowId: dsRow.id,
    spaceRowId: dsRow.space_id,
  };
}

async function mainThreadRequest(b: Bench, term: string): Promise<SearchRequest> {
  return {
    match: buildMatchQuery(term),
    workspaceId: b.ws.id,
    partitions: await searchPartitionsFor(b.deps.db, b.ws.id, [b.spaceRowId]),
    dataSourceIds: [b.dsRowId],
    timestampGt: null,
    timestampLt: null,
    tagsIn: null,
    tagsNot: null,
    nodeIds: null,
    limit: 10,
  };
}

/** At the corpus's current size: the point-lookup baseline, search per term, main-thread FTS. */
async function measureSize(b: Bench, docs: number) {
  // Baseline: a bare indexed point lookup on the same database.
  const lookup = b.deps.db.prepare(
    "SELECT id, title FROM documents WHERE data_source_id = ? AND document_id = ?",
  );
  for (let i = 0; i < 2000; i++) await lookup.get(b.dsRowId, `doc-${i}`);
  const lookupN = 50_000;
  const t0 = performance.now();
  for (let i = 0; i < lookupN; i++) await lookup.get(b.dsRowId, `doc-${(i * 7919) % docs}`);
  const lookupMs = (performance.now() - t0) / lookupN;

  // Search latency through the product path (core → worker), per term. A search past the
  // pool's time limit (503) is counted, not fatal: on a busy machine the common term can hit it.
  const search: Record<string, Awaited<ReturnType<typeof stats>> & { timeouts: number }> = {};
  for (const [k, term] of Object.entries(TERMS)) {
    let timeouts = 0;
    const one = () =>
      searchWorkspace(b.deps, b.actor, { query: term }).catch((e) => {
        if (!(e instanceof AppError) || e.status !== 503) throw e;
        timeouts++;
      });
    await timeAsync(3, one);
    timeouts = 0;
    const n = k === "common" || k === "two" ? (docs > 200_000 ? 15 : 40) : 100;
    search[k] = { ...stats(await timeAsync(n, one)), timeouts };
  }
  // The heavy FTS query on the main thread (what the worker saves the event loop from).
  const request = await mainThreadRequest(b, HEAVY);
  const mainFts = stats(
    await timeAsync(
      docs > 200_000 ? 15 : 40,
      () => Promise.resolve(runSearchQuery((b.deps.db as SqliteDb).conn, request)),
    ),
  );
  const lines = [
    `${docs} documents: indexed point lookup (baseline) ${(lookupMs * 1000).toFixed(2)} µs`,
    ...Object.entries(search).map(([k, s]) =>
      `  search ${k.padEnd(6)} (${TERMS[k as keyof typeof TERMS]}) via worker: p50 ${
        ms(s.p50)
      }, p95 ${ms(s.p95)} = ${(s.p50 / lookupMs).toFixed(0)}× lookup${
        s.timeouts ? `, ${s.timeouts}/${s.n} over the 10 s limit` : ""
      }`
    ),
    `  same two-word FTS on the main thread: p50 ${ms(mainFts.p50)}, p95 ${ms(mainFts.p95)}`,
  ];
  return { lines, figures: { docs, lookupMs, search, mainFts } };
}

/** /healthz latency: idle, while HTTP searches run on the workers, while FTS runs on main. */
async function measureHealthz(b: Bench, baseUrl: string) {
  const healthUrl = `${baseUrl}/healthz`;
  await probeHealthz(healthUrl);
  const idle = stats(await probeHealthz(healthUrl));
  const searchUrl = `${baseUrl}/api/v1/w/${b.ws.sId}/search?query=${
    encodeURIComponent(HEAVY)
  }&topK=10`;
  const workerLoad = backgroundLoad(2, async () => {
    const r = await fetch(searchUrl, { headers: { Authorization: `Bearer ${b.token}` } });
    if (r.status !== 200) throw new Error(`search answered ${r.status}`);
    await r.body?.cancel();
  });
  const withWorker = stats(await probeHealthz(healthUrl));
  const workerSearches = await workerLoad.end();
  const request = await mainThreadRequest(b, HEAVY);
  const mainLoad = backgroundLoad(2, async () => {
    runSearchQuery((b.deps.db as SqliteDb).conn, request);
    await new Promise((r) => setTimeout(r, 0));
  });
  const withMain = stats(await probeHealthz(healthUrl));
  const mainSearches = await mainLoad.end();
  const lines = [
    `/healthz idle: p50 ${ms(idle.p50)}, p99 ${ms(idle.p99)} (${idle.n} requests)`,
    `/healthz during two-word HTTP searches on the workers (${workerSearches} searches): p50 ${
      ms(withWorker.p50)
    }, p99 ${ms(withWorker.p99)} = ${(withWorker.p99 / idle.p99).toFixed(1)}× idle p99`,
    `/healthz during the same FTS on the main thread (${mainSearches} queries): p50 ${
      ms(withMain.p50)
    }, p99 ${ms(withMain.p99)} = ${(withMain.p99 / idle.p99).toFixed(1)}× idle p99`,
  ];
  const figures = { idle, withWorker, withMain, workerSearches, mainSearches };
  return { lines, figures, ratio: withMain.p99 / withWorker.p99 };
}

/** A conversation listing (first page of 25 among 500 conversations). */
async function measureConversationListing(b: Bench, lookupMs: number) {
  for (let i = 0; i < 500; i++) {
    await postConversation(b.deps, b.actor, { title: `c${i}`, visibility: "unlisted" });
  }
  const convList = stats(
    await timeAsync(300, async () => Promise.resolve(await listConversations(b.deps, b.actor, {}))),
  );
  const line = `conversation listing (25 of 500): p50 ${ms(convList.p50)}, p95 ${
    ms(convList.p95)
  } = ${(convList.p50 / lookupMs).toFixed(0)}× lookup`;
  return { line, convList };
}

async function measure(deps: Deps, baseUrl: string): Promise<BenchResult> {
  const b = await setUp(deps);
  const corpus: Corpus = { docs: 0, rand: prng(42), seconds: 0 };
  const lines: string[] = [];
  const sizes: unknown[] = [];
  let first: Awaited<ReturnType<typeof measureHealthz>> | null = null;
  for (const size of SIZES.length ? SIZES : [100_000]) {
    await generate(deps, b.actor, b.where, corpus, size);
    await deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    lines.push(
      `corpus grown to ${corpus.docs} documents (one chunk each; ${
        corpus.seconds.toFixed(1)
      } s of generation so far)`,
    );
    const at = await measureSize(b, corpus.docs);
    lines.push(...at.lines);
    sizes.push(at.figures);
    if (!first) {
      first = await measureHealthz(b, baseUrl);
      const conv = await measureConversationListing(b, at.figures.lookupMs);
      lines.push(...first.lines, conv.line);
      sizes.push({ convList: conv.convList });
    }
    if (corpus.docs < size) {
      lines.push(`${size} documents not reached within BENCH_SEARCH_GEN_SECONDS=${GEN_SECONDS}`);
      break;
    }
  }
  return {
    name: "search",
    ratio: first!.ratio,
    ratioLabel: "/healthz p99 with FTS on the main thread ÷ with FTS on the search workers",
    lines,
    figures: { generation: corpus, sizes, healthz: first!.figures },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(2)}: ${r.ratioLabel}`);
}
