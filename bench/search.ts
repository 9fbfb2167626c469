/**
 * Search over 100,000 generated documents in a real server's database, and what the search
 * worker buys: while common-term searches run, how long does `/healthz` take — with the FTS on
 * the worker pool (the product) versus the same FTS on the main thread. Baseline, in the same
 * run: a bare indexed SQLite point lookup on the same database. Also a conversation listing
 * (`listConversations`, 25 per page over 500 conversations).
 *
 * Corpus: one chunk per document (~60 words from a 5,000-word vocabulary), plus planted terms
 * `rareterm` (every 5,000th document: 20), `midterm` (every 40th: 2,500) and `commonterm`
 * (every 4th: 25,000 — perf.md's ~24k-match case). Generation is bounded by
 * `BENCH_SEARCH_GEN_SECONDS` (default 180 s); the document count reached is printed.
 *
 * Run: `deno task bench search` (or `deno run -A bench/search.ts`).
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { tx } from "../src/db/sqlite.ts";
import { createUser, toUserRef } from "../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../src/core/workspaces.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import { buildMatchQuery, searchWorkspace } from "../src/core/search.ts";
import { runSearchQuery, type SearchRequest } from "../src/core/search_query.ts";
import { listConversations, postConversation } from "../src/core/conversations.ts";
import type { UserActor } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";
import type { BenchResult } from "./result.ts";

const DOCS = Number(Deno.env.get("BENCH_SEARCH_DOCS") ?? 100_000);
const GEN_SECONDS = Number(Deno.env.get("BENCH_SEARCH_GEN_SECONDS") ?? 180);
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

/** Insert up to DOCS documents through the core, 1,000 per transaction, within the time cap. */
function generate(deps: Deps, actor: UserActor, where: { spaceId: string; dataSourceId: string }) {
  const rand = prng(42);
  const started = performance.now();
  let n = 0;
  while (n < DOCS && performance.now() - started < GEN_SECONDS * 1000) {
    const end = Math.min(DOCS, n + 1000);
    tx(deps.db, () => {
      for (; n < end; n++) {
        upsertDocument(deps, actor, {
          ...where,
          documentId: `doc-${n}`,
          text: documentText(n, rand),
          timestamp: 1_700_000_000_000 + n,
        });
      }
    });
  }
  return { docs: n, seconds: (performance.now() - started) / 1000 };
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
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
    {},
  );
  const server = await startServer(config);
  try {
    return await measure(server.deps, server.url);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function measure(deps: Deps, baseUrl: string): Promise<BenchResult> {
  const user = await createUser(deps.db, {
    email: "bench@example.com",
    name: "Bench",
    password: null,
  });
  const ws = createWorkspace(deps.db, { name: "Bench", adminUserId: user.id });
  const actor: UserActor = {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role: "admin",
    scopes: new Set(["read", "write"]),
    credential: { kind: "personal_token", id: "bench" },
  };
  const token =
    issuePersonalToken(deps.db, { workspaceId: ws.id, userId: user.id, name: "b" }).secret;
  const spaceId = listWorkspaceSpaces(deps.db, ws.id).find((s) => s.kind === "global")!.sId;
  const dataSourceId = createDataSource(deps, actor, { spaceId, name: "Corpus" }).data_source.sId;
  const gen = generate(deps, actor, { spaceId, dataSourceId });
  deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");

  // Baseline: a bare indexed point lookup on the same database.
  const dsRow = deps.db.prepare("SELECT id FROM data_sources WHERE s_id = ?").get(dataSourceId) as {
    id: number;
  };
  const lookup = deps.db.prepare(
    "SELECT id, title FROM documents WHERE data_source_id = ? AND document_id = ?",
  );
  for (let i = 0; i < 2000; i++) lookup.get(dsRow.id, `doc-${i}`);
  const lookupN = 50_000;
  const t0 = performance.now();
  for (let i = 0; i < lookupN; i++) lookup.get(dsRow.id, `doc-${(i * 7919) % gen.docs}`);
  const lookupMs = (performance.now() - t0) / lookupN;

  // Search latency through the product path (core → worker), per term.
  const terms = { rare: "rareterm", mid: "midterm", common: "commonterm" } as const;
  const search: Record<string, ReturnType<typeof stats>> = {};
  for (const [k, term] of Object.entries(terms)) {
    await timeAsync(5, () => searchWorkspace(deps, actor, { query: term }));
    search[k] = stats(
      await timeAsync(
        k === "common" ? 40 : 100,
        () => searchWorkspace(deps, actor, { query: term }),
      ),
    );
  }

  // The same FTS query on the main thread (what the worker saves the event loop from).
  const request: SearchRequest = {
    match: buildMatchQuery("commonterm"),
    workspaceId: ws.id,
    dataSourceIds: [dsRow.id],
    timestampGt: null,
    timestampLt: null,
    tagsIn: null,
    tagsNot: null,
    nodeIds: null,
    limit: 10,
  };
  const mainFts = stats(
    await timeAsync(40, () => Promise.resolve(runSearchQuery(deps.db, request))),
  );

  // /healthz latency: idle, while HTTP searches run on the workers, while FTS runs on main.
  const healthUrl = `${baseUrl}/healthz`;
  await probeHealthz(healthUrl);
  const idle = stats(await probeHealthz(healthUrl));
  const searchUrl = `${baseUrl}/api/v1/w/${ws.sId}/search?query=commonterm&topK=10`;
  const workerLoad = backgroundLoad(2, async () => {
    const r = await fetch(searchUrl, { headers: { Authorization: `Bearer ${token}` } });
    if (r.status !== 200) throw new Error(`search answered ${r.status}`);
    await r.body?.cancel();
  });
  const withWorker = stats(await probeHealthz(healthUrl));
  const workerSearches = await workerLoad.end();
  const mainLoad = backgroundLoad(2, async () => {
    runSearchQuery(deps.db, request);
    await new Promise((r) => setTimeout(r, 0));
  });
  const withMain = stats(await probeHealthz(healthUrl));
  const mainSearches = await mainLoad.end();

  // A conversation listing (first page of 25 among 500 conversations).
  for (let i = 0; i < 500; i++) {
    await postConversation(deps, actor, { title: `c${i}`, visibility: "unlisted" });
  }
  const convList = stats(
    await timeAsync(300, () => Promise.resolve(listConversations(deps, actor, {}))),
  );

  const lines = [
    `corpus: ${gen.docs} documents generated in ${gen.seconds.toFixed(1)} s (one chunk each)`,
    `baseline: indexed point lookup ${(lookupMs * 1000).toFixed(2)} µs`,
    ...Object.entries(search).map(([k, s]) =>
      `search ${k.padEnd(6)} (${terms[k as keyof typeof terms]}) via worker: p50 ${
        ms(s.p50)
      }, p95 ${ms(s.p95)} = ${(s.p50 / lookupMs).toFixed(0)}× lookup`
    ),
    `same common-term FTS on the main thread: p50 ${ms(mainFts.p50)}, p95 ${ms(mainFts.p95)}`,
    `/healthz idle: p50 ${ms(idle.p50)}, p99 ${ms(idle.p99)} (${idle.n} requests)`,
    `/healthz during common-term HTTP searches on the workers (${workerSearches} searches): p50 ${
      ms(withWorker.p50)
    }, p99 ${ms(withWorker.p99)} = ${(withWorker.p99 / idle.p99).toFixed(1)}× idle p99`,
    `/healthz during the same FTS on the main thread (${mainSearches} queries): p50 ${
      ms(withMain.p50)
    }, p99 ${ms(withMain.p99)} = ${(withMain.p99 / idle.p99).toFixed(1)}× idle p99`,
    `conversation listing (25 of 500): p50 ${ms(convList.p50)}, p95 ${ms(convList.p95)} = ${
      (convList.p50 / lookupMs).toFixed(0)
    }× lookup`,
  ];
  return {
    name: "search",
    ratio: withMain.p99 / withWorker.p99,
    ratioLabel: "/healthz p99 with FTS on the main thread ÷ with FTS on the search workers",
    lines,
    figures: {
      generation: gen,
      lookupMs,
      search,
      mainFts,
      idle,
      withWorker,
      withMain,
      workerSearches,
      mainSearches,
      convList,
    },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(2)}: ${r.ratioLabel}`);
}
