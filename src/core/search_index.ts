/**
 * The full-text index of document chunks, partitioned so that no ranking figure crosses a
 * boundary (issue 10, finding 3). bm25 ranks with statistics of the whole FTS5 table it runs
 * on (rows, rows holding each term, average length): with one table for the instance, a
 * member's own document scored differently depending on words in other workspaces, or in
 * restricted spaces they cannot read. So each partition has its own FTS5 table:
 *
 * - the open spaces of a workspace (`isOpenToWorkspace`: global, open regular), which every
 *   actor of the workspace reads, share one partition;
 * - every other space (restricted regular, Pod, system) is a partition of its own: whoever
 *   reads one of its documents reads them all.
 *
 * A search ranks each partition the caller reads and merges by score, as a search engine
 * merges its shards' scores; a member who reads only open spaces gets exactly the ranking of
 * their workspace's open content, whatever the rest of the instance holds.
 *
 * Layout (SQLite): partition N is the FTS5 table `chunks_fts_pN` (external content: the view
 * `chunks_pN` of the `document_chunks` rows whose `partition_id` is N), created on demand in
 * the writer's transaction. This module is the only writer of `document_chunks` and of those
 * tables; the rest of the core only asks it which partitions a search reads. On PostgreSQL
 * each function hands over to `db/fulltext_postgres.ts` (tsvector + GIN, ranked with no corpus
 * statistics, so nothing is partitioned): the one place the engines differ for search writes.
 *
 * What changes behind its back is caught by two queues the schema's triggers fill (migration
 * 0005): a space whose kind or restriction changed (`search_space_moves`: its chunks move to
 * their new partition) and documents deleted by a cascade (`search_index_trash`: their chunks
 * leave the index). {@link applyPendingIndexWork} empties both before every search and at
 * start, where it also indexes chunks that have no partition yet (indexed before 0005).
 * @module
 */
import { type Db, now } from "../db/db.ts";
import { isOpenToWorkspace } from "./access.ts";
import { SPACE_COLUMNS, spaceFromRow, type SpaceRow } from "./space_rows.ts";
import { partitionTable } from "./search_query.ts";
import {
  checkFullTextIndex,
  removeChunksPostgres,
  replaceChunksPostgres,
} from "../db/fulltext_postgres.ts";

const TOKENIZER = "unicode61 remove_diacritics 2";
/** Chunks indexed per transaction when catching up (start after migration 0005). */
const CATCH_UP_BATCH = 2000;

/** The view of partition `id`'s chunks (its FTS5 table's external content). */
function partitionView(id: number): string {
  partitionTable(id); // validates the id
  return `chunks_p${id}`;
}

/** A partition's scope in its workspace: null for the open spaces, else the space's row id. */
type Scope = number | null;

function scopeOf(space: Pick<SpaceRow, "id" | "kind" | "isRestricted">): Scope {
  return isOpenToWorkspace(space) ? null : space.id;
}

async function findPartition(db: Db, workspaceId: number, scope: Scope): Promise<number | null> {
  const r = await db.get(
    "SELECT id FROM search_partitions WHERE workspace_id = ? AND coalesce(space_id, 0) = ?",
    workspaceId,
    scope ?? 0,
  ) as { id: number } | undefined;
  return r?.id ?? null;
}

/** The partition of a scope, created (row, view, FTS5 table) when it has none yet. */
async function ensurePartition(db: Db, workspaceId: number, scope: Scope): Promise<number> {
  return await db.tx(async () => {
    const found = await findPartition(db, workspaceId, scope);
    if (found !== null) return found;
    const { id } = await db.get(
      "INSERT INTO search_partitions (workspace_id, space_id, created_at) VALUES (?, ?, ?) RETURNING id",
      workspaceId,
      scope,
      now(),
    ) as { id: number };
    const view = partitionView(id);
    await db.exec(
      `CREATE VIEW ${view} AS SELECT id, text FROM document_chunks WHERE partition_id = ${id}`,
    );
    await db.exec(
      `CREATE VIRTUAL TABLE ${partitionTable(id)} USING fts5(text, content = '${view}', ` +
        `content_rowid = 'id', tokenize = '${TOKENIZER}')`,
    );
    return id;
  });
}

/** A chunk to store (documents.ts cuts them). */
export interface ChunkInput {
  index: number;
  offset: number;
  text: string;
  hash: string;
}

