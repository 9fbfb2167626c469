/**
 * A common word at scale (issue 15, item 3): top-k without ranking every match
 * (`core/search_topk.ts` on SQLite, `db/fulltext_postgres.ts` on PostgreSQL).
 *
 * Corpus: BENCH_TOPK_DOCS documents (default 1,000,000) of one chunk each, 20–139 words drawn
 * from a skewed 5,000-word vocabulary (`w0` in ~2/3 of them, `w1999` in ~1 %), and
 * `commonterm` in every 4th one (25 %), 1–4 times. Documents are seeded directly (document
 * rows, then the core's own indexing function `replaceDocumentChunks`, 20,000 per transaction)
 * into a database cached under BENCH_TOPK_CACHE (default /tmp/dust-mcp-bench-topk): a SQLite
 * data directory, or a PostgreSQL database `bench_topk_<docs>` on BENCH_DATABASE_URL's cluster.
 * Every run works on a copy (a file copy; `CREATE DATABASE … TEMPLATE`).
 *
 * Measured, in one run:
 * - baseline: an indexed point lookup on the same database;
 * - `commonterm` through the product path (`searchWorkspace` → search worker / pool), p50;
 * - the same query ranked exhaustively (every match, as before) and with the top-k list, on
 *   the calling thread: the ratio is their p50s;
 * - agreement: 100 random common words (`w0`…`w1999`), their lists built, then 2 % more
 *   documents indexed and 1 % deleted, then top 10 with the lists against exhaustive ranking:
 *   overlap@10 of the ids, and how many scores match;
 * - tenants: `commonterm` from the last of BENCH_TOPK_TENANTS (32) identical workspaces of
 *   BENCH_TOPK_TENANT_DOCS (31,250) documents each, against that workspace alone.
 *
 * Run time: the first run seeds (SQLite ~3 min for 1M + 1M for the tenants; PostgreSQL longer);
 * later runs copy the cache (~10 s) and measure for ~1–2 min. Bounded: every loop has a count.
 *
 * Run: `deno run -A bench/search_topk.ts`; PostgreSQL:
 * `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres deno run -A bench/search_topk.ts`.
 * @module
 */
import postgres from "postgres";
import { BENCH_PG_ENV } from "./engine.ts";
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createUser, findUserByEmail, toUserRef } from "../src/core/users.ts";
import { createWorkspace, findWorkspaceById, toWorkspaceRef } from "../src/core/workspaces.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { buildMatchQuery, searchWorkspace } from "../src/core/search.ts";
import { runSearchQuery, type SearchHit, type SearchRequest } from "../src/core/search_query.ts";
import {
  removeDocumentChunks,
  replaceDocumentChunks,
  searchPartitionsFor,
} from "../src/core/search_index.ts";
import { runSearchQueryPostgres } from "../src/db/fulltext_postgres.ts";
import type { UserActor } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";
import type { SqliteDb } from "../src/db/sqlite.ts";
import type { BenchResult } from "./result.ts";

const DOCS = Number(Deno.env.get("BENCH_TOPK_DOCS") ?? 1_000_000);
const TENANTS = Number(Deno.env.get("BENCH_TOPK_TENANTS") ?? 32);
const TENANT_DOCS = Number(Deno.env.get("BENCH_TOPK_TENANT_DOCS") ?? 31_250);
const CACHE = Deno.env.get("BENCH_TOPK_CACHE") ?? "/tmp/dust-mcp-bench-topk";
/**
 * The PostgreSQL cluster of this pass: `deno task bench`'s PostgreSQL pass (bench/engine.ts),
 * else BENCH_DATABASE_URL when run on its own; null on SQLite. Read at each use: the module
 * stays loaded between `deno task bench`'s two passes.
 */
function pgAdminUrl(): string | null {
  if (Deno.env.get(BENCH_PG_ENV)) return Deno.env.get(BENCH_PG_ENV)!;
  return import.meta.main ? Deno.env.get("BENCH_DATABASE_URL") ?? null : null;
}
const QUERIES = 100;
const BATCH = 20_000;

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
  const n = 20 + Math.floor(rand() * 120);
  for (let k = 0; k < n; k++) words.push(`w${Math.floor(5000 * rand() ** 2)}`);
  if (i % 4 === 0) {
    const tf = 1 + Math.floor(rand() ** 3 * 4);
    for (let k = 0; k < tf; k++) words.splice(Math.floor(rand() * words.length), 0, "commonterm");
  }
  return words.join(" ");
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];

