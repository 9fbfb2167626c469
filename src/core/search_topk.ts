/**
 * Top-k for a common word without ranking every match (issue 15, item 3), on SQLite's FTS5.
 *
 * FTS5 ranks a query by running `bm25()` on every matching row: ~0.5 µs each, so a word in
 * 250,000 chunks of a partition costs ~140 ms before `LIMIT` keeps ten. Walking the same
 * matches without `bm25()` costs ~7 ms (counting) — the ranking is the cost, not the index.
 *
 * So, per partition and common word (in at least {@link COMMON_AT} chunks), the worker keeps a
 * list of the word's best {@link LIST_SIZE} chunks in (bm25, id) order — ranked exhaustively
 * once — with each chunk's term frequency and length, which never change for a chunk id
 * (chunks are replaced, never edited). A later search of that word ranks only:
 * - the list, scored by bm25's own formula with the partition's current statistics (rows,
 *   average length, the word's document count: the same figures FTS5 reads), and
 * - the chunks indexed since the list was built (ids above its mark: chunk ids are never
 *   reused, migration 0019), ranked by FTS5 itself over that id range;
 * then keeps, in that order, the candidates the filters allow (deleted chunks have no row and
 * drop out). Every chunk outside both sets was already ranked below the list's last one, so the
 * answer is the exhaustive one — as long as corpus statistics move little: the list is rebuilt
 * when the partition's row count moved by 1/8 since, or when more new matches arrived than the
 * list holds. It is dropped when the partition's epoch moved (chunks with old ids entered or
 * left it: a space moved), and the exhaustive path answers whenever too few candidates survive
 * the filters. Only single-word queries take this path (after stop words are dropped, which is
 * what a common word alone is); several words are ranked as before.
 *
 * Lists live in the worker's memory (a bounded LRU per connection), so each worker builds a
 * word's list on its first search of it.
 * @module
 */
import type { DatabaseSync as Db } from "node:sqlite";

/** A word in at least this many chunks of a partition gets a top-k list. */
export const COMMON_AT = 4096;
/** Chunks a list holds (the best ones for the word when it was built). */
export const LIST_SIZE = 1024;
/** Lists kept per connection (least recently used dropped first). */
const LISTS_MAX = 256;

/** bm25's constants in FTS5 (`fts5_aux.c`). */
const K1 = 1.2;
const B = 0.75;

interface TermList {
  epoch: number;
  /** The last chunk id handed out when the list was built: newer chunks have higher ids. */
  since: number;
  /** The partition's row count when it was built. */
  rows: number;
  ids: number[];
  tf: number[];
  dl: number[];
  /** Chunks of the partition indexed since the list was built (whatever words they hold). */
  added: number;
  /** The word's document count, and the state of the partition it was counted in. */
  df: number;
  dfAt: string;
}

const lists = new WeakMap<Db, Map<string, TermList>>();

type Ranked = { id: number; bm: number };

/** The single word of a MATCH string built by `buildMatchQuery`, or null (several words). */
export function singleTerm(match: string): string | null {
  const m = /^"((?:[^"]|"")*)"$/.exec(match);
  return m ? m[1].replaceAll('""', '"') : null;
}

