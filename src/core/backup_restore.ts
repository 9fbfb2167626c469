/**
 * `dust-mcp restore --from <dir>`: a backup into an EMPTY data directory (and, with
 * `--files-url`, an empty S3 prefix), every byte checked against the manifest on the way.
 *
 * Order, so that a failure leaves the target as empty as it was found:
 * 1. the manifest is read; a schema newer than this binary's is refused; the data directory
 *    must be empty (or absent) and the store hold nothing;
 * 2. the database is copied under a temporary name and its SHA-256 compared;
 * 3. every file is streamed into the store under its key, hashed on the way and compared;
 * 4. the database takes its name, is checked (`quick_check`), migrated to this binary's
 *    schema, and loses the source's backup bookkeeping (its runs and held removals).
 * A failure removes what steps 2–4 wrote.
 * @module
 */
import { join, resolve } from "node:path";
import { openDb } from "../db/sqlite.ts";
import { migrate, SQLITE_SCHEMA_VERSION } from "../db/migrate.ts";
import type { BlobStore } from "../storage/blob_store.ts";
import { LocalFiles } from "../storage/local_files.ts";
import { inPool } from "../util/async.ts";
import {
  BackupError,
  type BackupManifest,
  DATABASE_FILE,
  hashingTap,
  isEmptyOrAbsent,
  readManifest,
} from "./backup_manifest.ts";
import { formatBytes } from "./migrate_data.ts";

export interface RestoreInput {
  from: string;
  dataDir: string;
  /** Opens the store the restored instance will use (the data directory's `files/`, or S3);
   * called once the data directory was found empty. The caller closes it. */
  openFiles(): Promise<BlobStore>;
  report?(line: string): void;
}

export interface RestoreSummary {
  manifest: BackupManifest;
  files: number;
  bytes: number;
  /** Migrations applied on top of the backup's schema. */
  migrated: number[];
}

const FILE_COPIES = 4;

export async function restoreBackup(input: RestoreInput): Promise<RestoreSummary> {
  const report = input.report ?? (() => {});
  const manifest = await readManifest(input.from);
  if (manifest.schemaVersion > SQLITE_SCHEMA_VERSION) {
    throw new BackupError(
      `the backup's schema (version ${manifest.schemaVersion}) is newer than this dust-mcp's ` +
        `(${SQLITE_SCHEMA_VERSION}): restore it with dust-mcp ${manifest.serverVersion} or later`,
    );
  }
  const dataDir = resolve(input.dataDir);
  if (!(await isEmptyOrAbsent(dataDir))) {
    throw new BackupError(
      `--data-dir: ${dataDir} is not empty; restore only into an empty data directory ` +
        "(move the current one aside first)",
    );
  }
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  let files: BlobStore | null = null;
  try {
    files = await input.openFiles();
    if ((await files.listKeys({ max: 1 })).keys.length > 0) {
      throw new BackupError(
        "--files-url: the store already holds files; restore into an empty one",
      );
    }
    const restoring = join(dataDir, `${DATABASE_FILE}.restoring`);
    await copyChecked(join(input.from, DATABASE_FILE), restoring, manifest.database, "database");
    report(`database: ${formatBytes(manifest.database.size)}, SHA-256 checked`);
    const bytes = await restoreFiles(input.from, files, manifest, written, report);
    await Deno.rename(restoring, join(dataDir, DATABASE_FILE));
    const migrated = await finishDatabase(join(dataDir, DATABASE_FILE));
    return { manifest, files: manifest.files.length, bytes, migrated };
  } catch (e) {
    for (const key of written) await files?.remove(key).catch(() => {});
    for (const entry of await Array.fromAsync(Deno.readDir(dataDir)).catch(() => [])) {
      await Deno.remove(join(dataDir, entry.name), { recursive: true }).catch(() => {});
    }
    if (e instanceof BackupError) throw e;
    throw new BackupError((e as Error).message ?? String(e), { cause: e });
  }
}

/** Copy a file, comparing its size and hash with the manifest's. */
async function copyChecked(
  from: string,
  to: string,
  want: { size: number; sha256: string },
  what: string,
): Promise<void> {
  const source = await openForRestore(from, what);
  const tap = hashingTap();
  const out = await Deno.open(to, { write: true, createNew: true, mode: 0o600 });
  await source.readable.pipeThrough(tap.stream).pipeTo(out.writable);
  // pipeTo closed `out`; reopen to fsync.
  const again = await Deno.open(to, { read: true });
  await again.sync().finally(() => again.close());
  checkAgainst(tap.result(), want, what);
}

async function openForRestore(path: string, what: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BackupError(`${what}: missing from the backup (run verify-backup)`);
    }
    throw e;
  }
}

function checkAgainst(
  got: { size: number; sha256: string },
  want: { size: number; sha256: string },
  what: string,
): void {
  if (got.size !== want.size || got.sha256 !== want.sha256) {
    throw new BackupError(
      `${what}: the backup's copy is damaged (${got.size} bytes, SHA-256 ${got.sha256}; ` +
        `the manifest says ${want.size} bytes, ${want.sha256}); nothing was restored`,
    );
  }
}

/** Stream every file of the manifest into the store, each checked; returns the bytes. */
async function restoreFiles(
  from: string,
  files: BlobStore,
  manifest: BackupManifest,
  written: string[],
  report: (line: string) => void,
): Promise<number> {
  const source = new LocalFiles(from);
  let bytes = 0;
  await inPool(manifest.files, FILE_COPIES, async (f) => {
    const what = `file ${f.key}`;
    const stream = await source.readStream(f.key).catch((e) => {
      if (e instanceof Deno.errors.NotFound) {
        throw new BackupError(`${what}: missing from the backup (run verify-backup)`);
      }
      throw e;
    });
    const tap = hashingTap();
    written.push(f.key);
    await files.write(f.key, stream.pipeThrough(tap.stream));
    checkAgainst(tap.result(), f, what);
    bytes += f.size;
  });
  report(`files: ${manifest.files.length} restored (${formatBytes(bytes)}), SHA-256 checked`);
  if (manifest.missing.length > 0) {
    report(
      `warning: ${manifest.missing.length} file(s) had no bytes when the backup was taken ` +
        "(listed in its manifest); they stay unreadable",
    );
  }
  return bytes;
}

/** Check the restored database, bring it to this binary's schema, drop the source's backup
 * bookkeeping (a run open in the source would hold removals here). */
async function finishDatabase(path: string): Promise<number[]> {
  const db = openDb(path);
  try {
    const check = await db.all<{ quick_check: string }>("PRAGMA quick_check");
    const bad = check.map((r) => r.quick_check).filter((r) => r !== "ok");
    if (bad.length) throw new BackupError(`database: quick_check: ${bad.slice(0, 3).join("; ")}`);
    const migrated = await migrate(db);
    await db.tx(async () => {
      await db.run("DELETE FROM backup_runs WHERE finished_at IS NULL");
      await db.run("DELETE FROM backup_held_blobs");
    });
    return migrated;
  } finally {
    await db.close();
  }
}
