/**
 * The cluster bookkeeping (src/core/cluster.ts, periodic_jobs.ts, instances.ts) on the engine
 * under test: a periodic job runs on one instance per interval however many tick at once; a job
 * whose holder died is taken over once its lease passed; a dead instance's upload reservations
 * are released, a live one's kept; per-instance budgets divide by the live instances.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../src/config.ts";
import { Cluster } from "../../src/core/cluster.ts";
import { claimJob, listJobs, registerJob } from "../../src/core/periodic_jobs.ts";
import { releaseDeadInstanceWork } from "../../src/core/instances.ts";
import { loadKeyRing } from "../../src/core/signing_keys.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import type { Db } from "../../src/db/db.ts";
import { createLogger } from "../../src/util/log.ts";
import { openTestDb } from "../helpers/test_db.ts";
import { startTestServer, testEngine } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";

const config = resolveConfig({ "work-lease-seconds": "2" }, {});
const log = createLogger("error", () => {});

/** `n` handles on the test database: pools of their own on PostgreSQL (as processes). */
function handles(db: Db, n: number): Db[] {
  if (testEngine() !== "postgres") return Array(n).fill(db);
  return Array.from({ length: n }, () => new PostgresDb((db as PostgresDb).url, { max: 2 }));
}

async function closeHandles(db: Db, hs: Db[]): Promise<void> {
  for (const h of hs) if (h !== db) await h.close();
}

Deno.test("[cluster] instances ticking together run a due job once per interval", async () => {
  await using t = await openTestDb();
  const hs = handles(t.db, 3);
  let runs = 0;
  const clusters = hs.map((db, i) => {
    const c = new Cluster({ db, log, config }, `ins_tick_${i}`);
    c.addJob({
      name: "count",
      intervalMs: 60_000,
      run: async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 50));
      },
    });
    return c;
  });
  try {
    await Promise.all(clusters.map((c) => c.start()));
    await Promise.all(clusters.map((c) => c.tick()));
    for (const c of clusters) await c.idle();
    assert.equal(runs, 1, "one run for three instances");
    await Promise.all(clusters.map((c) => c.tick()));
    for (const c of clusters) await c.idle();
    assert.equal(runs, 1, "not due again before its interval");
    const [job] = await listJobs(t.db);
    assert.equal(job.holder, null, "released after the run");
    assert.ok(job.nextRunAt - (job.lastRunAt ?? 0) >= 60_000);
    assert.equal(clusters[0].liveInstances, 3);
    assert.equal(clusters[0].share(120), 40, "a budget for all instances, divided");
    assert.equal(clusters[0].share(2), 1, "never below 1");
  } finally {
    for (const c of clusters) await c.stop();
    await closeHandles(t.db, hs);
  }
});

Deno.test("[cluster] a job whose holder died is taken over once its lease passed", async () => {
  await using t = await openTestDb();
  await registerJob(t.db, "sweep");
  const at = Date.now();
  // The holder claimed it, then died (it never renews nor releases).
  assert.ok(
    await claimJob(t.db, { name: "sweep", instanceId: "ins_dead", at, leaseUntil: at + 1500 }),
  );
  let runs = 0;
  const c = new Cluster({ db: t.db, log, config }, "ins_alive");
  c.addJob({ name: "sweep", intervalMs: 3600_000, run: () => Promise.resolve(runs++) });
  try {
    await c.start();
    await c.idle();
    assert.equal(runs, 0, "held by a live lease: not run");
    await new Promise((r) => setTimeout(r, Math.max(0, at + 1600 - Date.now())));
    await c.tick();
    await c.idle();
    assert.equal(runs, 1, "taken over after the lease");
  } finally {
    await c.stop();
  }
});

Deno.test("[cluster] a dead instance's upload reservations are released; a live instance's stay", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const db = server.deps.db;
  await server.deps.cluster.idle(); // the start's own run of the job is over
  const put = async (instance: string | null) =>
    await db.run(
      `INSERT INTO storage_reservations (workspace_id, user_id, bytes, created_at, instance_id)
       VALUES (?, ?, 100, ?, ?)`,
      alice.workspace.id,
      alice.user.id,
      Date.now(),
      instance,
    );
  await put(server.deps.instanceId);
  await put("ins_gone");
  await put(null);
  assert.equal(await releaseDeadInstanceWork(db, Date.now()), 2);
  const left = await db.all("SELECT instance_id FROM storage_reservations");
  assert.deepEqual(left.map((r) => r.instance_id), [server.deps.instanceId]);
});

Deno.test("[cluster] instances starting together on a database without keys make one key ring", async () => {
  await using t = await openTestDb();
  const hs = handles(t.db, 4);
  try {
    const rings = await Promise.all(hs.map((db) => loadKeyRing(db)));
    const n = await t.db.get<{ n: number }>("SELECT count(*) AS n FROM signing_keys");
    assert.equal(Number(n?.n), 1, "one key generated");
    assert.deepEqual(new Set(rings.map((r) => r.current.kid)).size, 1, "every ring signs with it");
  } finally {
    await closeHandles(t.db, hs);
  }
});
