/**
 * Durability of a first start: SIGKILL while a fresh data directory is being initialised
 * (database created, migrations running, signing key generated) must leave a directory the
 * next start completes — every migration applied once, one signing key, a sound database.
 * On PostgreSQL the same with an empty database of its own (migrated by the first start).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { migrationsFor } from "../../src/db/migrate.ts";
import { freePort, ServerProcess } from "../helpers/durability_server.ts";
import {
  checkDatabase,
  durabilityEnv,
  durabilityOnPostgres,
  inspectDataDir,
  withDatabase,
} from "../helpers/durability_disk.ts";
import { call, seededRandom } from "../helpers/durability_ledger.ts";

const MIGRATIONS = migrationsFor(durabilityOnPostgres() ? "postgres" : "sqlite");

const SEED = Number(
  Deno.env.get("DURABILITY_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0],
);
const ATTEMPTS = 4;

/** Counts of applied migrations and active signing keys (0 when a table is missing yet). */
function initState(dataDir: string): Promise<{ migrations: number; keys: number }> {
  return withDatabase(dataDir, async (db) => {
    const count = async (table: string, sql: string) => {
      // A missing table (the kill came before it) counts 0, without an error that would end a
      // PostgreSQL transaction or fill the server log.
      const exists = db.engine === "postgres"
        ? await db.get("SELECT to_regclass(?) AS t", table).then((r) => r?.t !== null)
        : await db.get("SELECT 1 AS t FROM sqlite_master WHERE name = ?", table).then((r) => !!r);
      return exists ? Number((await db.get<{ n: number }>(sql))!.n) : 0;
    };
    return {
      migrations: await count("_migrations", "SELECT count(*) AS n FROM _migrations"),
      keys: await count(
        "signing_keys",
        "SELECT count(*) AS n FROM signing_keys WHERE retired_at IS NULL",
      ),
    };
  });
}

/** Wait (bounded) until the first start is creating the database (the file, or the ledger). */
async function waitForDatabase(dataDir: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const started = durabilityOnPostgres()
      ? await withDatabase(
        dataDir,
        async (db) => (await db.get("SELECT to_regclass('_migrations') AS t"))?.t !== null,
      )
      : await Deno.stat(join(dataDir, "dust-mcp.db")).then(() => true, () => false);
    if (started) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`no database within ${ms} ms`);
}

Deno.test("[durability] SIGKILL during a first start (migrations, signing key) leaves a data directory the next start completes", async () => {
  console.log(`[durability] startup kills: seed=${SEED} (replay: DURABILITY_SEED=${SEED})`);
  const rng = seededRandom(SEED);
  const seen: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-durability-start-" });
    const port = freePort();
    const env = await durabilityEnv(dataDir, { empty: true });
    let server: ServerProcess | null = ServerProcess.spawn(dataDir, port, {}, env);
    try {
      await waitForDatabase(dataDir);
      // A first start on PostgreSQL migrates over the network: its window is wider.
      const delay = Math.floor(rng() * (durabilityOnPostgres() ? 250 : 60));
      await new Promise((r) => setTimeout(r, delay));
      await server.kill();
      server = null;
      const atKill = await initState(dataDir);
      seen.push(
        `+${delay} ms: ${atKill.migrations}/${MIGRATIONS.length} migrations, ${atKill.keys} keys`,
      );
      assert.deepEqual(await checkDatabase(dataDir), {
        integrity: ["ok"],
        foreignKeyViolations: 0,
      });

      server = await ServerProcess.start(dataDir, port, {}, env);
      const health = await call(server.url, "/healthz");
      assert.equal(health.status, 200, server.stderr);
      assert.equal(await server.stop(), 0, server.stderr);
      server = null;
      assert.deepEqual(await initState(dataDir), { migrations: MIGRATIONS.length, keys: 1 });
      const after = await inspectDataDir(dataDir);
      assert.deepEqual(after.integrity, ["ok"]);
      assert.equal(after.foreignKeyViolations, 0);
      assert.deepEqual(after.tempFiles, []);
    } finally {
      if (server) await server.kill();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  }
  console.log(`[durability] state at each startup kill: ${seen.join("; ")}`);
});
