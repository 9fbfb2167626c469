/**
 * Forward-only migrations, recorded in `_migrations`, each applied in its own transaction.
 * A new schema change is a new numbered module added to {@link MIGRATIONS}.
 * @module
 */
import { type Db, now } from "./db.ts";
import * as m0001 from "./migrations/0001_init.ts";
import * as m0002 from "./migrations/0002_relay_and_tool_views.ts";
import * as m0003 from "./migrations/0003_agent_favorites.ts";
import * as m0004 from "./migrations/0004_audit_bounds_and_key_conversations.ts";
import * as m0005 from "./migrations/0005_search_partitions.ts";
import * as m0006 from "./migrations/0006_sign_in_limits.ts";
import * as m0007 from "./migrations/0007_storage_quotas.ts";
import * as m0008 from "./migrations/0008_stream_events_autoincrement.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: m0001.name, sql: m0001.sql },
  { version: 2, name: m0002.name, sql: m0002.sql },
  { version: 3, name: m0003.name, sql: m0003.sql },
  { version: 4, name: m0004.name, sql: m0004.sql },
  { version: 5, name: m0005.name, sql: m0005.sql },
  { version: 6, name: m0006.name, sql: m0006.sql },
  { version: 7, name: m0007.name, sql: m0007.sql },
  { version: 8, name: m0008.name, sql: m0008.sql },
];

/** Apply every pending migration; returns the versions applied (empty when up to date). */
export async function migrate(
  db: Db,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS _migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const applied = new Set(
    (await db.all<{ version: number }>("SELECT version FROM _migrations")).map((r) => r.version),
  );
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    await db.tx(async () => {
      // Another process may have applied it while we waited for the write lock.
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
