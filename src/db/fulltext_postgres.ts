/**
 * Full-text search on PostgreSQL: each chunk's `tsv` (a generated `to_tsvector('simple', text)`
 * column, GIN-indexed, migration postgres/0001) matched with `@@` and ranked with `ts_rank`.
 * `ts_rank` reads only the chunk's own vector — no corpus statistics — so, unlike FTS5's bm25, no
 * score depends on other workspaces or unreadable spaces and the index needs no partitions.
 *
 * The same request and result shapes as the SQLite query (`core/search_query.ts`,
 * `core/node_query.ts`), run on the pool: PostgreSQL works in its own processes, so a search
 * never blocks this event loop and needs no worker thread.
 * @module
 */
import type { Db } from "./db.ts";
import type { SearchHit, SearchRequest } from "../core/search_query.ts";
import type { DocumentHit, NodeQueryRequest } from "../core/node_query.ts";
import { snippetOf, snippetWords } from "../core/snippet.ts";
import { matchTerms } from "../core/match_terms.ts";

/**
 * A tsquery text that ORs the terms. `buildMatchQuery` keeps letters, digits and marks only, so a
 * term holds no tsquery syntax; each is quoted all the same.
 */
function tsqueryText(terms: string[]): string {
  return terms.map((t) => `'${t.replaceAll("'", "''").replaceAll("\\", "\\\\")}'`).join(" | ");
}

const FILTERS = `
  d.workspace_id = :ws
  AND d.data_source_id IN (SELECT value FROM json_each(:ds))
  AND (CAST(:tgt AS BIGINT) IS NULL OR d.timestamp > :tgt)
  AND (CAST(:tlt AS BIGINT) IS NULL OR d.timestamp < :tlt)
  AND (CAST(:tin AS TEXT[]) IS NULL OR EXISTS (SELECT 1 FROM document_tags t
       WHERE t.document_row_id = d.id AND t.tag = ANY(CAST(:tin AS TEXT[]))))
  AND (CAST(:tnot AS TEXT[]) IS NULL OR NOT EXISTS (SELECT 1 FROM document_tags t
       WHERE t.document_row_id = d.id AND t.tag = ANY(CAST(:tnot AS TEXT[]))))
  AND (CAST(:nodes AS TEXT[]) IS NULL OR d.document_id = ANY(CAST(:nodes AS TEXT[]))
       OR EXISTS (SELECT 1 FROM json_array_elements_text(d.parents::json) p
                  WHERE p.value = ANY(CAST(:nodes AS TEXT[]))))
  AND (CAST(:nnot AS TEXT[]) IS NULL OR NOT (d.document_id = ANY(CAST(:nnot AS TEXT[]))
       OR EXISTS (SELECT 1 FROM json_array_elements_text(d.parents::json) p
                  WHERE p.value = ANY(CAST(:nnot AS TEXT[])))))`;

const SEARCH_SQL = `
WITH q AS (SELECT to_tsquery('simple', :query) AS q),
ranked AS (
  SELECT c.id, ts_rank(c.tsv, q.q) AS score
  FROM q, document_chunks c JOIN documents d ON d.id = c.document_row_id
  WHERE c.tsv @@ q.q AND ${FILTERS}
  ORDER BY score DESC, c.id
  LIMIT :limit
)
SELECT c.id AS chunk_id, c.document_row_id, c.chunk_index, c."offset" AS char_offset, c.text,
  c.hash, r.score
FROM ranked r JOIN document_chunks c ON c.id = r.id
ORDER BY r.score DESC, c.id`;

function filterParams(req: SearchRequest) {
  return {
    ws: req.workspaceId,
    ds: req.dataSourceIds,
    tgt: req.timestampGt,
    tlt: req.timestampLt,
    tin: req.tagsIn,
    tnot: req.tagsNot,
    nodes: req.nodeIds,
    nnot: req.nodeIdsNot ?? null,
  };
}

