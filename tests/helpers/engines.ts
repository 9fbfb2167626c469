/**
 * The services a PostgreSQL test run needs, started once by the test runner (scripts/test.ts)
 * for the whole run: the throwaway cluster (tests/helpers/pg_cluster.ts) with a migrated
 * template database each test copies, handed to the test processes through the environment.
 * @module
 */
import postgres from "postgres";
import type { PgCluster } from "./pg_cluster.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { migrate } from "../../src/db/migrate.ts";

export const TEMPLATE = "dust_template";

export interface EngineServices {
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function prepareEngines(cluster: PgCluster): Promise<EngineServices> {
  try {
    const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${TEMPLATE}`);
    await admin.end();
    const url = new URL(cluster.url);
    url.pathname = `/${TEMPLATE}`;
    const db = new PostgresDb(url.href, { max: 1 });
    await migrate(db);
    await db.close();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return {
    env: { DUST_MCP_TEST_PG_URL: cluster.url, DUST_MCP_TEST_PG_TEMPLATE: TEMPLATE },
    stop: () => cluster.stop(),
  };
}
