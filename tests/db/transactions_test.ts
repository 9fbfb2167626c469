/**
 * The query interface's transaction contract (src/db/db.ts), on the engine under test: an
 * awaiting transaction owns the database — statements from other async contexts neither see its
 * uncommitted rows nor are committed or rolled back with it — and nested calls join it.
 */
import assert from "node:assert/strict";
import { openTestDb } from "../helpers/test_db.ts";

const PUT = "INSERT INTO instance_settings (key, value, updated_at) VALUES (?, '1', 0)";
const COUNT = "SELECT count(*) AS n FROM instance_settings WHERE key LIKE ?";

async function count(db: Awaited<ReturnType<typeof openTestDb>>["db"], prefix: string) {
  return (await db.get<{ n: number }>(COUNT, `${prefix}%`))!.n;
}

Deno.test("[db] a transaction that throws rolls back everything it wrote", async () => {
  await using t = await openTestDb();
  await assert.rejects(async () =>
    await t.db.tx(async () => {
      await t.db.run(PUT, "rb-a");
      await t.db.run(PUT, "rb-b");
      throw new Error("boom");
    }), /boom/);
  assert.equal(await count(t.db, "rb-"), 0);
});

Deno.test("[db] a concurrent statement never sees an open transaction's rows nor joins it", async () => {
  await using t = await openTestDb();
  let release!: () => void;
  const paused = new Promise<void>((r) => (release = r));
  let insideWrote!: () => void;
  const wrote = new Promise<void>((r) => (insideWrote = r));
  const tx = t.db.tx(async () => {
    await t.db.run(PUT, "iso-tx");
    insideWrote();
    await paused; // the transaction awaits something while open
    throw new Error("rolled back");
  });
  await wrote;
  // Another request, in its own async context, while the transaction is open.
  const reader = count(t.db, "iso-tx");
  const writer = t.db.run(PUT, "iso-outside");
  release();
  await assert.rejects(tx, /rolled back/);
  assert.equal(await reader, 0, "the reader saw the open transaction's row");
  await writer;
  assert.equal(await count(t.db, "iso-tx"), 0, "the transaction's row was rolled back");
  assert.equal(
    await count(t.db, "iso-outside"),
    1,
    "the outside write was not rolled back with it",
  );
});

Deno.test("[db] concurrent transactions each commit whole, one after the other", async () => {
  await using t = await openTestDb();
  const runs = Array.from({ length: 20 }, (_, i) =>
    t.db.tx(async () => {
      const before = await count(t.db, "seq-");
      await t.db.run(PUT, `seq-${i}-a`);
      await new Promise((r) => setTimeout(r, 1));
      await t.db.run(PUT, `seq-${i}-b`);
      // A transaction sees only whole transactions of others: an even count.
      assert.equal(before % 2, 0);
    }));
  await Promise.all(runs);
  assert.equal(await count(t.db, "seq-"), 40);
});

Deno.test("[db] a nested tx() joins the outer transaction", async () => {
  await using t = await openTestDb();
  await assert.rejects(async () =>
    await t.db.tx(async () => {
      await t.db.run(PUT, "nest-outer");
      await t.db.tx(async () => {
        await t.db.run(PUT, "nest-inner");
      });
      throw new Error("outer fails");
    }), /outer fails/);
  assert.equal(await count(t.db, "nest-"), 0, "the inner write was rolled back with the outer");
  assert.equal(t.db.inTx(), false);
});

Deno.test("[db] list parameters, named parameters and prepared statements", async () => {
  await using t = await openTestDb();
  const put = t.db.prepare(PUT);
  for (const k of ["lp-a", "lp-b", "lp-c"]) await put.run(k);
  const rows = await t.db.all<{ key: string }>(
    "SELECT key FROM instance_settings WHERE key IN (SELECT value FROM json_each(?)) ORDER BY key",
    ["lp-a", "lp-c", "nope"],
  );
  assert.deepEqual(rows.map((r) => r.key), ["lp-a", "lp-c"]);
  const named = await t.db.get<{ n: number }>(
    "SELECT count(*) AS n FROM instance_settings WHERE key = :k OR key = :k2",
    { k: "lp-a", k2: "lp-b" },
  );
  assert.equal(named!.n, 2);
  const r = await t.db.run("DELETE FROM instance_settings WHERE key LIKE ?", "lp-%");
  assert.equal(r.changes, 3);
});
