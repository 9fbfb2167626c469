/**
 * The operator commands `backup`, `restore` and `verify-backup` (the work is in
 * src/core/backup*.ts). Each prints progress lines and one result line; a refusal or failure
 * is one line on standard error and exit status 1.
 * @module
 */
import type { Config } from "./config.ts";
import type { Io } from "./cli.ts";
import { openBlobStore, openConfiguredDatabase } from "./server.ts";
import { sqlitePath } from "./db/open.ts";
import type { BlobStore } from "./storage/blob_store.ts";
import { LocalFiles } from "./storage/local_files.ts";
import { createBackup } from "./core/backup.ts";
import { restoreBackup } from "./core/backup_restore.ts";
import { verifyBackup } from "./core/backup_verify.ts";
import { BackupError } from "./core/backup_manifest.ts";
import { formatBytes } from "./core/migrate_data.ts";

/** Why `backup` does not copy a PostgreSQL database, and what to use (README "Backup"). */
export const POSTGRES_BACKUP_REFUSAL =
  "backup copies a SQLite data directory; this instance keeps its data in PostgreSQL " +
  "(--database-url), whose own tools make consistent online copies: pg_dump (a logical " +
  "snapshot, fine for small databases) or pg_basebackup with WAL archiving (point-in-time " +
  "recovery), or your managed service's automated backups and point-in-time recovery; keep " +
  "the files bucket versioned (and replicated) so a restore finds the bytes its rows name. " +
  'See the README section "Backup and restore".';

async function reported(io: Io, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof BackupError)) throw e;
    io.err(`dust-mcp: ${e.message.replace(/\s*\n\s*/g, " ")}`);
    return 1;
  }
}

/**
 * The running instance's store, for reading only. The local store is NOT initialised: that
 * would clear the temp files of uploads the running server has in flight.
 */
async function storeForReading(config: Config): Promise<BlobStore> {
  return config.filesUrl ? await openBlobStore(config) : new LocalFiles(config.dataDir);
}

/** `backup --to <dir>` (SQLite only). */
export async function runBackupCommand(config: Config, to: string, io: Io): Promise<number> {
  return await reported(io, async () => {
    if (config.databaseUrl) throw new BackupError(POSTGRES_BACKUP_REFUSAL);
    const dbPath = sqlitePath(config.dataDir);
    if (!(await Deno.stat(dbPath).then((s) => s.isFile, () => false))) {
      throw new BackupError(`--data-dir: no database at ${dbPath}`);
    }
    const db = await openConfiguredDatabase(config);
    const files = await storeForReading(config).catch(async (e) => {
      await db.close();
      throw e;
    });
    try {
      const done = await createBackup({ db, dbPath, files, to, report: (l) => io.out(l) });
      const m = done.manifest;
      io.out(
        `backup written to ${done.dir}: database (schema ${m.schemaVersion}) and ` +
          `${m.totals.files} files (${formatBytes(m.totals.bytes)}); snapshot ` +
          `${(done.snapshotMs / 1000).toFixed(1)} s, files ${(done.copyMs / 1000).toFixed(1)} s`,
      );
      return 0;
    } finally {
      await files.close();
      await db.close();
    }
  });
}

/** `restore --from <dir>` into the (empty) data directory and store of the settings. */
export async function runRestoreCommand(config: Config, from: string, io: Io): Promise<number> {
  return await reported(io, async () => {
    if (config.databaseUrl) {
      throw new BackupError(
        "restore writes a SQLite data directory; unset --database-url (to move the restored " +
          "instance to PostgreSQL afterwards, run migrate-data)",
      );
    }
    const opened: BlobStore[] = [];
    try {
      const done = await restoreBackup({
        from,
        dataDir: config.dataDir,
        openFiles: async () => {
          const store = await openBlobStore(config);
          opened.push(store);
          return store;
        },
        report: (l) => io.out(l),
      });
      const m = done.manifest;
      io.out(
        `restored the backup of ${m.createdAt} (dust-mcp ${m.serverVersion}, schema ` +
          `${m.schemaVersion}${
            done.migrated.length ? ` → ${m.schemaVersion + done.migrated.length}` : ""
          }) ` +
          `into ${config.dataDir}: ${done.files} files (${formatBytes(done.bytes)}); ` +
          "start the server with the same --data-dir" + (config.filesUrl ? " and --files-url" : ""),
      );
      return 0;
    } finally {
      for (const s of opened) await s.close();
    }
  });
}

/** `verify-backup --from <dir>`: exit 0 when sound, 1 with one line per problem. */
export async function runVerifyBackupCommand(from: string, io: Io): Promise<number> {
  return await reported(io, async () => {
    const { manifest, problems } = await verifyBackup(from);
    for (const p of problems) io.err(`dust-mcp: verify-backup: ${p}`);
    if (problems.length > 0) {
      io.err(`dust-mcp: ${from}: ${problems.length} problem(s); this backup cannot be trusted`);
      return 1;
    }
    const missing = manifest.missing.length
      ? `; ${manifest.missing.length} file(s) had no bytes already when it was taken`
      : "";
    io.out(
      `ok: ${from} — database and ${manifest.totals.files} files ` +
        `(${
          formatBytes(manifest.totals.bytes)
        }) match the manifest of ${manifest.createdAt}${missing}`,
    );
    return 0;
  });
}
