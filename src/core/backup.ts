/**
 * `dust-mcp backup --to <dir>` and the scheduled backups: a consistent snapshot of the live
 * SQLite database plus exactly the file bytes that snapshot references, with a manifest of
 * their hashes, while the server keeps serving.
 *
 * Order:
 * 1. a backup run opens (`backup_runs`): from now on no byte a file row referenced is removed
 *    (deletes, overwrites and the orphan sweep hold them, src/core/backup_runs.ts);
 * 2. the snapshot: one read transaction in a worker thread (src/db/sqlite_snapshot.ts), which
 *    never blocks the server's writers (WAL);
 * 3. the keys the SNAPSHOT references are read from the snapshot itself — bytes written after
 *    it are not copied, bytes removed after it are still there (held) — and streamed from the
 *    configured store (local or S3) into `<dir>/files/`, hashed on the way;
 * 4. the manifest is written last, then the run closes and releases the held removals.
 * A failure removes what was written to `<dir>`.
 * @module
 */
import { join } from "node:path";
import type { Db } from "../db/db.ts";
import { openDb } from "../db/sqlite.ts";
import {
  DEFAULT_SNAPSHOT_METHOD,
  type SnapshotMethod,
  takeSnapshot,
} from "../db/sqlite_snapshot.ts";
import type { BlobStore } from "../storage/blob_store.ts";
import { LocalFiles } from "../storage/local_files.ts";
import { inPool } from "../util/async.ts";
import { VERSION } from "../version.ts";
import {
  BACKUP_LEASE_MS,
  finishBackupRun,
  openBackupRun,
  releaseHeldBlobs,
  renewBackupRun,
} from "./backup_runs.ts";
import {
  BackupError,
  type BackupManifest,
  DATABASE_FILE,
  FILES_DIR,
  hashFile,
  hashingTap,
  isEmptyOrAbsent,
  MANIFEST_FILE,
  type ManifestFile,
  writeFileSynced,
} from "./backup_manifest.ts";
import { formatBytes } from "./migrate_data.ts";

export interface BackupInput {
  /** The live database (holds are recorded in it) and its file. */
  db: Db;
  dbPath: string;
  /** The store the instance keeps its bytes in (read only). */
  files: BlobStore;
  /** A directory that does not exist or is empty. */
  to: string;
  /** A run the caller opened (the schedule's claim); else the backup opens its own. */
  runId?: string;
  method?: SnapshotMethod;
  /** One progress line. */
  report?(line: string): void;
  /** Stops the copy (the server stopping); the backup then fails and removes its files. */
  signal?: AbortSignal;
  /** TEST HOOK: runs between the snapshot and the first copy (deletes that race the copy). */
  afterSnapshot?: () => Promise<void>;
}

export interface BackupSummary {
  dir: string;
  manifest: BackupManifest;
  snapshotMs: number;
  copyMs: number;
  /** Held removals released when the run ended. */
  released: number;
}

/** Blobs copied at once (each a stream: memory stays a few buffers per copy). */
const FILE_COPIES = 4;
/** A progress line at least this often during long steps. */
const PROGRESS_EVERY_MS = 5_000;

export async function createBackup(input: BackupInput): Promise<BackupSummary> {
  const report = input.report ?? (() => {});
  if (!(await isEmptyOrAbsent(input.to))) {
    if (input.runId) await finishBackupRun(input.db, input.runId, "failed: target not empty");
    throw new BackupError(`--to: ${input.to} is not empty (a backup goes into a new directory)`);
  }
  const runId = input.runId ?? await openBackupRun(input.db);
  const renew = setInterval(() => {
    renewBackupRun(input.db, runId).catch(() => {});
  }, BACKUP_LEASE_MS / 5);
  try {
    await Deno.mkdir(input.to, { recursive: true, mode: 0o700 });
    await Deno.chmod(input.to, 0o700).catch(() => {});
    const summary = await writeBackup(input, report);
    clearInterval(renew);
    await finishBackupRun(input.db, runId, "ok");
    summary.released = await releaseHeldBlobs(input);
    return summary;
  } catch (e) {
    clearInterval(renew);
    await finishBackupRun(input.db, runId, `failed: ${(e as Error).message}`).catch(() => {});
    await releaseHeldBlobs(input).catch(() => {});
    await clearDirectory(input.to);
    if (e instanceof BackupError) throw e;
    throw new BackupError((e as Error).message ?? String(e), { cause: e });
  }
}

