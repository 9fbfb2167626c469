/**
 * `migrate-data`: move a stopped instance from SQLite and local files to PostgreSQL and, when
 * given, an S3-compatible store — the step from one machine to several instances.
 *
 * Order, so that a refusal writes nothing and a failure leaves the target as it was found:
 * 1. the source is locked exclusively (refused while any process has it open: a running server);
 *    its pending migrations are applied, as a start of that instance would;
 * 2. the target must be empty: no table with a row (the migrations ledger aside), no object under
 *    the prefix; every file row's bytes must be in the source;
 * 3. the target schema is migrated (its own, PostgreSQL's, migrations);
 * 4. the file bytes are streamed to the store, each one read back and its SHA-256 compared;
 * 5. every table is copied with its ids, parents first, in one transaction under a lock; the
 *    identity sequences restart past the copied ids; row counts are compared per table before
 *    the commit. A failure in 4 or 5 rolls the rows back and removes the copied objects.
 * @module
 */
import { createHash } from "node:crypto";
import type { Db } from "../db/db.ts";
import { openDb, type SqliteDb } from "../db/sqlite.ts";
import { migrate, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "../db/migrate.ts";
import {
  appliedVersions,
  copyTable,
  countRows,
  lockSqliteExclusively,
  planCopy,
  postgresTablesWithRows,
  resetIdentities,
  setUserTriggers,
  type TablePlan,
} from "../db/copy_tables.ts";
import { LocalFiles } from "../storage/local_files.ts";
import { inPool } from "../util/async.ts";
// A type only: the S3 client is loaded by whoever opens the store, when one is configured.
import type { S3Files } from "../storage/s3_files.ts";

/** A refusal (source in use, target not empty) or a failure of the move: exit status 1. */
export class MigrateDataError extends Error {
  override name = "MigrateDataError";
}

export interface MigrateDataInput {
  /** The stopped instance's SQLite database. */
  sqlitePath: string;
  /** Its data directory (the bytes are in `files/`). */
  dataDir: string;
  /** The PostgreSQL database to fill (migrated or not, empty). */
  target: Db;
  /** The store to fill (an empty prefix); null: the bytes stay in the data directory. */
  files: S3Files | null;
  /** One progress line. */
  report(line: string): void;
}

export interface MigrateDataSummary {
  tables: number;
  rows: number;
  files: number;
  bytes: number;
  /** False when the bytes stayed in the data directory (no store given). */
  filesCopied: boolean;
  ms: number;
}

/** Files copied at once (each a stream: memory stays a few buffers per copy). */
const FILE_COPIES = 4;
/** File rows read per page. */
const FILE_PAGE = 500;
/** A progress line at least this often during long steps. */
const PROGRESS_EVERY_MS = 5_000;

export async function migrateData(input: MigrateDataInput): Promise<MigrateDataSummary> {
  try {
    return await move(input);
  } catch (e) {
    // One line for the operator (a refused privilege, a damaged file), whatever the step.
    if (e instanceof MigrateDataError) throw e;
    throw new MigrateDataError((e as Error).message ?? String(e), { cause: e });
  }
}

async function move(input: MigrateDataInput): Promise<MigrateDataSummary> {
  const started = performance.now();
  const { report } = input;
  const source = openSource(input.sqlitePath, input.dataDir);
  try {
    await prepareSource(source, report);
    await refuseUnlessEmpty(input.target, input.files);
    const local = new LocalFiles(input.dataDir);
    const scan = await scanSourceFiles(source, local);
    report(`source: ${scan.files} files (${formatBytes(scan.bytes)}) in ${local.root}`);
    const applied = await migrate(input.target);
    report(
      applied.length
        ? `target: applied migrations ${applied.join(", ")}`
        : "target: schema up to date",
    );
    const plans = await planCopy(source, input.target);
    try {
      if (input.files) await copyFiles(source, local, input.files, scan.files, report);
      else {
        report(
          `files: stay in ${local.root} (no --files-url); several instances need a shared store`,
        );
      }
      const rows = await copyRows(source, input.target, plans, report);
      return {
        tables: plans.length,
        rows,
        files: scan.files,
        bytes: scan.bytes,
        filesCopied: input.files !== null,
        ms: performance.now() - started,
      };
    } catch (e) {
      if (input.files) {
        const removed = await clearPrefix(input.files).catch(() => -1);
        report(
          removed >= 0
            ? `failed: rows rolled back, ${removed} copied objects removed`
            : "failed: rows rolled back; removing the copied objects failed too",
        );
      } else report("failed: rows rolled back");
      throw e;
    }
  } finally {
    await source.close();
  }
}

/** The source database, ours alone until closed. */
function openSource(path: string, dataDir: string): SqliteDb {
  const db = openDb(path);
  let locked = false;
  try {
    locked = lockSqliteExclusively(db);
  } finally {
    if (!locked) db.conn.close();
  }
  if (!locked) {
    throw new MigrateDataError(
      `the source database ${path} is in use: stop the server (and every command) using ` +
        `${dataDir} first`,
    );
  }
  return db;
}

/** Refuse a database made by a newer version; apply this version's pending migrations. */
async function prepareSource(source: SqliteDb, report: (line: string) => void): Promise<void> {
  let versions: number[];
  try {
    versions = await appliedVersions(source);
  } catch {
    throw new MigrateDataError(`${source.path} is not a dust-mcp database (no _migrations)`);
  }
  const known = new Set(SQLITE_MIGRATIONS.map((m) => m.version));
  const unknown = versions.filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new MigrateDataError(
      `the source database has migrations this version does not know (${unknown.join(", ")}): ` +
        "run migrate-data with the version that last served it",
    );
  }
  const applied = await migrate(source);
  report(
    `source: ${source.path}, schema version ${SQLITE_SCHEMA_VERSION}` +
      (applied.length ? ` (applied migrations ${applied.join(", ")})` : ""),
  );
}

