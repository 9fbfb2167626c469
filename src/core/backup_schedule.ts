/**
 * Scheduled backups (`--backup-dir`, `--backup-every-hours`, `--backup-keep`): the server
 * takes a backup (src/core/backup.ts) every period into `<backup-dir>/dust-mcp-backup-<UTC
 * time>/`, written under a hidden `.partial` name and renamed once complete, and keeps the
 * newest `--backup-keep`. One backup at a time across every process on the database: the run
 * is claimed under a lock (`claimScheduledBackup`), and none starts while another backup (a
 * manual `dust-mcp backup` too) is open. A failed backup is logged and tried at the next period.
 * @module
 */
import { join } from "node:path";
import type { Deps } from "../deps.ts";
import { createBackup } from "./backup.ts";
import { claimScheduledBackup, finishBackupRun } from "./backup_runs.ts";
import { MANIFEST_FILE } from "./backup_manifest.ts";

/** Names of complete scheduled backups: `dust-mcp-backup-20260131T235959Z` (+ `-2`, …). */
const BACKUP_NAME = /^dust-mcp-backup-\d{8}T\d{6}Z(-\d{1,3})?$/;
const PARTIAL_NAME = /^\.dust-mcp-backup-.*\.partial$/;

export interface BackupSchedule {
  /** Stop the timer; a backup under way stops copying and removes what it wrote. */
  stop(): Promise<void>;
  /** Run one tick now (tests): resolves when it is over. */
  tick(): Promise<void>;
}

export function startBackupSchedule(
  deps: Pick<Deps, "config" | "db" | "files" | "log" | "shutdown">,
  dbPath: string,
): BackupSchedule {
  const dir = deps.config.backupDir!;
  const everyMs = deps.config.backupEveryHours * 3600_000;
  let running: Promise<void> | null = null;
  const tick = () => {
    running ??= runDue(deps, dir, dbPath, everyMs).catch((e) =>
      deps.log.warn("scheduled backup failed", { error: String(e) })
    ).finally(() => (running = null));
    return running;
  };
  // Checked often enough to start within a quarter of the period (at most every minute).
  const timer = setInterval(tick, Math.max(500, Math.min(60_000, everyMs / 4)));
  void tick();
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** Take a backup when one is due and this process wins the claim. */
async function runDue(
  deps: Pick<Deps, "config" | "db" | "files" | "log" | "shutdown">,
  dir: string,
  dbPath: string,
  everyMs: number,
): Promise<void> {
  if (deps.shutdown.aborted) return;
  const runId = await claimScheduledBackup(deps.db, everyMs);
  if (!runId) return;
  const log = deps.log;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await removeStalePartials(dir);
  } catch (e) {
    await finishBackupRun(deps.db, runId, `failed: ${(e as Error).message}`);
    throw e;
  }
  const name = await freshName(dir);
  const partial = join(dir, `.${name}.partial`);
  try {
    const done = await createBackup({
      db: deps.db,
      dbPath,
      files: deps.files,
      to: partial,
      runId,
      signal: deps.shutdown,
    });
    await Deno.rename(partial, join(dir, name));
    const removed = await pruneBackups(dir, deps.config.backupKeep);
    log.info("scheduled backup written", {
      dir: join(dir, name),
      files: done.manifest.totals.files,
      bytes: done.manifest.totals.bytes,
      snapshotMs: Math.round(done.snapshotMs),
      copyMs: Math.round(done.copyMs),
      removedOld: removed,
    });
  } finally {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
  }
}

/** `dust-mcp-backup-<UTC time>`, suffixed when that name is taken. */
async function freshName(dir: string): Promise<string> {
  const base = `dust-mcp-backup-${new Date().toISOString().replace(/[-:]|\.\d+/g, "")}`;
  for (let i = 1; i < 1000; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    if (!(await Deno.stat(join(dir, name)).then(() => true, () => false))) return name;
  }
  throw new Error(`no free backup name in ${dir}`);
}

/** Partial directories a stopped or crashed run left (only one scheduled run at a time). */
async function removeStalePartials(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory && PARTIAL_NAME.test(e.name)) {
      await Deno.remove(join(dir, e.name), { recursive: true }).catch(() => {});
    }
  }
}

/** Keep the newest `keep` complete scheduled backups; returns how many were removed. */
export async function pruneBackups(dir: string, keep: number): Promise<number> {
  const complete: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isDirectory || !BACKUP_NAME.test(e.name)) continue;
    const hasManifest = await Deno.stat(join(dir, e.name, MANIFEST_FILE)).then(
      (s) => s.isFile,
      () => false,
    );
    if (hasManifest) complete.push(e.name);
  }
  // Names sort by time (UTC, fixed width); a suffix sorts after its base.
  complete.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const old = complete.slice(0, Math.max(0, complete.length - keep));
  for (const name of old) await Deno.remove(join(dir, name), { recursive: true });
  return old.length;
}
