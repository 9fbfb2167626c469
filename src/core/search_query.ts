/**
 * The work a search worker does, as plain functions of a connection and a request: the FTS5
 * query (ranked by `bm25()`, which measured ~25 % faster than `ORDER BY rank`) and the grep
 * loop. The worker (`search_worker_main.ts`) calls them on its own read-only connection; the
 * benchmark calls them on the main thread to show what the worker saves.
 *
 * Access is decided before a request is built: the request carries the workspace, the
 * data-source row ids the caller may read and the index partitions holding them
 * (`search_index.ts`), and the SQL never looks beyond them. Each partition is ranked with its
 * own statistics; the best chunks of all are merged by score.
 * @module
 */
import type { DatabaseSync as Db } from "node:sqlite";
import { snippetOf, snippetWords } from "./snippet.ts";
import { rankCommonWord } from "./search_topk.ts";

export interface SearchRequest {
  /** An FTS5 MATCH string built by `buildMatchQuery` (quoted tokens only). */
  match: string;
  workspaceId: number;
  /** Index partitions to rank (`searchPartitionsFor`). */
  partitions: number[];
  dataSourceIds: number[];
  timestampGt: number | null;
  timestampLt: number | null;
  tagsIn: string[] | null;
  tagsNot: string[] | null;
  /** Document ids, or parent ids (folders) the document lists in `parents`. */
  nodeIds: string[] | null;
  /** Leave out these document ids and documents under these parents (Dust's `parents_not`). */
  nodeIdsNot?: string[] | null;
  limit: number;
  /**
   * Rank every match even for a common word (no top-k list, `search_topk.ts`): never set by
   * the core; benchmarks and tests compare the two.
   */
  exhaustive?: boolean;
}

/** The FTS5 table of index partition `id` (created by `search_index.ts`). */
export function partitionTable(id: number): string {
  if (!Number.isSafeInteger(id) || id < 1) throw new Error(`not a search partition id: ${id}`);
  return `chunks_fts_p${id}`;
}

export interface SearchHit {
  chunkId: number;
  documentRowId: number;
  chunkIndex: number;
  offset: number;
  text: string;
  hash: string;
  /** bm25 score negated: higher is better, as Dust's scores. */
  score: number;
  snippet: string;
}

/**
 * Why three statements: a MATCH on a common term yields tens of thousands of rows, and every
 * row that must be joined to its chunk and document before `LIMIT` costs two row lookups
 * (measured 120 ms for 25k matches against 19 ms for ranking alone). So: (1) rank on the bare
 * index and take the best `n` candidates; (2) keep the candidates the filters allow, looked up
 * by id; widen `n` while too few survive; past `FULL_SCAN_AT` candidates, run the filtered
 * query over every match instead. (3) Text only for the final top-k, read by id; the snippet is
 * cut from it (src/core/snippet.ts).
 * `CROSS JOIN` fixes the join order: left to itself, the planner drives from `documents`.
 * Statements name the partition's table, so they are prepared through the connection's
 * bounded statement cache (`openDb`).
 */
const rankSql = (t: string) => `
SELECT rowid AS id, bm25(${t}) AS bm FROM ${t}
WHERE ${t} MATCH :match ORDER BY bm, rowid LIMIT :n`;

const FILTERS = `
  d.workspace_id = :ws
  AND d.data_source_id IN (SELECT value FROM json_each(:ds))
  AND (:tgt IS NULL OR d.timestamp > :tgt)
  AND (:tlt IS NULL OR d.timestamp < :tlt)
  AND (:tin IS NULL OR EXISTS (SELECT 1 FROM document_tags t
       WHERE t.document_row_id = d.id AND t.tag IN (SELECT value FROM json_each(:tin))))
  AND (:tnot IS NULL OR NOT EXISTS (SELECT 1 FROM document_tags t
       WHERE t.document_row_id = d.id AND t.tag IN (SELECT value FROM json_each(:tnot))))
  AND (:nodes IS NULL OR d.document_id IN (SELECT value FROM json_each(:nodes))
       OR EXISTS (SELECT 1 FROM json_each(d.parents) p
                  WHERE p.value IN (SELECT value FROM json_each(:nodes))))
  AND (:nnot IS NULL OR NOT (d.document_id IN (SELECT value FROM json_each(:nnot))
       OR EXISTS (SELECT 1 FROM json_each(d.parents) p
                  WHERE p.value IN (SELECT value FROM json_each(:nnot)))))`;

const KEEP_SQL = `
SELECT c.id AS id FROM json_each(:ids) j
CROSS JOIN document_chunks c ON c.id = j.value
CROSS JOIN documents d ON d.id = c.document_row_id
WHERE ${FILTERS}`;

const fullSql = (t: string) => `
SELECT c.id AS id, bm25(${t}) AS bm FROM ${t}
CROSS JOIN document_chunks c ON c.id = ${t}.rowid
CROSS JOIN documents d ON d.id = c.document_row_id
WHERE ${t} MATCH :match AND ${FILTERS}
ORDER BY bm, c.id LIMIT :limit`;