/** The best `limit` chunks the filters allow, best first. */
export async function runSearchQueryPostgres(db: Db, req: SearchRequest): Promise<SearchHit[]> {
  const terms = matchTerms(req.match);
  if (req.dataSourceIds.length === 0 || terms.length === 0) return [];
  const common = terms.length === 1 && !req.exhaustive
    ? await rankCommonWordPostgres(db, req, terms[0])
    : null;
  const words = snippetWords(req.match);
  if (common) return await detailsPostgres(db, terms, words, common);
  const rows = await db.all<Record<string, unknown>>(SEARCH_SQL, {
    query: tsqueryText(terms),
    ...filterParams(req),
    limit: req.limit,
  });
  return rows.map((r) => hitFromRow(r, words));
}

/** A hit, its snippet cut from its text (src/core/snippet.ts, as on SQLite). */
function hitFromRow(r: Record<string, unknown>, words: readonly string[]): SearchHit {
  return {
    chunkId: r.chunk_id as number,
    documentRowId: r.document_row_id as number,
    chunkIndex: r.chunk_index as number,
    offset: r.char_offset as number,
    text: r.text as string,
    hash: r.hash as string,
    score: r.score as number,
    snippet: snippetOf(r.text as string, words),
  };
}

/*
 * Top-k for a common word without ranking every match (issue 15, item 3). `ts_rank` reads
 * only the chunk's own vector, and a chunk's vector never changes for its id (chunks are
 * replaced, never edited; ids come from a sequence, never reused): a chunk's score is fixed.
 * So per workspace and common word (in at least COMMON_AT of its chunks) this process keeps
 * the word's best LIST_SIZE chunks in (score desc, id) order, ranked exhaustively once, with
 * the highest chunk id at that time. A later search ranks the list plus the matching chunks
 * with a higher id (a primary-key range), and keeps, in that order, those the filters allow
 * (deleted chunks drop out). Every other matching chunk of the workspace ranked below the
 * list's last one when it was built and still does: the answer is the exhaustive one. Too
 * few survivors (narrow filters), or more new matches than the list holds: exhaustive path
 * (and the list is rebuilt). Each instance keeps its own lists, in memory (bounded LRU).
 */
const COMMON_AT = 4096;
const LIST_SIZE = 1024;
const LISTS_MAX = 256;

interface ScoredList {
  since: number;
  ids: number[];
  scores: number[];
}

type Scored = { id: number; score: number };
const pgLists = new WeakMap<Db, Map<string, ScoredList>>();

const IN_WORKSPACE = `FROM document_chunks c JOIN documents d ON d.id = c.document_row_id
  WHERE c.tsv @@ to_tsquery('simple', :query) AND d.workspace_id = :ws`;

async function buildListPostgres(db: Db, ws: number, query: string): Promise<ScoredList | null> {
  const common = await db.get(
    `SELECT count(*) AS n FROM (SELECT 1 ${IN_WORKSPACE} LIMIT ${COMMON_AT}) x`,
    { query, ws },
  ) as { n: number | string };
  if (Number(common.n) < COMMON_AT) return null;
  // The highest id under a momentary SHARE lock (it waits for transactions inserting chunks):
  // an id taken from the sequence later is higher, so a chunk the list lacks is either ranked
  // below it or newer. A writer that holds the lock too long: no list this time.
  const last = await db.tx(async () => {
    await db.exec("SET LOCAL lock_timeout = '2s'");
    await db.exec("LOCK TABLE document_chunks IN SHARE MODE");
    return (await db.get("SELECT coalesce(max(id), 0) AS last FROM document_chunks") as {
      last: number | string;
    }).last;
  }).catch(() => null);
  if (last === null) return null;
  const best = await db.all<{ id: number | string; score: number }>(
    `SELECT c.id, ts_rank(c.tsv, to_tsquery('simple', :query)) AS score ${IN_WORKSPACE}
     ORDER BY score DESC, c.id LIMIT ${LIST_SIZE}`,
    { query, ws },
  );
  return {
    since: Number(last),
    ids: best.map((b) => Number(b.id)),
    scores: best.map((b) => b.score),
  };
}