interface Corpus {
  actor: UserActor;
  dsRowId: number;
  spaceRowId: number;
}

/** A workspace with its admin and one data source in its global space. */
async function createCorpus(deps: Deps, n: number): Promise<Corpus> {
  const user = await createUser(deps.db, {
    email: `topk${n}@example.com`,
    name: "B",
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: `TopK ${n}`, adminUserId: user.id });
  const actor = actorOf(user, ws);
  const spaceId = (await listWorkspaceSpaces(deps.db, ws.id)).find((s) => s.kind === "global")!.sId;
  await createDataSource(deps, actor, { spaceId, name: "Corpus" });
  return await openCorpus(deps, n);
}

function actorOf(
  user: Parameters<typeof toUserRef>[0],
  ws: Parameters<typeof toWorkspaceRef>[0],
): UserActor {
  return {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role: "admin",
    scopes: new Set(["read", "write"]),
    credential: { kind: "personal_token", id: "bench" },
  };
}

/** Corpus `n` of a seeded database. */
async function openCorpus(deps: Deps, n: number): Promise<Corpus> {
  const user = (await findUserByEmail(deps.db, `topk${n}@example.com`))!;
  const { workspace_id: wsId } = await deps.db.get(
    "SELECT workspace_id FROM memberships WHERE user_id = ?",
    user.id,
  ) as { workspace_id: number };
  const ws = (await findWorkspaceById(deps.db, wsId))!;
  const ds = await deps.db.get(
    "SELECT id, space_id FROM data_sources WHERE workspace_id = ?",
    ws.id,
  ) as { id: number; space_id: number };
  return { actor: actorOf(user, ws), dsRowId: ds.id, spaceRowId: ds.space_id };
}

/** Index documents `from`..`to` of a corpus through the core's indexing function. */
async function seedDocuments(deps: Deps, c: Corpus, from: number, to: number, seed: number) {
  const rand = prng(seed);
  const space = (await listWorkspaceSpaces(deps.db, c.actor.workspace.id))
    .find((s) => s.id === c.spaceRowId)!;
  const insert = deps.db.prepare(
    `INSERT INTO documents (workspace_id, data_source_id, document_id, text, timestamp, hash,
       text_size, chunk_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'h', ?, 1, ?, ?)
     RETURNING id`,
  );
  if (deps.db.engine === "postgres") return await seedPostgres(deps, c, from, to, rand);
  for (let start = from; start < to; start += BATCH) {
    await deps.db.tx(async () => {
      for (let i = start; i < Math.min(to, start + BATCH); i++) {
        const text = documentText(i, rand);
        const t = 1_700_000_000_000 + i;
        const { id } = await insert.get(
          c.actor.workspace.id,
          c.dsRowId,
          `doc-${i}`,
          text,
          t,
          text.length,
          t,
          t,
        ) as { id: number };
        await replaceDocumentChunks(deps.db, space, id, [{ index: 0, offset: 0, text, hash: "h" }]);
      }
    });
  }
}

/**
 * PostgreSQL: the same rows in multi-row statements (its index is the chunks' generated
 * tsvector and their GIN entry, maintained by the INSERT, as `replaceChunksPostgres` does one
 * row at a time), 2,000 documents per transaction.
 */
async function seedPostgres(deps: Deps, c: Corpus, from: number, to: number, rand: () => number) {
  for (let start = from; start < to; start += 2000) {
    const docs: { document_id: string; text: string; ts: number }[] = [];
    for (let i = start; i < Math.min(to, start + 2000); i++) {
      docs.push({
        document_id: `doc-${i}`,
        text: documentText(i, rand),
        ts: 1_700_000_000_000 + i,
      });
    }
    await deps.db.tx(async () => {
      const ids = (await deps.db.all(
        `INSERT INTO documents (workspace_id, data_source_id, document_id, text, timestamp, hash,
           text_size, chunk_count, created_at, updated_at)
         SELECT ?, ?, x.document_id, x.text, x.ts, 'h', length(x.text), 1, x.ts, x.ts
         FROM json_to_recordset(CAST(CAST(? AS text) AS json)) AS x(document_id text, text text, ts bigint)
         RETURNING id`,
        c.actor.workspace.id,
        c.dsRowId,
        JSON.stringify(docs),
      ) as { id: number }[]).map((r) => Number(r.id));
      await deps.db.run(
        `INSERT INTO document_chunks (document_row_id, chunk_index, "offset", text, hash)
         SELECT d.id, 0, 0, d.text, 'h' FROM documents d WHERE d.id = ANY(CAST(? AS BIGINT[]))`,
        ids,
      );
    });
  }
}

