/**
 * Durability of a first start: SIGKILL while a fresh data directory is being initialised
 * (database created, migrations running, signing key generated) must leave a directory the
 * next start completes — every migration applied once, one signing key, a sound database.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MIGRATIONS } from "../../src/db/migrate.ts";
import { freePort, ServerProcess } from "../helpers/durability_server.ts";
import { checkDatabase, inspectDataDir, readDatabase } from "../helpers/durability_disk.ts";
import { call, seededRandom } from "../helpers/durability_ledger.ts";

const SEED = Number(
  Deno.env.get("DURABILITY_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0],
);
const ATTEMPTS = 4;

/** Counts of applied migrations and active signing keys (0 when a table is missing yet). */
function initState(dataDir: string): Promise<{ migrations: number; keys: number }> {
  return readDatabase(dataDir, (db) => {
    const count = (sql: string) => {
      try {
        return Number((db.prepare(sql).get() as { n: number }).n);
      } catch {
        return 0;
      }
    };
    return {
      migrations: count("SELECT count(*) AS n FROM _migrations"),
      keys: count("SELECT count(*) AS n FROM signing_keys WHERE retired_at IS NULL"),
    };
  });
}

/** Wait (bounded) until the database file exists: the first start is opening it. */
async function waitForDatabase(dataDir: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await Deno.stat(join(dataDir, "dust-mcp.db")).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`no database file within ${ms} ms`);
}

Deno.test("[durability] SIGKILL during a first start (migrations, signing key) leaves a data directory the next start completes", async () => {
  console.log(`[durability] startup kills: seed=${SEED} (replay: DURABILITY_SEED=${SEED})`);
  const rng = seededRandom(SEED);
  const seen: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-durability-start-" });
    const port = freePort();
    let server: ServerProcess | null = ServerProcess.spawn(dataDir, port);
    try {
      await waitForDatabase(dataDir);
      const delay = Math.floor(rng() * 60);
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

      server = await ServerProcess.start(dataDir, port);
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