async function rankCommonWordPostgres(
  db: Db,
  req: SearchRequest,
  term: string,
): Promise<Scored[] | null> {
  const query = tsqueryText([term]);
  let byTerm = pgLists.get(db);
  if (!byTerm) pgLists.set(db, byTerm = new Map());
  const key = `${req.workspaceId}\u0000${term}`;
  let list = byTerm.get(key) ?? null;
  byTerm.delete(key);
  let newer: Scored[] = [];
  if (list) {
    newer = (await db.all<{ id: number | string; score: number }>(
      `SELECT c.id, ts_rank(c.tsv, to_tsquery('simple', :query)) AS score ${IN_WORKSPACE}
       AND c.id > :since LIMIT ${LIST_SIZE + 1}`,
      { query, ws: req.workspaceId, since: list.since },
    )).map((r) => ({ id: Number(r.id), score: r.score }));
    if (newer.length > LIST_SIZE) list = null;
  }
  if (!list) {
    list = await buildListPostgres(db, req.workspaceId, query);
    newer = [];
    if (!list) return null;
  }
  byTerm.set(key, list);
  if (byTerm.size > LISTS_MAX) byTerm.delete(byTerm.keys().next().value!);
  const fresh = new Set(newer.map((n) => n.id));
  const candidates = [...newer];
  list.ids.forEach((id, i) => {
    if (!fresh.has(id)) candidates.push({ id, score: list.scores[i] });
  });
  candidates.sort((a, b) => b.score - a.score || a.id - b.id);
  const out: Scored[] = [];
  const batch = Math.max(64, req.limit * 8);
  for (let i = 0; i < candidates.length && out.length < req.limit; i += batch) {
    const slice = candidates.slice(i, i + batch);
    const kept = new Set(
      (await db.all<{ id: number | string }>(
        `SELECT c.id FROM document_chunks c JOIN documents d ON d.id = c.document_row_id
         WHERE c.id = ANY(CAST(:ids AS BIGINT[])) AND ${FILTERS}`,
        { ids: slice.map((c) => c.id), ...filterParams(req) },
      )).map((r) => Number(r.id)),
    );
    for (const c of slice) if (kept.has(c.id) && out.length < req.limit) out.push(c);
  }
  return out.length >= req.limit ? out : null;
}

/** Text, hash and snippet of the chosen chunks, in the given order. */
async function detailsPostgres(
  db: Db,
  terms: string[],
  words: readonly string[],
  ranked: Scored[],
): Promise<SearchHit[]> {
  const rows = await db.all<Record<string, unknown>>(
    `WITH q AS (SELECT to_tsquery('simple', :query) AS q)
     SELECT c.id AS chunk_id, c.document_row_id, c.chunk_index, c."offset" AS char_offset, c.text,
       c.hash, ts_rank(c.tsv, q.q) AS score
     FROM document_chunks c, q WHERE c.id = ANY(CAST(:ids AS BIGINT[]))`,
    { query: tsqueryText(terms), ids: ranked.map((r) => r.id) },
  );
  const byId = new Map(rows.map((r) => [Number(r.chunk_id), r]));
  return ranked.flatMap((r) => {
    const row = byId.get(r.id);
    return row ? [hitFromRow(row, words)] : [];
  });
}

const NODE_COLUMNS =
  "data_source_id, document_id, title, mime_type, source_url, parent_id, parents, timestamp";

/** Documents by id, or whose title (its id when untitled) contains the query; prefix first. */
export async function runNodeQueryPostgres(db: Db, req: NodeQueryRequest): Promise<DocumentHit[]> {
  if (req.nodeIds) {
    return await db.all<DocumentHit>(
      `SELECT ${NODE_COLUMNS} FROM documents WHERE data_source_id IN (SELECT value FROM json_each(?))
       AND document_id IN (SELECT value FROM json_each(?)) ORDER BY timestamp DESC, id DESC LIMIT ?`,
      req.dataSourceIds,
      req.nodeIds,
      req.limit,
    );
  }
  const literal = (req.query ?? "").toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
  return await db.all<DocumentHit>(
    `SELECT ${NODE_COLUMNS} FROM documents WHERE data_source_id IN (SELECT value FROM json_each(?))
     AND lower(coalesce(title, document_id)) LIKE ? ESCAPE '\\'
     ORDER BY lower(coalesce(title, document_id)) LIKE ? ESCAPE '\\' DESC, timestamp DESC, id DESC
     LIMIT ? OFFSET ?`,
    req.dataSourceIds,
    `%${literal}%`,
    `${literal}%`,
    req.limit,
    req.offset ?? 0,
  );
}

