/**
 * The engine-specific half of `migrate-data`: lock a SQLite database for this process alone,
 * find what a PostgreSQL database holds, and copy every shared table from one to the other with
 * its ids, in dependency order and in bounded batches. The business of the move (refusals, files,
 * verification, reporting) is `core/migrate_data.ts`.
 *
 * What is not copied: the migrations ledger and PostgreSQL's credential counter (each database
 * keeps its own), SQLite's search index (FTS5 partitions `chunks_*`, their bookkeeping tables and
 * `document_chunks.partition_id`) and PostgreSQL's generated columns (`document_chunks.tsv`,
 * computed on insert). Any other difference between the two schemas is a bug and stops the copy
 * before it writes.
 * @module
 */
import type { Db } from "./db.ts";
import type { SqliteDb } from "./sqlite.ts";

/** SQLite's search-index bookkeeping: tables and a column PostgreSQL has no use for. */
export const SQLITE_ONLY_TABLES: readonly string[] = [
  "search_partitions",
  "search_space_moves",
  "search_index_trash",
  "search_chunk_ids",
];
export const SQLITE_ONLY_COLUMNS: readonly string[] = ["document_chunks.partition_id"];
/** PostgreSQL's committed counter of credential changes (migration 0020): each database its own. */
export const POSTGRES_ONLY_TABLES: readonly string[] = ["credential_epoch"];
/** FTS5 partitions (`chunks_fts_pN` and their shadow tables; `chunks_pN` are views). */
const SQLITE_ONLY_PREFIX = "chunks_";
/** Each engine's own migration ledger. */
const LEDGER = "_migrations";

/** Rows per INSERT at most, and parameters per INSERT at most (PostgreSQL's limit is 65535). */
const MAX_BATCH_ROWS = 500;
const MAX_BATCH_PARAMS = 20_000;
/** A batch is sent once its values hold about this many bytes (large documents). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** True for a SQLite table that stays behind (search index, ledger, SQLite's own). */
export function isSqliteOnlyTable(name: string): boolean {
  return SQLITE_ONLY_TABLES.includes(name) || name.startsWith(SQLITE_ONLY_PREFIX) ||
    name.startsWith("sqlite_") || name === LEDGER;
}

