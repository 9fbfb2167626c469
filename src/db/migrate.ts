/**
 * Forward-only migrations, one list per engine numbered alike, recorded in `_migrations`. Each
 * is applied in its own transaction under a lock every instance shares (several instances
 * starting at once migrate once; the others wait, then find nothing to do). A schema change is
 * a new numbered module in both `migrations/sqlite/` and `migrations/postgres/`.
 * @module
 */
import { type Db, type Engine, now } from "./db.ts";
import * as s0001 from "./migrations/sqlite/0001_init.ts";
import * as s0002 from "./migrations/sqlite/0002_relay_and_tool_views.ts";
import * as s0003 from "./migrations/sqlite/0003_agent_favorites.ts";
import * as s0004 from "./migrations/sqlite/0004_audit_bounds_and_key_conversations.ts";
import * as s0005 from "./migrations/sqlite/0005_search_partitions.ts";
import * as s0006 from "./migrations/sqlite/0006_sign_in_limits.ts";
import * as s0007 from "./migrations/sqlite/0007_storage_quotas.ts";
import * as s0008 from "./migrations/sqlite/0008_stream_events_autoincrement.ts";
import * as s0009 from "./migrations/sqlite/0009_stream_event_types.ts";
import * as s0010 from "./migrations/sqlite/0010_instances_and_leases.ts";
import * as s0011 from "./migrations/sqlite/0011_console.ts";
import * as s0012 from "./migrations/sqlite/0012_tool_approvals_and_sdk_routes.ts";
import * as s0013 from "./migrations/sqlite/0013_backups.ts";
import * as s0014 from "./migrations/sqlite/0014_invitations.ts";
import * as s0015 from "./migrations/sqlite/0015_oauth_traces.ts";
import * as s0016 from "./migrations/sqlite/0016_narrowed_consent.ts";
import * as s0017 from "./migrations/sqlite/0017_credential_changes_and_audit_counts.ts";
import * as s0019 from "./migrations/sqlite/0019_search_chunk_ids.ts";
import * as s0020 from "./migrations/sqlite/0020_credential_epoch.ts";
import * as p0001 from "./migrations/postgres/0001_init.ts";
import * as p0002 from "./migrations/postgres/0002_relay_and_tool_views.ts";
import * as p0003 from "./migrations/postgres/0003_agent_favorites.ts";
import * as p0004 from "./migrations/postgres/0004_audit_bounds_and_key_conversations.ts";
import * as p0005 from "./migrations/postgres/0005_search_partitions.ts";
import * as p0006 from "./migrations/postgres/0006_sign_in_limits.ts";
import * as p0007 from "./migrations/postgres/0007_storage_quotas.ts";
import * as p0008 from "./migrations/postgres/0008_stream_events_autoincrement.ts";
import * as p0009 from "./migrations/postgres/0009_stream_event_types.ts";
import * as p0010 from "./migrations/postgres/0010_instances_and_leases.ts";
import * as p0011 from "./migrations/postgres/0011_console.ts";
import * as p0012 from "./migrations/postgres/0012_tool_approvals_and_sdk_routes.ts";
import * as p0013 from "./migrations/postgres/0013_backups.ts";
import * as p0014 from "./migrations/postgres/0014_invitations.ts";
import * as p0015 from "./migrations/postgres/0015_oauth_traces.ts";
import * as p0016 from "./migrations/postgres/0016_narrowed_consent.ts";
import * as p0017 from "./migrations/postgres/0017_credential_changes_and_audit_counts.ts";
import * as p0019 from "./migrations/postgres/0019_search_chunk_ids.ts";
import * as p0020 from "./migrations/postgres/0020_credential_epoch.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

type Module = { name: string; sql: string };

/** Each migration with the number of its file: a version is never derived from a position. */
function list(modules: [number, Module][]): Migration[] {
  return modules.map(([version, m]) => ({ version, name: m.name, sql: m.sql }));
}

export const SQLITE_MIGRATIONS: readonly Migration[] = list([
  [1, s0001],
  [2, s0002],
  [3, s0003],
  [4, s0004],
  [5, s0005],
  [6, s0006],
  [7, s0007],
  [8, s0008],
  [9, s0009],
  [10, s0010],
  [11, s0011],
  [12, s0012],
  [13, s0013],
  [14, s0014],
  [15, s0015],
  [16, s0016],
  [17, s0017],
  [19, s0019],
  [20, s0020],
]);

export const POSTGRES_MIGRATIONS: readonly Migration[] = list([
  [1, p0001],
  [2, p0002],
  [3, p0003],
  [4, p0004],
  [5, p0005],
  [6, p0006],
  [7, p0007],
  [8, p0008],
  [9, p0009],
  [10, p0010],
  [11, p0011],
  [12, p0012],
  [13, p0013],
  [14, p0014],
  [15, p0015],
  [16, p0016],
  [17, p0017],
  [19, p0019],
  [20, p0020],
]);

/**
 * The newest SQLite schema version this build knows: the highest number, not the count
 * (numbers are assigned to parallel work ahead of time, so the list may have gaps).
 */
export const SQLITE_SCHEMA_VERSION = Math.max(...SQLITE_MIGRATIONS.map((m) => m.version));

/** The migrations of an engine. */
export function migrationsFor(engine: Engine): readonly Migration[] {
  return engine === "postgres" ? POSTGRES_MIGRATIONS : SQLITE_MIGRATIONS;
}

/** The SQLite list (tests that work on a SQLite file name it directly). */
export const MIGRATIONS = SQLITE_MIGRATIONS;

const LEDGER = {
  sqlite: `CREATE TABLE IF NOT EXISTS _migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`,
  postgres: `CREATE TABLE IF NOT EXISTS _migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`,
};

/** Apply every pending migration; returns the versions applied (empty when up to date). */
export async function migrate(
  db: Db,
  migrations: readonly Migration[] = migrationsFor(db.engine),
): Promise<number[]> {
  await db.lockedTx("dust-mcp:migrate", async () => await db.exec(LEDGER[db.engine]));
  const applied = new Set(
    (await db.all<{ version: number }>("SELECT version FROM _migrations")).map((r) => r.version),
  );
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    await db.lockedTx("dust-mcp:migrate", async () => {
      // Another process may have applied it while we waited for the lock.
      const again = await db.get("SELECT 1 FROM _migrations WHERE version = ?", m.version);
      if (again) return;
      await db.exec(m.sql);
      await db.run(
        "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
        m.version,
        m.name,
        now(),
      );
      done.push(m.version);
    });
  }
  return done;
}
