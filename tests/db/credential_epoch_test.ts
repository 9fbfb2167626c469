/**
 * The epoch read from the database (PostgreSQL's committed counter): every value a caller gets
 * was read by a query sent after its call, and concurrent callers share reads (at most one
 * running and one queued).
 */
import assert from "node:assert/strict";
import { CredentialEpoch } from "../../src/db/credential_epoch.ts";

/** A database whose counter reads resolve when the test says. */
function fakeCounter() {
  let n = 0;
  const pending: { at: number; resolve: (v: number) => void }[] = [];
  return {
    sent: 0,
    set(v: number) {
      n = v;
    },
    read(): Promise<number> {
      this.sent++;
      const at = n;
      return new Promise((resolve) => pending.push({ at, resolve }));
    },
    /** Answer the oldest read with the counter as it was when that read was sent. */
    answer() {
      const p = pending.shift();
      assert.ok(p, "a read is pending");
      p.resolve(p.at);
    },
    get pending() {
      return pending.length;
    },
  };
}

Deno.test("[db] credential epoch: a value is read after the call, and concurrent calls share reads", async () => {
  const db = fakeCounter();
  const epoch = new CredentialEpoch(undefined, () => db.read());
  const first = epoch.value();
  const alsoFirst = epoch.value(); // the first read is already sent: this one waits for the next
  assert.ok(first instanceof Promise && alsoFirst instanceof Promise);
  assert.equal(db.sent, 1, "one read running, one queued (not yet sent)");
  const third = epoch.value();
  assert.equal(alsoFirst, third, "callers that arrive while a read is queued share it");
  db.set(5); // a change commits while the first read is running
  db.answer();
  assert.equal(await first, 0);
  // The queued read starts only now, so it sees the change.
  await Promise.resolve();
  assert.equal(db.sent, 2);
  db.answer();
  assert.equal(await alsoFirst, 5);
  assert.equal(await third, 5);
  assert.equal(db.pending, 0);
  // Idle again: the next call sends a read of its own.
  const later = epoch.value();
  assert.equal(db.sent, 3);
  db.answer();
  assert.equal(await later, 5);
});

Deno.test("[db] credential epoch: a failed read fails its callers only, and the next call reads again", async () => {
  let fail = true;
  const epoch = new CredentialEpoch(
    undefined,
    () => fail ? Promise.reject(new Error("connection lost")) : Promise.resolve(7),
  );
  await assert.rejects(() => Promise.resolve(epoch.value()), /connection lost/);
  fail = false;
  assert.equal(await epoch.value(), 7);
});

Deno.test("[db] credential epoch: this process's own credential writes move a database-read epoch too", async () => {
  const epoch = new CredentialEpoch(undefined, () => Promise.resolve(3));
  const before = await epoch.value();
  epoch.noteStatement("UPDATE mcp_tokens SET revoked_at = ? WHERE id = ?");
  assert.notEqual(await epoch.value(), before);
});