async function writeBackup(input: BackupInput, report: (line: string) => void) {
  const method = input.method ?? DEFAULT_SNAPSHOT_METHOD;
  const dbFile = join(input.to, DATABASE_FILE);
  const startedAt = new Date();
  const t0 = performance.now();
  await takeSnapshot({ source: input.dbPath, target: dbFile, method });
  const finishedAt = new Date();
  const snapshotMs = performance.now() - t0;
  const database = await hashFile(dbFile);
  report(`snapshot: ${formatBytes(database.size)} in ${(snapshotMs / 1000).toFixed(1)} s`);
  const { schemaVersion, referenced } = await readSnapshot(dbFile);
  await input.afterSnapshot?.();
  const t1 = performance.now();
  const copied = await copyReferencedBlobs(input, referenced, report);
  const copyMs = performance.now() - t1;
  const bytes = copied.files.reduce((n, f) => n + f.size, 0);
  const manifest: BackupManifest = {
    format: "dust-mcp-backup",
    formatVersion: 1,
    serverVersion: VERSION,
    engine: "sqlite",
    schemaVersion,
    createdAt: new Date().toISOString(),
    snapshot: { startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), method },
    source: { files: input.files.kind },
    database: { path: DATABASE_FILE, size: database.size, sha256: database.sha256 },
    files: copied.files.sort((a, b) => a.key.localeCompare(b.key)),
    missing: copied.missing,
    totals: { files: copied.files.length, bytes },
  };
  await writeFileSynced(join(input.to, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  await syncDirectory(input.to);
  return { dir: input.to, manifest, snapshotMs, copyMs, released: 0 };
}

interface ReferencedBlob {
  key: string;
  fileId: string;
}

/** The schema version and the file keys of the snapshot (read from the copy, not the live db). */
async function readSnapshot(
  path: string,
): Promise<{ schemaVersion: number; referenced: ReferencedBlob[] }> {
  const snap = openDb(path, { readOnly: true });
  try {
    const v = await snap.get<{ v: number }>("SELECT MAX(version) AS v FROM _migrations");
    const rows = await snap.all<{ storage_key: string; s_id: string }>(
      "SELECT storage_key, s_id FROM files WHERE storage_key IS NOT NULL ORDER BY storage_key",
    );
    return {
      schemaVersion: Number(v?.v ?? 0),
      referenced: rows.map((r) => ({ key: r.storage_key, fileId: r.s_id })),
    };
  } finally {
    await snap.close();
  }
}

/** Stream every referenced blob into `<to>/files/<key>`, hashing it; missing ones are listed. */
async function copyReferencedBlobs(
  input: BackupInput,
  referenced: ReferencedBlob[],
  report: (line: string) => void,
): Promise<{ files: ManifestFile[]; missing: { key: string; fileId: string }[] }> {
  const target = new LocalFiles(input.to);
  await target.init();
  const files: ManifestFile[] = [];
  const missing: { key: string; fileId: string }[] = [];
  let bytes = 0;
  let lastReport = performance.now();
  await inPool(referenced, FILE_COPIES, async ({ key, fileId }) => {
    if (input.signal?.aborted) throw new BackupError("stopped before the files were copied");
    let source: ReadableStream<Uint8Array>;
    try {
      source = await input.files.readStream(key);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      missing.push({ key, fileId });
      return;
    }
    const tap = hashingTap();
    await target.write(key, source.pipeThrough(tap.stream));
    const got = tap.result();
    files.push({ key, ...got });
    bytes += got.size;
    if (performance.now() - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = performance.now();
      report(`files: ${files.length}/${referenced.length} copied (${formatBytes(bytes)})`);
    }
  });
  await Deno.remove(join(input.to, FILES_DIR, "tmp"), { recursive: true }).catch(() => {});
  report(`files: ${files.length} copied (${formatBytes(bytes)})`);
  if (missing.length > 0) {
    report(
      `warning: ${missing.length} file(s) the snapshot references had no bytes in the store ` +
        `before this backup (recorded in the manifest): ${
          missing.slice(0, 5).map((m) => m.fileId).join(", ")
        }${missing.length > 5 ? ", …" : ""}`,
    );
  }
  missing.sort((a, b) => a.key.localeCompare(b.key));
  return { files, missing };
}

/** fsync a directory so the names written in it survive a crash (best effort off POSIX). */
async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true }).catch(() => null);
  if (!dir) return;
  try {
    await dir.sync().catch(() => {});
  } finally {
    dir.close();
  }
}

/** Remove what a failed backup wrote (the directory was empty or absent before). */
async function clearDirectory(path: string): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(path)).catch(() => []);
  for (const e of entries) {
    await Deno.remove(join(path, e.name), { recursive: true }).catch(() => {});
  }
}
