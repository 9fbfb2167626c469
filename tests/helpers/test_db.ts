/**
 * `openTestDb()`: a migrated database of the engine under test, of its own, disposable with
 * `await using` — a SQLite file in a temp directory.
 */
import { join } from "node:path";
import { openDb } from "../../src/db/sqlite.ts";
import type { Db } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";

export interface TestDb extends AsyncDisposable {
  db: Db;
}

export async function openTestDb(): Promise<TestDb> {
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
