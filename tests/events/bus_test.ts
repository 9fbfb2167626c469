/**
 * The event bus (src/events/bus.ts, src/events/pg_bus.ts): notes are bounded on both buses (a
 * publisher putting a whole payload on the bus is caught on SQLite too); on PostgreSQL notes
 * cross instances through LISTEN/NOTIFY, the publisher's own note is delivered once, and a lost
 * listening connection is replaced and followed by a resync.
 */
import assert from "node:assert/strict";
import { BusNoteError, createEventBus, isResync, MAX_NOTE_BYTES } from "../../src/events/bus.ts";
import { PgEventBus } from "../../src/events/pg_bus.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { createLogger } from "../../src/util/log.ts";
import { testEngine } from "../helpers/server.ts";
import { createPgTestDatabase } from "../helpers/pg_test_db.ts";

const onPostgres = testEngine() === "postgres";

async function until(check: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("[bus] a note over the bound is refused by the in-process bus too; the local payload is not bounded", () => {
  const bus = createEventBus();
  const got: unknown[] = [];
  bus.subscribe("conversation:c1", (p) => got.push(p));
  const big = { eventId: "1", data: { text: "x".repeat(MAX_NOTE_BYTES) } };
  assert.throws(() => bus.publish("conversation:c1", big), BusNoteError);
  assert.throws(() => bus.publish("conversation:c1", { s: "é".repeat(MAX_NOTE_BYTES / 2) }));
  assert.equal(got.length, 0, "nothing delivered for a refused note");
  bus.publish("conversation:c1", { eventId: "1" }, big);
  assert.deepEqual(got, [big], "this instance's listeners get the full payload");
  bus.publishLocal("agent_messages:created", { any: "x".repeat(10 * MAX_NOTE_BYTES) });
});

/** Two instances' buses on one database (each with its own pool, as two processes). */
async function twoBuses(pingMs?: number) {
  const pg = await createPgTestDatabase();
  const logs: string[] = [];
  const log = createLogger("debug", (l) => logs.push(l));
  const dbs = [new PostgresDb(pg.url, { max: 2 }), new PostgresDb(pg.url, { max: 2 })];
  const buses = dbs.map((db, i) =>
    new PgEventBus(db.url, db.sql, `ins_test_${i}`, log, { pingMs })
  );
  for (const b of buses) await b.start();
  return {
    a: buses[0],
    b: buses[1],
    admin: dbs[1],
    logs,
    async [Symbol.asyncDispose]() {
      for (const b of buses) await b.close();
      for (const d of dbs) await d.close();
      await pg.drop();
    },
  };
}

Deno.test({
  name:
    "[bus] PostgreSQL: a note reaches the other instance's listeners; the publisher's own listeners get it once",
  ignore: !onPostgres,
  fn: async () => {
    await using t = await twoBuses();
    const onA: unknown[] = [];
    const onB: unknown[] = [];
    t.a.subscribe("conversation:x", (p) => onA.push(p));
    t.b.subscribe("conversation:x", (p) => onB.push(p));
    t.a.publish("conversation:x", { eventId: "7", type: "user_message_new" }, { big: true });
    assert.deepEqual(
      onA,
      [{ eventId: "7", type: "user_message_new" }],
      "locally at once, as a note",
    );
    await until(() => onB.length === 1, 10_000, "the note on the other instance");
    assert.deepEqual(onB, [{ eventId: "7", type: "user_message_new" }]);
    // B answers; once A has B's note, A's own echo (sent earlier) has been read and skipped.
    t.b.publish("conversation:x", { eventId: "8" });
    await until(() => onA.length === 2, 10_000, "the answer on the first instance");
    assert.deepEqual(onA, [{ eventId: "7", type: "user_message_new" }, { eventId: "8" }]);
    assert.throws(() => t.a.publish("conversation:x", { s: "x".repeat(MAX_NOTE_BYTES) }));
  },
});

Deno.test({
  name:
    "[bus] PostgreSQL: a killed listening connection is replaced, listeners get a resync, and notes flow again",
  ignore: !onPostgres,
  fn: async () => {
    await using t = await twoBuses(200);
    const onA: unknown[] = [];
    t.a.subscribe("relay:s1", (p) => onA.push(p));
    const pid = await t.a.listenerPid();
    await t.admin.run("SELECT pg_terminate_backend(?)", pid);
    await until(() => onA.some(isResync), 15_000, "a resync after the reconnect");
    assert.ok(t.a.connections >= 2, "a new listening connection");
    t.b.publish("relay:s1", { eventId: "42" });
    await until(
      () => onA.some((p) => (p as { eventId?: string }).eventId === "42"),
      10_000,
      "a note after the reconnect",
    );
  },
});
