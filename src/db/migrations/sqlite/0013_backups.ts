/**
 * Online backups (`dust-mcp backup`, scheduled backups):
 *
 * - `backup_runs`: one row per backup, its lease renewed while it copies. An unfinished run
 *   whose lease has not passed holds blob removals (below) and keeps the schedule from starting
 *   another; the schedule's next run is due from the last scheduled `started_at`.
 * - `backup_held_blobs`: bytes whose file row went away while a backup ran (a delete, an
 *   overwrite, the orphan sweep). They stay in the store until no backup runs, so a backup whose
 *   snapshot still references them can copy them; then the backup that ends last removes them.
 */
export const name = "backups";

export const sql = `
CREATE TABLE backup_runs (
  id TEXT PRIMARY KEY,
  scheduled INTEGER NOT NULL DEFAULT 0,
  started_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  finished_at INTEGER,
  outcome TEXT
) STRICT;
CREATE INDEX backup_runs_open ON backup_runs (finished_at, lease_until);

CREATE TABLE backup_held_blobs (
  storage_key TEXT PRIMARY KEY,
  held_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`;