async function pgAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(pgAdminUrl()!, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function pgUrl(name: string): string {
  const u = new URL(pgAdminUrl()!);
  u.pathname = `/${name}`;
  return u.href;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A server on a database or data directory (`where`). */
async function serve(where: string) {
  const dataDir = pgAdminUrl() ? await Deno.makeTempDir({ prefix: "dust-mcp-bench-topk-" }) : where;
  const config = resolveConfig({
    port: "0",
    host: "127.0.0.1",
    "data-dir": dataDir,
    "log-level": "error",
    ...(pgAdminUrl() ? { "database-url": pgUrl(where) } : {}),
  }, {});
  const server = await startServer(config);
  return {
    deps: server.deps,
    async stop() {
      await server.stop();
      if (pgAdminUrl()) await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/**
 * A cached seeded database `name` (corpora of `sizes` documents), seeded on first use; returns
 * a working copy, and how to drop it.
 */
async function cachedCopy(name: string, sizes: number[]) {
  const seed = async (where: string) => {
    const s = await serve(where);
    try {
      for (const [n, size] of sizes.entries()) {
        const c = await createCorpus(s.deps, n);
        await seedDocuments(s.deps, c, 0, size, 1000 + n);
      }
      if (!pgAdminUrl()) await s.deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      await s.stop();
    }
  };
  const started = performance.now();
  let seeded = false;
  const copy = `${name}_run_${Date.now()}`;
  if (pgAdminUrl()) {
    const have = await pgAdmin((sql) => sql`SELECT 1 FROM pg_database WHERE datname = ${name}`);
    if (have.length === 0) {
      await pgAdmin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name}_seed`));
      await pgAdmin((sql) => sql.unsafe(`CREATE DATABASE ${name}_seed TEMPLATE template0`));
      await seed(`${name}_seed`);
      await pgAdmin((sql) => sql.unsafe(`ALTER DATABASE ${name}_seed RENAME TO ${name}`));
      seeded = true;
    }
    await pgAdmin((sql) => sql.unsafe(`CREATE DATABASE ${copy} TEMPLATE ${name}`));
    return {
      where: copy,
      seeded,
      seconds: (performance.now() - started) / 1000,
      drop: () => pgAdmin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${copy} WITH (FORCE)`)),
    };
  }
  const dir = `${CACHE}/${name}`;
  if (!await exists(dir)) {
    await Deno.remove(`${dir}.seed`, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${dir}.seed`, { recursive: true });
    await seed(`${dir}.seed`);
    await Deno.rename(`${dir}.seed`, dir);
    seeded = true;
  }
  const work = await Deno.makeTempDir({ prefix: "dust-mcp-bench-topk-" });
  const cp = await new Deno.Command("cp", { args: ["-a", `${dir}/.`, work] }).output();
  if (!cp.success) throw new Error(`cp failed: ${new TextDecoder().decode(cp.stderr)}`);
  return {
    where: work,
    seeded,
    seconds: (performance.now() - started) / 1000,
    drop: () => Deno.remove(work, { recursive: true }),
  };
}

async function request(deps: Deps, c: Corpus, word: string): Promise<SearchRequest> {
  return {
    match: buildMatchQuery(word),
    workspaceId: c.actor.workspace.id,
    partitions: await searchPartitionsFor(deps.db, c.actor.workspace.id, [c.spaceRowId]),
    dataSourceIds: [c.dsRowId],
    timestampGt: null,
    timestampLt: null,
    tagsIn: null,
    tagsNot: null,
    nodeIds: null,
    limit: 10,
  };
}

/** The search itself on the calling thread (SQLite connection or PostgreSQL pool). */
async function direct(deps: Deps, req: SearchRequest): Promise<SearchHit[]> {
  return deps.db.engine === "postgres"
    ? await runSearchQueryPostgres(deps.db, req)
    : runSearchQuery((deps.db as SqliteDb).conn, req);
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

async function lookupBaseline(deps: Deps, c: Corpus): Promise<number> {
  const lookup = deps.db.prepare(
    "SELECT id, title FROM documents WHERE data_source_id = ? AND document_id = ?",
  );
  for (let i = 0; i < 2000; i++) await lookup.get(c.dsRowId, `doc-${i}`);
  const n = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await lookup.get(c.dsRowId, `doc-${(i * 7919) % DOCS}`);
  return (performance.now() - t0) / n;
}

/** p50 of `n` product-path searches of `word` (after 3 warm-ups: the first builds its list). */
async function productP50(deps: Deps, c: Corpus, word: string, n: number) {
  const xs: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const [ms, r] = await timed(() => searchWorkspace(deps, c.actor, { query: word, topK: 10 }));
    if (r.count === 0) throw new Error(`"${word}" found nothing`);
    if (i >= 3) xs.push(ms);
  }
  return { p50: p50(xs), p95: p95(xs) };
}

/** Lists built, corpus changed (2 % added, 1 % deleted), then lists against exhaustive. */
async function agreement(deps: Deps, c: Corpus) {
  const rand = prng(7);
  const words = Array.from({ length: QUERIES }, () => `w${Math.floor(rand() * 2000)}`);
  for (const w of words) await direct(deps, await request(deps, c, w));
  await seedDocuments(deps, c, DOCS, DOCS + Math.floor(DOCS / 50), 99);
  const victims = Array.from({ length: Math.floor(DOCS / 100) }, () => Math.floor(rand() * DOCS));
  for (let i = 0; i < victims.length; i += BATCH) {
    await deps.db.tx(async () => {
      for (const v of victims.slice(i, i + BATCH)) {
        const d = await deps.db.get(
          "SELECT id FROM documents WHERE data_source_id = ? AND document_id = ?",
          c.dsRowId,
          `doc-${v}`,
        ) as { id: number } | undefined;
        if (!d) continue;
        await removeDocumentChunks(deps.db, d.id);
        await deps.db.run("DELETE FROM documents WHERE id = ?", d.id);
      }
    });
  }
  let overlap = 0;
  let scores = 0;
  let positions = 0;
  const fast: number[] = [];
  const slow: number[] = [];
  for (const w of words) {
    const req = await request(deps, c, w);
    const [fastMs, got] = await timed(() => direct(deps, req));
    const [slowMs, want] = await timed(() => direct(deps, { ...req, exhaustive: true }));
    fast.push(fastMs);
    slow.push(slowMs);
    const wanted = new Set(want.map((h) => h.chunkId));
    overlap += got.filter((h) => wanted.has(h.chunkId)).length / Math.max(1, want.length);
    want.forEach((h, i) => {
      positions++;
      if (got[i] && Math.abs(got[i].score - h.score) <= 1e-9 * Math.abs(h.score)) scores++;
    });
  }
  // Once caught up (the first search of a word after the change rebuilt or extended its list).
  const again: number[] = [];
  for (const w of words) {
    const req = await request(deps, c, w);
    again.push((await timed(() => direct(deps, req)))[0]);
  }
  return {
    overlapAt10: overlap / words.length,
    caughtUp: { p50: p50(again), p95: p95(again) },
    scoresMatching: scores / positions,
    withLists: { p50: p50(fast), p95: p95(fast) },
    exhaustive: { p50: p50(slow), p95: p95(slow) },
  };
}

async function measureMain() {
  const copy = await cachedCopy(`bench_topk_${DOCS}`, [DOCS]);
  const s = await serve(copy.where);
  try {
    const c = await openCorpus(s.deps, 0);
    const lookupMs = await lookupBaseline(s.deps, c);
    const product = await productP50(s.deps, c, "commonterm", 30);
    const req = await request(s.deps, c, "commonterm");
    const slow: number[] = [];
    for (let i = 0; i < 7; i++) {
      slow.push((await timed(() => direct(s.deps, { ...req, exhaustive: true })))[0]);
    }
    await direct(s.deps, req);
    const fast: number[] = [];
    for (let i = 0; i < 30; i++) fast.push((await timed(() => direct(s.deps, req)))[0]);
    const agree = await agreement(s.deps, c);
    const after = await productP50(s.deps, c, "commonterm", 30);
    return {
      copy: { seeded: copy.seeded, seconds: copy.seconds },
      lookupMs,
      product,
      productAfterChanges: after,
      commonDirect: { exhaustive: p50(slow), withList: p50(fast) },
      agree,
    };
  } finally {
    await s.stop();
    await copy.drop();
  }
}

/**
 * The last of the identical workspaces and the workspace alone, both servers up at once and
 * searched in alternating blocks of 20 (the machine's noise falls on both alike): p50 of each.
 */
async function measureTenants() {
  const alone = await cachedCopy(`bench_topk_alone_${TENANT_DOCS}`, [TENANT_DOCS]);
  const many = await cachedCopy(
    `bench_topk_tenants_${TENANTS}x${TENANT_DOCS}`,
    Array(TENANTS).fill(TENANT_DOCS),
  );
  const one = await serve(alone.where);
  const all = await serve(many.where);
  try {
    const a = await openCorpus(one.deps, 0);
    const l = await openCorpus(all.deps, TENANTS - 1);
    const search = async (deps: Deps, c: Corpus) => {
      const [ms, r] = await timed(() =>
        searchWorkspace(deps, c.actor, { query: "commonterm", topK: 10 })
      );
      if (r.count === 0) throw new Error("commonterm found nothing");
      return ms;
    };
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < 5; i++) await search(one.deps, a), await search(all.deps, l);
    for (let block = 0; block < 10; block++) {
      for (let i = 0; i < 20; i++) xs.push(await search(one.deps, a));
      for (let i = 0; i < 20; i++) ys.push(await search(all.deps, l));
    }
    return { alone: { p50: p50(xs), p95: p95(xs) }, last: { p50: p50(ys), p95: p95(ys) } };
  } finally {
    await one.stop();
    await all.stop();
    await alone.drop();
    await many.drop();
  }
}

/** `deno task bench` runs it once per engine. */
export const engines = ["sqlite", "postgres"];

export async function run(): Promise<BenchResult> {
  await Deno.mkdir(CACHE, { recursive: true });
  const m = await measureMain();
  const t = await measureTenants();
  const f = (x: number) => `${x.toFixed(2)} ms`;
  const engine = pgAdminUrl() ? "PostgreSQL" : "SQLite";
  return {
    name: "search_topk",
    ratio: m.commonDirect.withList / m.commonDirect.exhaustive,
    ratioLabel: `${engine}: common word (25 % of ${DOCS}) p50 with the top-k list ÷ ranking ` +
      "every match, same query, same run (lower is better)",
    lines: [
      `${engine}, ${DOCS} documents (cache ${m.copy.seeded ? "seeded" : "reused"}, ${
        m.copy.seconds.toFixed(0)
      } s); baseline indexed point lookup ${(m.lookupMs * 1000).toFixed(1)} µs`,
      `"commonterm" via searchWorkspace (worker/pool): p50 ${f(m.product.p50)}, p95 ${
        f(m.product.p95)
      } = ${(m.product.p50 / m.lookupMs).toFixed(0)}× lookup; after +2 %/−1 % documents: p50 ${
        f(m.productAfterChanges.p50)
      }`,
      `"commonterm" on the calling thread: exhaustive p50 ${
        f(m.commonDirect.exhaustive)
      }, with the list ${f(m.commonDirect.withList)}`,
      `${QUERIES} random common words after +2 %/−1 % documents: overlap@10 ${
        (m.agree.overlapAt10 * 100).toFixed(1)
      } %, scores equal ${(m.agree.scoresMatching * 100).toFixed(1)} %; p50 with lists ${
        f(m.agree.withLists.p50)
      } (p95 ${f(m.agree.withLists.p95)}), exhaustive ${
        f(m.agree.exhaustive.p50)
      }; then, caught up, p50 ${f(m.agree.caughtUp.p50)} (p95 ${f(m.agree.caughtUp.p95)})`,
      `tenants: "commonterm" from the last of ${TENANTS} × ${TENANT_DOCS} documents p50 ${
        f(t.last.p50)
      } vs that workspace alone ${f(t.alone.p50)} = ${(t.last.p50 / t.alone.p50).toFixed(2)}×`,
    ],
    figures: { engine, docs: DOCS, ...m, tenants: t },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)}: ${r.ratioLabel}`);
}
