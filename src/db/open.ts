/**
 * Open the database a configuration names: SQLite in the data directory when no database URL
 * is set, PostgreSQL for a `postgres://` or `postgresql://` URL. The PostgreSQL driver is
 * imported only then, so an instance on SQLite never loads it.
 * @module
 */
import { join, resolve } from "node:path";
import type { Db } from "./db.ts";
import { StartError } from "../config.ts";
import { migrate } from "./migrate.ts";
import { openDb } from "./sqlite.ts";

export interface OpenDatabaseOptions {
  /** `postgres://…`, or null for SQLite in `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

/** The SQLite file of a data directory. */
export function sqlitePath(dataDir: string): string {
  return join(resolve(dataDir), "dust-mcp.db");
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Db> {
  let db: Db;
  if (options.databaseUrl === null) {
    await Deno.mkdir(resolve(options.dataDir), { recursive: true });
    db = openDb(sqlitePath(options.dataDir));
  } else {
    const { PostgresDb } = await import("./postgres.ts");
    const pg = new PostgresDb(options.databaseUrl, { max: options.poolSize });
    try {
      await pg.get("SELECT 1 AS ok");
    } catch (e) {
      await pg.close().catch(() => {});
      throw new StartError(`--database-url: cannot connect: ${describe(e)}`);
    }
    db = pg;
  }
  if (options.migrate ?? true) {
    try {
      await migrate(db);
    } catch (e) {
      await db.close().catch(() => {});
      throw e;
    }
  }
  return db;
}

/** The driver's reason, without the URL (it may hold a password). */
function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = (err.message ?? String(e)).replace(/postgres(ql)?:\/\/\S+/g, "<url>");
  return err.code && !msg.includes(err.code) ? `${msg} (${err.code})` : msg;
}
