/**
 * A consistent copy of a live SQLite database while other connections (the running server)
 * keep writing. Both methods read the database in ONE read transaction: in WAL mode a reader
 * never blocks writers, so the server's writes go on; the copy is the database as of the
 * moment that transaction began.
 *
 * - `vacuum`: `VACUUM INTO` — a compacted copy, in rollback-journal mode (one file).
 * - `backup-api`: SQLite's online backup API (`node:sqlite` `backup`) in a single step
 *   (`rate: -1`); a stepped backup restarts whenever another connection writes between steps,
 *   so under steady writes it may never finish.
 *
 * Both are synchronous in `node:sqlite`: {@link takeSnapshot} runs them in a worker thread so
 * the caller's event loop (the server's, for scheduled backups) never stalls.
 * bench/backup.ts measures both under write load; backups use {@link DEFAULT_SNAPSHOT_METHOD}.
 * @module
 */
import { backup } from "node:sqlite";
import { openSqliteConnection } from "./sqlite.ts";

export type SnapshotMethod = "vacuum" | "backup-api";

/**
 * The method backups use (bench/backup.ts: see the README's backup section for figures). The
 * backup API: `VACUUM INTO` attaches its target, and Deno's `node:sqlite` allows ATTACH only to
 * a process with every permission — the server and the compiled binary run with named ones.
 */
export const DEFAULT_SNAPSHOT_METHOD: SnapshotMethod = "backup-api";

export interface SnapshotRequest {
  /** The live database file. */
  source: string;
  /** A file that does not exist yet. */
  target: string;
  method: SnapshotMethod;
}

/** Take the snapshot on this thread (the worker's side; blocks it until done). */
export async function takeSnapshotHere(req: SnapshotRequest): Promise<void> {
  const db = openSqliteConnection(req.source, { readOnly: true });
  try {
    if (req.method === "vacuum") {
      db.prepare("VACUUM INTO ?").run(req.target);
      return;
    }
    await backup(db, req.target, { rate: -1 });
    // The copy keeps the source's WAL mode: make it one self-contained file.
    const copy = openSqliteConnection(req.target);
    try {
      copy.exec("PRAGMA journal_mode = DELETE");
    } finally {
      copy.close();
    }
  } finally {
    db.close();
  }
}

/** Bound on one snapshot (a stuck worker is terminated). */
const SNAPSHOT_TIMEOUT_MS = 6 * 3600_000;

/** Take the snapshot in a worker thread; resolves when the target file is complete. */
export async function takeSnapshot(req: SnapshotRequest): Promise<void> {
  const worker = new Worker(new URL("./sqlite_snapshot_worker.ts", import.meta.url).href, {
    type: "module",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const answer = await new Promise<{ ok: boolean; error?: string }>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      timer = setTimeout(
        () => reject(new Error("the snapshot took too long")),
        SNAPSHOT_TIMEOUT_MS,
      );
      worker.postMessage(req);
    });
    if (!answer.ok) throw new Error(`database snapshot failed: ${answer.error}`);
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
}