/** A search or node job of the search pool, run on PostgreSQL (`SearchWorkerPool.direct`). */
export async function runFullTextJob(
  db: Db,
  job: { kind: "search"; request: SearchRequest } | { kind: "nodes"; request: NodeQueryRequest },
): Promise<unknown> {
  return job.kind === "search"
    ? await runSearchQueryPostgres(db, job.request)
    : await runNodeQueryPostgres(db, job.request);
}

/** A chunk to store (the same shape `search_index.ts` takes). */
export interface ChunkRow {
  index: number;
  offset: number;
  text: string;
  hash: string;
}

/** Replace a document's chunks; the tsvector and its GIN entry follow the row. */
export async function replaceChunksPostgres(
  db: Db,
  docRowId: number,
  chunks: readonly ChunkRow[],
): Promise<void> {
  await db.run("DELETE FROM document_chunks WHERE document_row_id = ?", docRowId);
  const insert = db.prepare(
    `INSERT INTO document_chunks (document_row_id, chunk_index, "offset", text, hash)
     VALUES (?, ?, ?, ?, ?)`,
  );
  for (const c of chunks) await insert.run(docRowId, c.index, c.offset, c.text, c.hash);
}

export async function removeChunksPostgres(db: Db, docRowId: number): Promise<void> {
  await db.run("DELETE FROM document_chunks WHERE document_row_id = ?", docRowId);
}

/**
 * The PostgreSQL side of `checkSearchIndex`: every chunk's stored tsvector is the one its text
 * gives now, and the GIN index is valid and finds what a scan of the column finds for a sample
 * of the indexed words. "ok", or what is wrong.
 */
export async function checkFullTextIndex(db: Db): Promise<string> {
  const problems: string[] = [];
  const stale = await db.get(
    "SELECT count(*) AS n FROM document_chunks WHERE tsv IS DISTINCT FROM to_tsvector('simple', text)",
  ) as { n: number };
  if (stale.n > 0) problems.push(`${stale.n} chunks whose tsvector is not their text's`);
  const index = await db.get(
    `SELECT i.indisvalid AS valid, i.indisready AS ready FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'document_chunks_tsv'`,
  ) as { valid: number; ready: number } | undefined;
  if (!index || !index.valid || !index.ready) problems.push("the GIN index is missing or invalid");
  const words = await db.all(
    `SELECT word FROM ts_stat('SELECT tsv FROM document_chunks') ORDER BY nentry DESC, word
     LIMIT 20`,
  ) as { word: string }[];
  for (const { word } of words) {
    // The index answers (bitmap scan) against the column read row by row (the scan below).
    const indexed = await db.get(
      "SELECT count(*) AS n FROM document_chunks WHERE tsv @@ to_tsquery('simple', ?)",
      quoteLexeme(word),
    ) as { n: number };
    const scanned = await db.get(
      `SELECT count(*) AS n FROM document_chunks
       WHERE position(' ' || ? || ':' IN ' ' || tsv::text) > 0`,
      `'${word.replaceAll("'", "''")}'`,
    ) as { n: number };
    if (indexed.n !== scanned.n) {
      problems.push(`"${word}": the index finds ${indexed.n} chunks, a scan ${scanned.n}`);
    }
  }
  return problems.length === 0 ? "ok" : problems.join("; ");
}

/** A lexeme as a tsquery operand. */
function quoteLexeme(word: string): string {
  return `'${word.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}
