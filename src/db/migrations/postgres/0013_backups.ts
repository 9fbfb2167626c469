/** PostgreSQL twin of SQLite's 0013: backup runs (leases) and blob removals they hold. */
export const name = "backups";

export const sql = `
CREATE TABLE backup_runs (
  id TEXT PRIMARY KEY,
  scheduled BIGINT NOT NULL DEFAULT 0,
  started_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL,
  finished_at BIGINT,
  outcome TEXT
);
CREATE INDEX backup_runs_open ON backup_runs (finished_at, lease_until);

CREATE TABLE backup_held_blobs (
  storage_key TEXT PRIMARY KEY,
  held_at BIGINT NOT NULL
);
`;