/**
 * Replace a document's chunks and their index entries, in the partition of `space` (the
 * document's data source's space). Joins the caller's transaction.
 */
export async function replaceDocumentChunks(
  db: Db,
  space: Pick<SpaceRow, "id" | "workspaceId" | "kind" | "isRestricted">,
  docRowId: number,
  chunks: readonly ChunkInput[],
): Promise<void> {
  if (db.engine === "postgres") return await replaceChunksPostgres(db, docRowId, chunks);
  await db.tx(async () => {
    // A chunk id freed by a cascade may be reused below: its old entry must leave first.
    await emptyTrash(db);
    await removeDocumentChunks(db, docRowId);
    if (chunks.length === 0) return;
    const partition = await ensurePartition(db, space.workspaceId, scopeOf(space));
    // Ids never reused (migration 0019): a chunk newer than a top-k list has a higher id.
    const { last } = await db.get(
      "UPDATE search_chunk_ids SET last = last + ? WHERE id = 1 RETURNING last",
      chunks.length,
    ) as { last: number };
    const insert = db.prepare(
      `INSERT INTO document_chunks (id, document_row_id, chunk_index, "offset", text, hash,
         partition_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const table = partitionTable(partition);
    const index = db.prepare(`INSERT INTO ${table} (rowid, text) VALUES (?, ?)`);
    let id = last - chunks.length;
    for (const c of chunks) {
      id++;
      await insert.run(id, docRowId, c.index, c.offset, c.text, c.hash, partition);
      await index.run(id, c.text);
    }
  });
}

/** Remove a document's chunks and their index entries. Joins the caller's transaction. */
export async function removeDocumentChunks(db: Db, docRowId: number): Promise<void> {
  if (db.engine === "postgres") return await removeChunksPostgres(db, docRowId);
  await db.tx(async () => {
    const partitions = await db.all(
      `SELECT DISTINCT partition_id AS p FROM document_chunks
       WHERE document_row_id = ? AND partition_id IS NOT NULL`,
      docRowId,
    ) as { p: number }[];
    for (const { p } of partitions) {
      const t = partitionTable(p);
      await db.run(
        `INSERT INTO ${t} (${t}, rowid, text) SELECT 'delete', id, text FROM document_chunks
         WHERE document_row_id = ? AND partition_id = ?`,
        docRowId,
        p,
      );
    }
    await db.run("DELETE FROM document_chunks WHERE document_row_id = ?", docRowId);
  });
}

/** The chunks of a space's documents held by partition `from` (SQL, bound by name). */
const SPACE_CHUNKS = `SELECT c.id, c.text FROM data_sources ds
  JOIN documents d ON d.data_source_id = ds.id
  JOIN document_chunks c ON c.document_row_id = d.id
  WHERE ds.space_id = :space AND c.partition_id = :from`;

/**
 * Put every indexed chunk of a space's documents in the partition the space belongs to now
 * (after its kind or restriction changed). An operation that changes them calls this in its
 * own transaction; the schema's trigger queues the space as well, so a write that does not is
 * caught before the next search. Returns the number of chunks moved.
 */
export async function moveSpaceIndex(db: Db, spaceId: number): Promise<number> {
  if (db.engine === "postgres") return 0; // no partitions: nothing moves
  return await db.tx(async () => {
    const r = await db.get(`SELECT ${SPACE_COLUMNS} FROM spaces WHERE id = ?`, spaceId);
    if (!r) return 0;
    const space = spaceFromRow(r);
    const current = await findPartition(db, space.workspaceId, scopeOf(space));
    const from = (await db.all(
      `SELECT DISTINCT c.partition_id AS p FROM data_sources ds
       JOIN documents d ON d.data_source_id = ds.id
       JOIN document_chunks c ON c.document_row_id = d.id
       WHERE ds.space_id = ? AND c.partition_id IS NOT NULL AND c.partition_id IS NOT ?`,
      space.id,
      current,
    ) as { p: number }[]).map((x) => x.p);
    if (from.length === 0) return 0;
    const target = current ?? await ensurePartition(db, space.workspaceId, scopeOf(space));
    await bumpEpochs(db, [target, ...from]);
    const to = partitionTable(target);
    let moved = 0;
    for (const p of from) {
      const old = partitionTable(p);
      const args = { space: space.id, from: p };
      await db.run(
        `INSERT INTO ${old} (${old}, rowid, text) SELECT 'delete', id, text FROM (${SPACE_CHUNKS})`,
        args,
      );
      await db.run(`INSERT INTO ${to} (rowid, text) SELECT id, text FROM (${SPACE_CHUNKS})`, args);
      moved += Number(
        (await db.run(
          `UPDATE document_chunks SET partition_id = :to
           WHERE id IN (SELECT id FROM (${SPACE_CHUNKS}))`,
          { ...args, to: target },
        )).changes,
      );
    }
    return moved;
  });
}

/**
 * Chunks with old ids enter (or leave) these partitions: their top-k lists
 * (`search_topk.ts`), which trust that a chunk they do not hold is older and worse, are void.
 */
async function bumpEpochs(db: Db, partitions: readonly number[]): Promise<void> {
  await db.run(
    "UPDATE search_partitions SET epoch = epoch + 1 WHERE id IN (SELECT value FROM json_each(?))",
    JSON.stringify(partitions),
  );
}

/** Remove the index entries of chunks deleted by a cascade (queued by a trigger). */
async function emptyTrash(db: Db): Promise<number> {
  if (!await db.get("SELECT 1 FROM search_index_trash LIMIT 1")) return 0;
  return await db.tx(async () => {
    const partitions = await db.all(`SELECT id AS p FROM search_partitions
       WHERE id IN (SELECT DISTINCT partition_id FROM search_index_trash)`) as { p: number }[];
    for (const { p } of partitions) {
      const t = partitionTable(p);
      await db.run(
        `INSERT INTO ${t} (${t}, rowid, text)
         SELECT 'delete', chunk_id, text FROM search_index_trash WHERE partition_id = ?`,
        p,
      );
    }
    return Number((await db.run("DELETE FROM search_index_trash")).changes);
  });
}

/** Move the spaces queued by the schema's triggers (at most 1,000 per call). */
async function applySpaceMoves(db: Db): Promise<number> {
  const queued = await db.all("SELECT space_id AS id FROM search_space_moves LIMIT 1000") as {
    id: number;
  }[];
  let moved = 0;
  for (const { id } of queued) {
    await db.tx(async () => {
      moved += await moveSpaceIndex(db, id);
      await db.run("DELETE FROM search_space_moves WHERE space_id = ?", id);
    });
  }
  return moved;
}

/** Index the chunks that have no partition yet (those indexed before migration 0005). */
async function indexUnpartitioned(db: Db): Promise<number> {
  let total = 0;
  let batch: number;
  do {
    batch = await db.tx(async () => {
      const rows = await db.all(`SELECT c.id AS id, ds.space_id AS space FROM document_chunks c
         JOIN documents d ON d.id = c.document_row_id
         JOIN data_sources ds ON ds.id = d.data_source_id
         WHERE c.partition_id IS NULL LIMIT ${CATCH_UP_BATCH}`) as { id: number; space: number }[];
      const bySpace = Map.groupBy(rows, (r) => r.space);
      for (const [spaceId, chunks] of bySpace) {
        const space = spaceFromRow(
          await db.get(`SELECT ${SPACE_COLUMNS} FROM spaces WHERE id = ?`, spaceId),
        );
        const p = await ensurePartition(db, space.workspaceId, scopeOf(space));
        await bumpEpochs(db, [p]);
        const ids = JSON.stringify(chunks.map((c) => c.id));
        await db.run(
          "UPDATE document_chunks SET partition_id = ? WHERE id IN (SELECT value FROM json_each(?))",
          p,
          ids,
        );
        await db.run(
          `INSERT INTO ${partitionTable(p)} (rowid, text)
           SELECT id, text FROM document_chunks WHERE id IN (SELECT value FROM json_each(?))`,
          ids,
        );
      }
      return rows.length;
    });
    total += batch;
  } while (batch === CATCH_UP_BATCH);
  return total;
}

/** What {@link applyPendingIndexWork} did. */
export interface IndexWork {
  /** Index entries of cascade-deleted chunks removed. */
  trashed: number;
  /** Chunks moved to their space's new partition. */
  moved: number;
  /** Chunks indexed for the first time (content from before partitions). */
  indexed: number;
}

/**
 * Bring the index up to date with what changed behind this module's back (module comment):
 * one indexed probe per queue when nothing did.
 */
export async function applyPendingIndexWork(db: Db): Promise<IndexWork> {
  if (db.engine === "postgres") return { trashed: 0, moved: 0, indexed: 0 };
  const r = await db.get(`SELECT EXISTS (SELECT 1 FROM search_index_trash) AS trash,
       EXISTS (SELECT 1 FROM search_space_moves) AS moves,
       EXISTS (SELECT 1 FROM document_chunks WHERE partition_id IS NULL) AS fresh`) as {
    trash: number;
    moves: number;
    fresh: number;
  };
  return {
    trashed: r.trash ? await emptyTrash(db) : 0,
    moved: r.moves ? await applySpaceMoves(db) : 0,
    indexed: r.fresh ? await indexUnpartitioned(db) : 0,
  };
}

/**
 * At start: drop the tables of partitions whose row is gone (their space or workspace was
 * deleted), then apply pending work — after migration 0005 that indexes every existing chunk.
 */
export async function syncSearchIndex(db: Db): Promise<IndexWork & { dropped: number }> {
  if (db.engine === "postgres") return { trashed: 0, moved: 0, indexed: 0, dropped: 0 };
  const live = new Set(
    (await db.all("SELECT id FROM search_partitions") as { id: number }[]).map((r) => r.id),
  );
  const objects = await db.all(`SELECT type, name FROM sqlite_schema
     WHERE (type = 'table' AND name GLOB 'chunks_fts_p[0-9]*')
        OR (type = 'view' AND name GLOB 'chunks_p[0-9]*')`) as { type: string; name: string }[];
  let dropped = 0;
  for (const o of objects) {
    const m = /^chunks_(?:fts_)?p(\d+)$/.exec(o.name);
    if (!m || live.has(Number(m[1]))) continue;
    await db.exec(`DROP ${o.type === "view" ? "VIEW" : "TABLE"} ${o.name}`);
    if (o.type === "table") dropped++;
  }
  return { ...await applyPendingIndexWork(db), dropped };
}

/**
 * The partitions a search over these spaces of the workspace reads (the caller decided the
 * actor reads every one of them), after applying pending work so none is stale.
 */
export async function searchPartitionsFor(
  db: Db,
  workspaceId: number,
  spaceIds: readonly number[],
): Promise<number[]> {
  if (db.engine === "postgres") return [];
  await applyPendingIndexWork(db);
  const spaces = (await db.all(
    `SELECT ${SPACE_COLUMNS} FROM spaces
     WHERE workspace_id = ? AND id IN (SELECT value FROM json_each(?))`,
    workspaceId,
    JSON.stringify(spaceIds),
  )).map(spaceFromRow);
  const scopes = [...new Set(spaces.map((s) => scopeOf(s) ?? 0))];
  const rows = await db.all(
    `SELECT id FROM search_partitions
     WHERE workspace_id = ? AND coalesce(space_id, 0) IN (SELECT value FROM json_each(?))
     ORDER BY id`,
    workspaceId,
    JSON.stringify(scopes),
  ) as { id: number }[];
  return rows.map((r) => r.id);
}

/**
 * FTS5's integrity check of every partition against its content (rank 1), and no chunk left
 * without a partition: "ok", or what is wrong. Needs a writable connection (tests run it on a
 * copy of a crashed database). PostgreSQL (no partitions): every tsvector against its text and
 * the GIN index against a scan (`checkFullTextIndex`).
 */
export async function checkSearchIndex(db: Db): Promise<string> {
  if (db.engine === "postgres") return await checkFullTextIndex(db);
  const problems: string[] = [];
  for (const { id } of await db.all("SELECT id FROM search_partitions") as { id: number }[]) {
    const t = partitionTable(id);
    try {
      await db.exec(`INSERT INTO ${t} (${t}, rank) VALUES ('integrity-check', 1)`);
    } catch (e) {
      problems.push(`${t}: ${e instanceof Error ? e.message : e}`);
    }
  }
  const loose = await db.get(
    "SELECT count(*) AS n FROM document_chunks WHERE partition_id IS NULL",
  ) as { n: number };
  if (loose.n > 0) problems.push(`${loose.n} chunks are in no partition`);
  return problems.length === 0 ? "ok" : problems.join("; ");
}
