/**
 * Both engines' migrations end with the same tables and columns (run in the PostgreSQL pass of
 * `deno task test`, which has both). The search index is the one place the schemas differ by
 * design: SQLite's FTS5 partitions and their queues, PostgreSQL's tsvector column.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDb } from "../../src/db/sqlite.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { migrate, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from "../../src/db/migrate.ts";
import { createPgTestDatabase } from "../helpers/pg_test_db.ts";
import {
  POSTGRES_ONLY_TABLES,
  SQLITE_ONLY_COLUMNS,
  SQLITE_ONLY_TABLES,
} from "../../src/db/copy_tables.ts";

const ENGINE_ONLY = new Set([
  // SQLite: FTS5 partitions (bm25 statistics must not cross a boundary) and their queues, the
  // same list `migrate-data` leaves behind.
  ...SQLITE_ONLY_TABLES,
  ...SQLITE_ONLY_COLUMNS,
  // PostgreSQL: the generated tsvector of a chunk, the committed counter of credential changes.
  "document_chunks.tsv",
  ...POSTGRES_ONLY_TABLES,
]);

Deno.test({
  name: "[db] SQLite and PostgreSQL migrations end with the same tables and columns",
  ignore: !Deno.env.get("DUST_MCP_TEST_PG_URL"),
  async fn() {
    assert.deepEqual(
      SQLITE_MIGRATIONS.map((m) => [m.version, m.name]),
      POSTGRES_MIGRATIONS.map((m) => [m.version, m.name]),
    );
    const dir = await Deno.makeTempDir({ prefix: "dust-mcp-schema-" });
    await using pgDb = await createPgTestDatabase({ empty: true });
    const sqlite = openDb(join(dir, "dust-mcp.db"));
    const pg = new PostgresDb(pgDb.url, { max: 1 });
    try {
      await migrate(sqlite);
      await migrate(pg);
      const fromSqlite = new Set<string>();
      const tables = await sqlite.all<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'chunks_%'",
      );
      for (const { name } of tables) {
        fromSqlite.add(name);
        for (const c of await sqlite.all<{ name: string }>(`PRAGMA table_info("${name}")`)) {
          fromSqlite.add(`${name}.${c.name}`);
        }
      }
      const fromPg = new Set<string>();
      const cols = await pg.all<{ t: string; c: string }>(
        `SELECT table_name AS t, column_name AS c FROM information_schema.columns
         WHERE table_schema = 'public'`,
      );
      for (const { t, c } of cols) {
        fromPg.add(t);
        fromPg.add(`${t}.${c}`);
      }
      const shared = (x: string) => !ENGINE_ONLY.has(x) && !ENGINE_ONLY.has(x.split(".")[0]);
      const onlySqlite = [...fromSqlite].filter((x) => !fromPg.has(x) && shared(x));
      const onlyPg = [...fromPg].filter((x) => !fromSqlite.has(x) && shared(x));
      assert.deepEqual({ onlySqlite, onlyPg }, { onlySqlite: [], onlyPg: [] });
    } finally {
      await sqlite.close();
      await pg.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