/** SQLite's varint (FTS5 writes its records with it). */
function readVarints(blob: Uint8Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < blob.length) {
    let v = 0;
    for (let n = 0;; n++) {
      const b = blob[i++];
      if (n === 8) {
        v = v * 256 + b;
        break;
      }
      v = v * 128 + (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    out.push(v);
  }
  return out;
}

/** Rows and tokens of an FTS5 table (its "averages" record, which `bm25()` reads). */
function totals(db: Db, t: string): { rows: number; tokens: number } {
  const r = db.prepare(`SELECT block FROM ${t}_data WHERE id = 1`).get() as
    | { block: Uint8Array }
    | undefined;
  const [rows = 0, tokens = 0] = r ? readVarints(r.block) : [];
  return { rows, tokens };
}

/** Chunks of the partition that hold the phrase `match` (what `bm25()` counts for its idf). */
function documentCount(db: Db, t: string, match: string, cap?: number): number {
  const sql = cap === undefined
    ? `SELECT count(*) AS n FROM ${t} WHERE ${t} MATCH :m`
    : `SELECT count(*) AS n FROM (SELECT rowid FROM ${t} WHERE ${t} MATCH :m LIMIT ${cap})`;
  return (db.prepare(sql).get({ m: match }) as { n: number }).n;
}

function idfOf(rows: number, hits: number): number {
  const idf = Math.log((rows - hits + 0.5) / (hits + 0.5));
  return idf <= 0 ? 1e-6 : idf;
}

/** `bm25()` of one word in a chunk, computed as FTS5 computes it (same operations, same order). */
function bm25(idf: number, tf: number, dl: number, avgdl: number): number {
  const score = 0 + idf * ((tf * (K1 + 1.0)) / (tf + K1 * (1 - B + B * dl / avgdl)));
  return -1.0 * score;
}

/** Rank the word exhaustively once and keep its best chunks with their frequency and length. */
/** Each chunk's length in tokens (FTS5's `docsize` record, which `bm25()` reads). */
function lengths(db: Db, t: string, ids: number[]): Map<number, number> {
  return new Map(
    (db.prepare(
      `SELECT id, sz FROM ${t}_docsize WHERE id IN (SELECT value FROM json_each(:ids))`,
    ).all({ ids: JSON.stringify(ids) }) as { id: number; sz: Uint8Array }[])
      .map((r) => [r.id, readVarints(r.sz)[0] ?? 0]),
  );
}

function buildList(
  db: Db,
  t: string,
  match: string,
  epoch: number,
  since: number,
): TermList {
  const best = db.prepare(
    `SELECT rowid AS id, bm25(${t}) AS bm FROM ${t} WHERE ${t} MATCH :m ORDER BY bm, rowid
     LIMIT ${LIST_SIZE}`,
  ).all({ m: match }) as Ranked[];
  const { rows, tokens } = totals(db, t);
  const avgdl = tokens / rows;
  const df = documentCount(db, t, match);
  const idf = idfOf(rows, df);
  const sizes = lengths(db, t, best.map((b) => b.id));
  const list: TermList = {
    epoch,
    since,
    rows,
    added: 0,
    df,
    dfAt: "",
    ids: [],
    tf: [],
    dl: [],
  };
  best.forEach((b) => {
    const dl = sizes.get(b.id) ?? 0;
    // bm25 = -idf·tf(k1+1)/(tf+K): solved for tf, an integer.
    const score = -b.bm;
    const k = K1 * (1 - B + B * dl / avgdl);
    list.ids.push(b.id);
    list.tf.push(Math.max(1, Math.round(score * k / (idf * (K1 + 1.0) - score))));
    list.dl.push(dl);
  });
  return list;
}

/** Newer chunk ids read per page when catching up, and pages per search at most. */
const SCAN_PAGE = 4096;
const SCAN_PAGES = 16;
/** Above this many new chunks of the partition, one pass over the word's matches instead. */
const ROW_LOOKUPS_MAX = 64;

/**
 * Add the chunks indexed since the list was built that hold the word, and move its mark past
 * them: their frequency from `highlight()` (one mark per occurrence), which, unlike `bm25()`,
 * does not walk every match to count documents; chunks of other partitions are skipped by id.
 * Chunk ids are handed out in commit order (one writer), so nothing lands below the mark later.
 * False when the list grew past twice its size or the backlog is too long: rebuild it.
 */
function catchUp(db: Db, t: string, partition: number, match: string, list: TermList): boolean {
  const ours: number[] = [];
  let hi = list.since;
  for (let page = 0;; page++) {
    if (page === SCAN_PAGES) return false;
    const rows = db.prepare(
      `SELECT id, partition_id AS p FROM document_chunks WHERE id > :since ORDER BY id
       LIMIT ${SCAN_PAGE}`,
    ).all({ since: hi }) as { id: number; p: number | null }[];
    for (const r of rows) if (r.p === partition) ours.push(r.id);
    if (rows.length > 0) hi = rows[rows.length - 1].id;
    if (rows.length < SCAN_PAGE) break;
  }
  if (ours.length > 0) {
    const found = (ours.length <= ROW_LOOKUPS_MAX
      ? db.prepare(
        `SELECT ${t}.rowid AS id, highlight(${t}, 0, char(1), '') AS h
         FROM json_each(:ids) j CROSS JOIN ${t} ON ${t}.rowid = j.value WHERE ${t} MATCH :m`,
      ).all({ ids: JSON.stringify(ours), m: match })
      : db.prepare(
        `SELECT rowid AS id, highlight(${t}, 0, char(1), '') AS h FROM ${t}
         WHERE ${t} MATCH :m AND rowid > :lo AND rowid <= :hi LIMIT ${2 * LIST_SIZE + 1}`,
      ).all({ m: match, lo: list.since, hi })) as { id: number; h: string }[];
    list.added += ours.length;
    if (list.ids.length + found.length > 2 * LIST_SIZE) return false;
    const listed = new Set(list.ids);
    const sizes = lengths(db, t, found.map((f) => f.id));
    for (const f of found.filter((f) => !listed.has(f.id))) {
      list.ids.push(f.id);
      list.tf.push(f.h.split("\u0001").length - 1);
      list.dl.push(sizes.get(f.id) ?? 0);
    }
  }
  list.since = hi;
  return true;
}

/**
 * The best `limit` chunks of FTS5 table `t` (partition `partition`) for a single common word
 * that `keep` allows, as ids with their bm25; null when this path does not apply (several
 * words, a word not common enough, too few candidates survive) and the caller must rank
 * exhaustively. `keep(ids)` returns the ids the filters allow.
 */
export function rankCommonWord(
  db: Db,
  t: string,
  partition: number,
  match: string,
  limit: number,
  keep: (ids: number[]) => Set<number>,
): Ranked[] | null {
  if (singleTerm(match) === null) return null;
  const head = db.prepare(
    `SELECT (SELECT epoch FROM search_partitions WHERE id = :p) AS epoch,
       (SELECT last FROM search_chunk_ids WHERE id = 1) AS last`,
  ).get({ p: partition }) as { epoch: number | null; last: number | null };
  if (head.epoch === null || head.last === null) return null;
  let byTerm = lists.get(db);
  if (!byTerm) lists.set(db, byTerm = new Map());
  const key = `${partition}\u0000${match}`;
  let list = byTerm.get(key);
  byTerm.delete(key);
  const { rows, tokens } = totals(db, t);
  if (list && (list.epoch !== head.epoch || Math.abs(rows - list.rows) * 8 > list.rows)) {
    list = undefined;
  }
  if (!list && documentCount(db, t, match, COMMON_AT) < COMMON_AT) return null;
  if (list && !catchUp(db, t, partition, match, list)) list = undefined;
  list ??= buildList(db, t, match, head.epoch, head.last);
  // The word's document count is counted again only when the partition changed: a chunk
  // removed changes its row count, a chunk added is seen by `catchUp`.
  const state = `${rows}:${tokens}:${list.added}`;
  if (list.dfAt === "") list.dfAt = state;
  else if (list.dfAt !== state) {
    list.df = documentCount(db, t, match);
    list.dfAt = state;
  }
  byTerm.set(key, list);
  if (byTerm.size > LISTS_MAX) byTerm.delete(byTerm.keys().next().value!);

  const avgdl = tokens / rows;
  const idf = idfOf(rows, list.df);
  const candidates: Ranked[] = list.ids.map((id, i) => ({
    id,
    bm: bm25(idf, list.tf[i], list.dl[i], avgdl),
  }));
  candidates.sort((a, b) => a.bm - b.bm || a.id - b.id);
  const out: Ranked[] = [];
  const batch = Math.max(64, limit * 8);
  for (let i = 0; i < candidates.length && out.length < limit; i += batch) {
    const slice = candidates.slice(i, i + batch);
    const kept = keep(slice.map((c) => c.id));
    for (const c of slice) if (kept.has(c.id) && out.length < limit) out.push(c);
  }
  return out.length >= limit ? out : null;
}