async function refuseUnlessEmpty(target: Db, files: S3Files | null): Promise<void> {
  const tables = await postgresTablesWithRows(target);
  if (tables.length > 0) {
    const named = tables.slice(0, 5).join(", ") + (tables.length > 5 ? ", …" : "");
    throw new MigrateDataError(
      `the target database is not empty (rows in ${named}): migrate-data copies only into an ` +
        "empty database",
    );
  }
  if (files && await files.hasObjects()) {
    const { bucket, prefix } = files.location;
    throw new MigrateDataError(
      `the target store is not empty (objects under s3://${bucket}/${prefix}): migrate-data ` +
        "copies only into an empty prefix",
    );
  }
}

interface FileRow {
  id: number;
  s_id: string;
  storage_key: string;
}

/** The file rows that point at bytes, a page at a time in id order. */
async function* fileRows(source: Db): AsyncGenerator<FileRow[]> {
  let after = 0;
  for (;;) {
    const page = await source.all<FileRow>(
      `SELECT id, s_id, storage_key FROM files
       WHERE storage_key IS NOT NULL AND id > ? ORDER BY id LIMIT ?`,
      after,
      FILE_PAGE,
    );
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1].id;
  }
}

/** Count the bytes every file row points at; refuse when some are missing from the source. */
async function scanSourceFiles(
  source: Db,
  local: LocalFiles,
): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const missing: string[] = [];
  for await (const page of fileRows(source)) {
    for (const row of page) {
      try {
        bytes += (await Deno.stat(local.pathOf(row.storage_key))).size;
        files++;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        missing.push(`${row.s_id} (${row.storage_key})`);
      }
    }
  }
  if (missing.length > 0) {
    throw new MigrateDataError(
      `${missing.length} file(s) have no bytes in ${local.root}: ` +
        `${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}; ` +
        "restore them from a backup (or delete those files) before moving",
    );
  }
  return { files, bytes };
}

async function sha256Of(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest("hex");
}

/** Stream one blob to the store under the same key, read it back and compare SHA-256. */
async function copyFile(local: LocalFiles, files: S3Files, row: FileRow): Promise<number> {
  const hash = createHash("sha256");
  let size = 0;
  const tap = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      hash.update(chunk);
      size += chunk.length;
      out.enqueue(chunk);
    },
  });
  const written = await files.write(
    row.storage_key,
    (await local.readStream(row.storage_key)).pipeThrough(tap),
  );
  const sourceHash = hash.digest("hex");
  const targetHash = await sha256Of(await files.readStream(row.storage_key));
  if (written !== size || targetHash !== sourceHash) {
    throw new MigrateDataError(
      `file ${row.s_id} (${row.storage_key}): the stored copy differs from the source ` +
        `(SHA-256 ${targetHash} against ${sourceHash})`,
    );
  }
  return size;
}

async function copyFiles(
  source: Db,
  local: LocalFiles,
  files: S3Files,
  total: number,
  report: (line: string) => void,
): Promise<void> {
  const { bucket, prefix } = files.location;
  let done = 0;
  let bytes = 0;
  let lastReport = performance.now();
  for await (const page of fileRows(source)) {
    await inPool(page, FILE_COPIES, async (row) => {
      bytes += await copyFile(local, files, row);
      done++;
      if (performance.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = performance.now();
        report(`files: ${done}/${total} copied and verified (${formatBytes(bytes)})`);
      }
    });
  }
  report(
    `files: ${done}/${total} copied to s3://${bucket}/${prefix} and verified, SHA-256 equal ` +
      `(${formatBytes(bytes)})`,
  );
}

/** Copy every table in one transaction; verify the counts before it commits. */
async function copyRows(
  source: SqliteDb,
  target: Db,
  plans: readonly TablePlan[],
  report: (line: string) => void,
): Promise<number> {
  return await target.lockedTx("dust-mcp:migrate-data", async () => {
    // Checked again under the lock: another migrate-data may have filled it meanwhile.
    await refuseUnlessEmpty(target, null);
    await setUserTriggers(target, false);
    let rows = 0;
    for (const plan of plans) {
      const expected = await countRows(source, plan.name);
      let lastReport = performance.now();
      const copied = await copyTable(source, target, plan, (n) => {
        if (performance.now() - lastReport < PROGRESS_EVERY_MS) return;
        lastReport = performance.now();
        report(`table ${plan.name}: ${n}/${expected} rows`);
      });
      if (expected > 0) report(`table ${plan.name}: ${copied} rows`);
      rows += copied;
    }
    await resetIdentities(source, target, plans);
    await setUserTriggers(target, true);
    const differ: string[] = [];
    for (const plan of plans) {
      const [a, b] = [await countRows(source, plan.name), await countRows(target, plan.name)];
      if (a !== b) differ.push(`${plan.name} (${a} in SQLite, ${b} in PostgreSQL)`);
    }
    if (differ.length > 0) {
      throw new MigrateDataError(`row counts differ: ${differ.join(", ")}`);
    }
    report(`rows: ${rows} in ${plans.length} tables, counts equal in every table`);
    return rows;
  });
}

/** Remove what is under the prefix (it was empty before the copy began). */
async function clearPrefix(files: S3Files): Promise<number> {
  const { keys } = await files.listKeys();
  for (const key of keys) await files.remove(key);
  await files.abortStaleUploads(0);
  return keys.length;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}
