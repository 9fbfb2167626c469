/**
 * Backup runs and the blob removals they hold (migration 0013).
 *
 * A backup copies the bytes its database snapshot references AFTER taking the snapshot; a file
 * deleted or overwritten meanwhile would lose its bytes before they are copied. So while a run
 * is open (its row unfinished, its lease not passed) every removal of bytes a file row
 * referenced goes through {@link removeBlob}, which records the key in `backup_held_blobs`
 * instead of removing it. When the last run ends, {@link releaseHeldBlobs} removes those bytes.
 *
 * Why no removal can slip between the snapshot and the copy: a run's row commits before its
 * snapshot starts, and every remover checks for an open run AFTER its own row change committed.
 * If the row change is older than the snapshot, the snapshot does not reference the key; if it
 * is newer, so is the check, which then sees the run.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { BlobStore } from "../storage/blob_store.ts";
import { randomString } from "../util/ids.ts";

/** How long a run holds without renewing (a crashed backup stops holding after this). */
export const BACKUP_LEASE_MS = 10 * 60_000;

/** Whether a backup run is open now (its removals are held). */
export async function backupRunning(db: Db): Promise<boolean> {
  const row = await db.get(
    "SELECT 1 AS open FROM backup_runs WHERE finished_at IS NULL AND lease_until > ? LIMIT 1",
    now(),
  );
  return row !== undefined;
}

/**
 * Remove the bytes under `key`, which a files row referenced until a moment ago: at once when
 * no backup runs, else later ({@link releaseHeldBlobs}). Call it after the row change committed.
 */
export async function removeBlob(
  deps: { db: Db; files: BlobStore },
  key: string,
): Promise<void> {
  if (await backupRunning(deps.db)) {
    await deps.db.run(
      "INSERT INTO backup_held_blobs (storage_key, held_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
      key,
      now(),
    );
    return;
  }
  await deps.files.remove(key);
}

/** Open a run (its lease starts now); returns its id. `scheduled`: the schedule's own run. */
export async function openBackupRun(db: Db, scheduled = false): Promise<string> {
  const id = `bkp_${randomString(16)}`;
  const t = now();
  await db.run(
    "INSERT INTO backup_runs (id, scheduled, started_at, lease_until) VALUES (?, ?, ?, ?)",
    id,
    scheduled ? 1 : 0,
    t,
    t + BACKUP_LEASE_MS,
  );
  return id;
}

/** Push an open run's lease forward (the backup is still copying). */
export async function renewBackupRun(db: Db, id: string): Promise<void> {
  await db.run(
    "UPDATE backup_runs SET lease_until = ? WHERE id = ? AND finished_at IS NULL",
    now() + BACKUP_LEASE_MS,
    id,
  );
}

/** Close a run with its outcome ("ok" or the failure); old finished runs are forgotten. */
export async function finishBackupRun(db: Db, id: string, outcome: string): Promise<void> {
  const t = now();
  await db.run(
    "UPDATE backup_runs SET finished_at = ?, lease_until = ?, outcome = ? WHERE id = ?",
    t,
    t,
    outcome.slice(0, 500),
    id,
  );
  await db.run(
    "DELETE FROM backup_runs WHERE finished_at IS NOT NULL AND finished_at < ?",
    t - 90 * 24 * 3600_000,
  );
}

/** Keys released per page. */
const RELEASE_PAGE = 500;

/**
 * Remove the held bytes once no run is open (a run still open will release them when it ends);
 * a key some files row references again is only forgotten, never removed (keys are never
 * reused, so this does not happen; it is the safe side). Returns how many were removed.
 */
export async function releaseHeldBlobs(deps: { db: Db; files: BlobStore }): Promise<number> {
  let removed = 0;
  for (let page = 0; page < 10_000; page++) {
    if (await backupRunning(deps.db)) return removed;
    const rows = await deps.db.all<{ storage_key: string; referenced: number }>(
      `SELECT h.storage_key,
         CASE WHEN EXISTS (SELECT 1 FROM files f WHERE f.storage_key = h.storage_key)
           THEN 1 ELSE 0 END AS referenced
       FROM backup_held_blobs h ORDER BY h.storage_key LIMIT ?`,
      RELEASE_PAGE,
    );
    if (rows.length === 0) return removed;
    for (const row of rows) {
      if (!row.referenced) {
        await deps.files.remove(row.storage_key);
        removed++;
      }
      await deps.db.run("DELETE FROM backup_held_blobs WHERE storage_key = ?", row.storage_key);
    }
  }
  return removed;
}

/**
 * The schedule's claim, taken under one lock shared by every process on the database: when no
 * backup runs and the last scheduled one started `everyMs` ago or more (or never), open a
 * scheduled run and return its id; else null.
 */
export async function claimScheduledBackup(db: Db, everyMs: number): Promise<string | null> {
  return await db.lockedTx("dust-mcp:backup-schedule", async () => {
    if (await backupRunning(db)) return null;
    const last = await db.get<{ started_at: number | null }>(
      "SELECT MAX(started_at) AS started_at FROM backup_runs WHERE scheduled = 1",
    );
    const lastStarted = last?.started_at === null || last?.started_at === undefined
      ? null
      : Number(last.started_at);
    if (lastStarted !== null && lastStarted + everyMs > now()) return null;
    return await openBackupRun(db, true);
  });
}