/** Text of the final chunks, by id (their snippets are cut from it: src/core/snippet.ts). */
const DETAIL_SQL = `
SELECT c.id AS chunk_id, c.document_row_id, c.chunk_index, c."offset" AS char_offset, c.text,
  c.hash
FROM json_each(:ids) j
CROSS JOIN document_chunks c ON c.id = j.value`;

/** Candidates ranked on the bare index before the filtered full query takes over. */
export const FULL_SCAN_AT = 4096;

type Ranked = { id: number; bm: number };

function filterParams(req: SearchRequest) {
  const json = (v: string[] | null) => (v === null ? null : JSON.stringify(v));
  return {
    ws: req.workspaceId,
    ds: JSON.stringify(req.dataSourceIds),
    tgt: req.timestampGt,
    tlt: req.timestampLt,
    tin: json(req.tagsIn),
    tnot: json(req.tagsNot),
    nodes: json(req.nodeIds),
    nnot: json(req.nodeIdsNot ?? null),
  };
}

/** The candidates of partition `p` the filters allow (a chunk moved elsewhere drops out). */
const KEEP_IN_PARTITION_SQL = `${KEEP_SQL} AND c.partition_id = :p`;

/** The best `limit` chunks of partition `p` the filters allow, as ids with their bm25. */
function rankFiltered(db: Db, p: number, req: SearchRequest): Ranked[] {
  const t = partitionTable(p);
  const filters = filterParams(req);
  const common = req.exhaustive
    ? null
    : rankCommonWord(db, t, p, req.match, req.limit, (ids) =>
      new Set(
        (db.prepare(KEEP_IN_PARTITION_SQL).all({ ids: JSON.stringify(ids), p, ...filters }) as {
          id: number;
        }[]).map((r) => r.id),
      ));
  if (common) return common;
  for (let n = Math.max(64, req.limit * 8); n <= FULL_SCAN_AT; n *= 8) {
    const candidates = db.prepare(rankSql(t)).all({ match: req.match, n }) as Ranked[];
    if (candidates.length === 0) return [];
    const ids = JSON.stringify(candidates.map((c) => c.id));
    const kept = new Set(
      (db.prepare(KEEP_SQL).all({ ids, ...filters }) as { id: number }[]).map((r) => r.id),
    );
    const best = candidates.filter((c) => kept.has(c.id)).slice(0, req.limit);
    // Enough survivors, or every match was a candidate: the answer is exact.
    if (best.length >= req.limit || candidates.length < n) return best;
  }
  return db.prepare(fullSql(t)).all({ match: req.match, limit: req.limit, ...filters }) as Ranked[];
}

/**
 * Run one search on `db`: the best `limit` chunks of each partition, merged by score (a
 * stable sort: one partition keeps FTS5's order), then text and snippet for the final ones.
 */
export function runSearchQuery(db: Db, req: SearchRequest): SearchHit[] {
  if (req.dataSourceIds.length === 0 || req.match === "") return [];
  const ranked = req.partitions.flatMap((p) => rankFiltered(db, p, req).map((r) => ({ ...r, p })))
    .sort((a, b) => a.bm - b.bm || a.id - b.id).slice(0, req.limit);
  if (ranked.length === 0) return [];
  const byId = new Map<number, Record<string, unknown>>();
  const rows = db.prepare(DETAIL_SQL).all({
    ids: JSON.stringify(ranked.map((r) => r.id)),
  }) as Record<string, unknown>[];
  for (const r of rows) byId.set(r.chunk_id as number, r);
  const words = snippetWords(req.match);
  return ranked.flatMap(({ id, bm }) => {
    const r = byId.get(id);
    if (!r) return [];
    return [{
      chunkId: id,
      documentRowId: r.document_row_id as number,
      chunkIndex: r.chunk_index as number,
      offset: r.char_offset as number,
      text: r.text as string,
      hash: r.hash as string,
      score: -bm,
      snippet: snippetOf(r.text as string, words),
    }];
  });
}

/**
 * Rows (chunks) indexed in these partitions, read from each FTS5 table's averages record (its
 * `_data` row 1 starts with the row count as a varint): one point lookup per partition,
 * whatever the partition's size. The cost of any query over them is bounded by this count.
 */
export function partitionRowCount(db: Db, partitions: readonly number[]): number {
  let rows = 0;
  for (const p of partitions) {
    const r = db.prepare(`SELECT block FROM ${partitionTable(p)}_data WHERE id = 1`).get() as
      | { block: Uint8Array | null }
      | undefined;
    if (r?.block) rows += readVarint(r.block);
  }
  return rows;
}

/** SQLite's varint (big-endian 7-bit groups, a 9th byte of 8 bits), as FTS5 writes it. */
function readVarint(b: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < 9 && i < b.length; i++) {
    if (i === 8) return v * 256 + b[i];
    v = v * 128 + (b[i] & 0x7f);
    if ((b[i] & 0x80) === 0) return v;
  }
  return v;
}
