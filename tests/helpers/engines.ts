/**
 * The services the second test pass needs, started once by the test runner (scripts/test.ts)
 * for the whole run: the throwaway PostgreSQL cluster (tests/helpers/pg_cluster.ts) with a
 * migrated template database each test copies, and a loopback S3-protocol server whose bucket
 * test servers share under prefixes of their own — handed to the test processes through the
 * environment.
 * @module
 */
import postgres from "postgres";
import type { PgCluster } from "./pg_cluster.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import { startS3Server } from "./s3_server.ts";

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
  const s3 = await startS3Server().catch(async (e) => {
    await cluster.stop();
    throw e;
  });
  return {
    env: {
      DUST_MCP_TEST_PG_URL: cluster.url,
      DUST_MCP_TEST_PG_TEMPLATE: TEMPLATE,
      DUST_MCP_TEST_FILES_URL: s3.url,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
    stop: async () => {
      await s3.stop();
      await cluster.stop();
    },
  };
}
