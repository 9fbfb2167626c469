/**
 * `openTestDb()`: a migrated database of the engine under test, of its own, disposable with
 * `await using`: a SQLite file in a temp directory, or a PostgreSQL database copied from the
 * migrated template (`DUST_MCP_TEST_DATABASE=postgres`).
 */
import { join } from "node:path";
import { openDb } from "../../src/db/sqlite.ts";
import type { Db } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { testEngine } from "./server.ts";
import { createPgTestDatabase } from "./pg_test_db.ts";

export interface TestDb extends AsyncDisposable {
  db: Db;
}

export async function openTestDb(): Promise<TestDb> {
  if (testEngine() === "postgres") {
    const pg = await createPgTestDatabase();
    const db = new PostgresDb(pg.url, { max: 4 });
    return {
      db,
      [Symbol.asyncDispose]: async () => {
        await db.close();
        await pg.drop();
      },
    };
  }
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-db-" });
  const db = openDb(join(dir, "dust-mcp.db"));
  await migrate(db);
  return {
    db,
    [Symbol.asyncDispose]: async () => {
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