/** Quote an identifier (names come from the catalogs, never from input). */
function q(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Take SQLite's exclusive lock on the database and keep it until `db` closes: false when any
 * other connection, of this process or another, has the database open (a running server holds
 * the WAL index's shared lock for as long as it runs, even idle). While held, no other process
 * can read or write the file: a server started meanwhile waits its busy timeout and fails.
 */
export function lockSqliteExclusively(db: SqliteDb): boolean {
  db.conn.exec("PRAGMA busy_timeout = 0");
  db.conn.exec("PRAGMA locking_mode = EXCLUSIVE");
  try {
    db.conn.exec("BEGIN EXCLUSIVE");
    db.conn.exec("COMMIT");
    return true;
  } catch (e) {
    const code = (e as { errcode?: number }).errcode;
    if (code === 5 || code === 6 || /database is locked|busy/i.test(String(e))) return false;
    throw e;
  }
}

/** One table to copy: the columns both engines share, in dependency order with the others. */
export interface TablePlan {
  name: string;
  columns: string[];
  /** Rows are read in this column's order (`id`): a self-reference then points backwards. */
  orderBy: string | null;
  /** The PostgreSQL identity column, whose sequence restarts past the copied ids. */
  identity: string | null;
}

/** The migration versions a database has applied. */
export async function appliedVersions(db: Db): Promise<number[]> {
  return (await db.all<{ version: number }>("SELECT version FROM _migrations ORDER BY version"))
    .map((r) => Number(r.version));
}

/** PostgreSQL's tables (current schema) with their columns. */
async function postgresColumns(
  pg: Db,
): Promise<Map<string, { name: string; generated: boolean; identity: boolean }[]>> {
  const rows = await pg.all<{ t: string; c: string; generated: string; identity: string }>(
    `SELECT c.table_name AS t, c.column_name AS c, c.is_generated AS generated,
            c.is_identity AS identity
     FROM information_schema.columns c
     JOIN information_schema.tables t
       ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
     ORDER BY c.table_name, c.ordinal_position`,
  );
  const out = new Map<string, { name: string; generated: boolean; identity: boolean }[]>();
  for (const r of rows) {
    if (r.t === LEDGER || POSTGRES_ONLY_TABLES.includes(r.t)) continue;
    const list = out.get(r.t) ?? [];
    list.push({ name: r.c, generated: r.generated === "ALWAYS", identity: r.identity === "YES" });
    out.set(r.t, list);
  }
  return out;
}

/** SQLite's tables (those copied) with their columns (those copied). */
async function sqliteColumns(sqlite: Db): Promise<Map<string, string[]>> {
  const tables = await sqlite.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
  );
  const out = new Map<string, string[]>();
  for (const { name } of tables) {
    if (isSqliteOnlyTable(name)) continue;
    const cols = await sqlite.all<{ name: string }>(`PRAGMA table_info(${q(name)})`);
    out.set(
      name,
      cols.map((c) => c.name).filter((c) => !SQLITE_ONLY_COLUMNS.includes(`${name}.${c}`)),
    );
  }
  return out;
}

/** Foreign keys between PostgreSQL's tables: child → the tables it references. */
async function postgresReferences(pg: Db): Promise<Map<string, Set<string>>> {
  const rows = await pg.all<{ child: string; parent: string }>(
    `SELECT ch.relname AS child, pa.relname AS parent
     FROM pg_constraint c
     JOIN pg_class ch ON ch.oid = c.conrelid
     JOIN pg_class pa ON pa.oid = c.confrelid
     JOIN pg_namespace n ON n.oid = ch.relnamespace
     WHERE c.contype = 'f' AND n.nspname = current_schema()`,
  );
  const out = new Map<string, Set<string>>();
  for (const { child, parent } of rows) {
    if (child === parent) continue; // a self-reference: rows are copied in id order
    const set = out.get(child) ?? new Set<string>();
    set.add(parent);
    out.set(child, set);
  }
  return out;
}

/** `names` sorted so that every table comes after the tables it references. */
function dependencyOrder(names: string[], refs: Map<string, Set<string>>): string[] {
  const pending = new Set(names);
  const order: string[] = [];
  while (pending.size > 0) {
    const ready = [...pending].filter((t) => [...(refs.get(t) ?? [])].every((p) => !pending.has(p)))
      .sort();
    if (ready.length === 0) {
      throw new Error(`foreign keys form a cycle among: ${[...pending].sort().join(", ")}`);
    }
    for (const t of ready) {
      pending.delete(t);
      order.push(t);
    }
  }
  return order;
}

/**
 * The tables to copy, parents first, with the columns both engines share. Throws, before
 * anything is written, when the schemas differ otherwise than by the engine-specific parts.
 */
export async function planCopy(sqlite: Db, pg: Db): Promise<TablePlan[]> {
  const source = await sqliteColumns(sqlite);
  const target = await postgresColumns(pg);
  const problems: string[] = [];
  for (const [table, cols] of source) {
    const twin = target.get(table);
    if (!twin) {
      problems.push(`table ${table} is missing in PostgreSQL`);
      continue;
    }
    for (const c of cols) {
      if (!twin.some((t) => t.name === c)) problems.push(`column ${table}.${c} is missing`);
    }
    for (const t of twin) {
      if (!t.generated && !cols.includes(t.name)) {
        problems.push(`column ${table}.${t.name} is missing in SQLite`);
      }
    }
  }
  for (const table of target.keys()) {
    if (!source.has(table)) problems.push(`table ${table} is missing in SQLite`);
  }
  if (problems.length > 0) {
    throw new Error(`the two schemas differ (${problems.join("; ")})`);
  }
  const order = dependencyOrder([...source.keys()], await postgresReferences(pg));
  return order.map((name) => {
    const twin = target.get(name)!;
    const columns = twin.filter((t) => !t.generated).map((t) => t.name);
    return {
      name,
      columns,
      orderBy: columns.includes("id") ? "id" : null,
      identity: twin.find((t) => t.identity)?.name ?? null,
    };
  });
}

/** Every table of the database (any schema but the system's, readable by this user) that holds
 * a row, but the ledger and the credential counter (a migrated database's own). */
export async function postgresTablesWithRows(pg: Db): Promise<string[]> {
  const tables = await pg.all<{ s: string; t: string }>(
    `SELECT schemaname AS s, tablename AS t FROM pg_tables
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\\_%'
       AND has_table_privilege(format('%I.%I', schemaname, tablename), 'SELECT')
     ORDER BY schemaname, tablename`,
  );
  const out: string[] = [];
  for (const { s, t } of tables) {
    if (t === LEDGER || POSTGRES_ONLY_TABLES.includes(t)) continue;
    const row = await pg.get(`SELECT 1 AS present FROM ${q(s)}.${q(t)} LIMIT 1`);
    if (row) out.push(s === "public" ? t : `${s}.${t}`);
  }
  return out;
}

/** Rows in a table. */
export async function countRows(db: Db, table: string): Promise<number> {
  const row = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${q(table)}`);
  return Number(row?.n ?? 0);
}

/** Pause (or resume) PostgreSQL's user triggers on the copied tables: the rows they derive
 * (tool views of a global space, audit and storage counters) are copied as they are. */
export async function setUserTriggers(pg: Db, enabled: boolean): Promise<void> {
  const tables = await pg.all<{ t: string }>(
    `SELECT DISTINCT c.relname AS t
     FROM pg_trigger g
     JOIN pg_class c ON c.oid = g.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT g.tgisinternal AND n.nspname = current_schema()
     ORDER BY c.relname`,
  );
  for (const { t } of tables) {
    await pg.exec(`ALTER TABLE ${q(t)} ${enabled ? "ENABLE" : "DISABLE"} TRIGGER USER`);
  }
}

function valueBytes(v: unknown): number {
  if (typeof v === "string") return v.length;
  if (v instanceof Uint8Array) return v.byteLength;
  return 8;
}

/**
 * Copy one table's rows from SQLite into PostgreSQL, read through one cursor and written in
 * multi-row INSERTs of bounded size (memory stays bounded by one batch). Ids are kept.
 * `onProgress` hears the running count after each batch. Returns the rows copied.
 */
export async function copyTable(
  sqlite: SqliteDb,
  pg: Db,
  plan: TablePlan,
  onProgress: (rows: number) => void = () => {},
): Promise<number> {
  const cols = plan.columns;
  const list = cols.map(q).join(", ");
  const order = plan.orderBy ? ` ORDER BY ${q(plan.orderBy)}` : "";
  const cursor = sqlite.conn.prepare(`SELECT ${list} FROM ${q(plan.name)}${order}`).iterate();
  const perBatch = Math.max(
    1,
    Math.min(MAX_BATCH_ROWS, Math.floor(MAX_BATCH_PARAMS / cols.length)),
  );
  const tuple = `(${cols.map(() => "?").join(", ")})`;
  let values: unknown[] = [];
  let rows = 0;
  let bytes = 0;
  let copied = 0;
  const flush = async () => {
    if (rows === 0) return;
    const sql = `INSERT INTO ${q(plan.name)} (${list}) VALUES ${
      Array.from({ length: rows }, () => tuple).join(", ")
    }`;
    try {
      // deno-lint-ignore no-explicit-any
      await pg.run(sql, ...(values as any[]));
    } catch (e) {
      const first = plan.orderBy ? ` (the batch from ${plan.orderBy} ${values[0]})` : "";
      throw new Error(`copying ${plan.name}${first}: ${(e as Error).message}`, { cause: e });
    }
    copied += rows;
    onProgress(copied);
    values = [];
    rows = 0;
    bytes = 0;
  };
  for (const row of cursor) {
    for (const c of cols) {
      const v = (row as Record<string, unknown>)[c];
      values.push(v);
      bytes += valueBytes(v);
    }
    rows++;
    if (rows >= perBatch || bytes >= MAX_BATCH_BYTES) await flush();
  }
  await flush();
  return copied;
}

/**
 * Move each identity sequence past the ids the copy kept: past the largest id, or past the
 * largest SQLite ever handed out (`sqlite_sequence`, for AUTOINCREMENT tables whose newest rows
 * were pruned: event ids a client may resume from are never reused).
 */
export async function resetIdentities(
  sqlite: Db,
  pg: Db,
  plans: readonly TablePlan[],
): Promise<void> {
  const hasSequences = await sqlite.get(
    "SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
  );
  for (const { name, identity } of plans) {
    if (!identity) continue;
    const max = await pg.get<{ m: number | null }>(
      `SELECT MAX(${q(identity)}) AS m FROM ${q(name)}`,
    );
    const seq = hasSequences
      ? await sqlite.get<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = ?", name)
      : undefined;
    const last = Math.max(Number(max?.m ?? 0), Number(seq?.seq ?? 0));
    if (last > 0) {
      await pg.get(
        "SELECT setval(pg_get_serial_sequence(?, ?), ?, true) AS last",
        q(name),
        identity,
        last,
      );
    }
  }
}
