/**
 * `startTestServer()`: the real `startServer` on port 0 with a temp data directory, logs kept
 * in memory (`logs`), disposable with `await using`. File bytes go to the data directory, or
 * to an S3 bucket when `DUST_MCP_TEST_FILES_URL` names one (tests/helpers/test_files.ts).
 */
import { type Config, resolveConfig } from "../../src/config.ts";
import { type ServerHandle, type StartOptions, startServer } from "../../src/server.ts";
import { join } from "node:path";
import { createPgTestDatabase, type PgTestDatabase, testDatabaseUrl } from "./pg_test_db.ts";
import { awsEnv, clearTestFiles, filesUrlFor, testFilesSettings } from "./test_files.ts";

export interface TestServer extends ServerHandle {
  dataDir: string;
  config: Config;
  /** Every log line written so far (JSON strings). */
  logs: string[];
}

export interface TestServerOptions {
  /** Extra flags (e.g. `{ "peer-url": "http://..." }`), as on the command line. */
  flags?: Record<string, string>;
  /** Reuse a data directory (restarts); it is then not deleted on dispose. */
  dataDir?: string;
  /** Public URL; defaults to the listening URL so that metadata and tokens match. */
  publicUrl?: string;
  /** CIMD test hook (see StartOptions.cimdFetch). */
  cimdFetch?: StartOptions["cimdFetch"];
  /** Environment variables the config reads (e.g. AWS_* credentials for a `files-url` flag). */
  env?: Record<string, string>;
  /** "local": bytes in the data directory even when DUST_MCP_TEST_FILES_URL is set (tests
   * that look inside that directory). */
  files?: "local";
  /** "sqlite": the data directory's SQLite database even when the suite runs on PostgreSQL
   * (the source of a `migrate-data`). */
  engine?: "sqlite";
}

/** The engine the suite runs on: `DUST_MCP_TEST_DATABASE=postgres` (set by `deno task test`). */
export function testEngine(): "sqlite" | "postgres" {
  return Deno.env.get("DUST_MCP_TEST_DATABASE") === "postgres" ? "postgres" : "sqlite";
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "dust-mcp-test-" });
  const ownsDir = !options.dataDir;
  const logs: string[] = [];
  // On PostgreSQL a fresh database per server; a restart on the same data directory reuses it.
  const database = testEngine() === "postgres" && options.engine !== "sqlite" &&
      !options.flags?.["database-url"]
    ? await databaseFor(dataDir, ownsDir)
    : null;
  const flags = database ? { ...options.flags, "database-url": database.url } : options.flags;
  const { handle, config } = await startOnFreePort(
    { ...options, flags },
    dataDir,
    (l) => logs.push(l),
  )
    .catch(async (e) => {
      if (ownsDir) {
        await database?.drop().catch(() => {});
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      }
      throw e;
    });
  const stop = async () => {
    await handle.stop();
    if (ownsDir) {
      await database?.drop().catch(() => {});
      await clearTestFiles(config);
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  };
  return { ...handle, dataDir, config, logs, stop, [Symbol.asyncDispose]: stop };
}

/**
 * The environment that points an operator command or a server process at the stores of a
 * test data directory: nothing on SQLite with local files (both are in the directory); the
 * directory's own PostgreSQL database (created on first use, as `startTestServer` does) and S3
 * prefix otherwise.
 */
export async function engineEnv(
  dataDir: string,
  options: { empty?: boolean } = {},
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const files = filesUrlFor(dataDir);
  if (files) Object.assign(env, { DUST_MCP_FILES_URL: files }, awsEnv());
  if (testEngine() !== "postgres") return env;
  const db = await databaseFor(dataDir, false, options.empty);
  return { ...env, DUST_MCP_DATABASE_URL: db.url };
}

/**
 * The PostgreSQL database of a test data directory: created on first use and recorded in the
 * directory (`pg-database`), so a test that restarts a server on the same directory finds the
 * same data, as it would its SQLite file.
 */
async function databaseFor(
  dataDir: string,
  owned: boolean,
  empty = false,
): Promise<PgTestDatabase> {
  const marker = join(dataDir, "pg-database");
  const existing = await Deno.readTextFile(marker).catch(() => null);
  if (existing) {
    return {
      name: existing,
      url: testDatabaseUrl(existing),
      drop: () => Promise.resolve(), // the test that created the directory drops it
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
  }
  const db = await createPgTestDatabase({ empty });
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(marker, db.name);
  if (!owned) {
    // A directory the test manages: drop the database when the test process ends.
    addEventListener("unload", () => void db.drop());
  }
  return db;
}

/**
 * Bind first to learn a free port, so the public URL can name it. Another test may take the
 * port between the probe and the real bind: then try another one (at most 5 times).
 */
async function startOnFreePort(
  options: TestServerOptions,
  dataDir: string,
  logSink: (line: string) => void,
): Promise<{ handle: ServerHandle; config: Config }> {
  for (let attempt = 1;; attempt++) {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const files = testFilesSettings(dataDir, options.files);
    const config = resolveConfig({
      port: String(port),
      host: "127.0.0.1",
      "data-dir": dataDir,
      "public-url": options.publicUrl ?? `http://127.0.0.1:${port}`,
      "log-level": "debug",
      ...files.flags,
      ...options.flags,
    }, { ...files.env, ...options.env });
    try {
      const handle = await startServer(config, { logSink, cimdFetch: options.cimdFetch });
      return { handle, config };
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse) || attempt >= 5) throw e;
    }
  }
}
