/**
 * Reads shared among streams: log pages (each caller gets a read sent after it asked, per key)
 * and logs' newest ids (one read per log per second for every keep-alive).
 */
import assert from "node:assert/strict";
import { FreshReads } from "../../src/util/fresh_reads.ts";
import { NEWEST_ID_SHARED_MS, NewestIds } from "../../src/events/stream_budget.ts";

Deno.test("[streams] page reads: one per key at a time, the next one sent only after its callers asked", async () => {
  const reads = new FreshReads<string>();
  const sent: string[] = [];
  const answers: (() => void)[] = [];
  const read = (key: string, version: () => string) => () => {
    sent.push(key);
    const at = version(); // what the database holds when the read is sent
    return new Promise<string>((r) => answers.push(() => r(at)));
  };
  let log = "v1";
  const a1 = reads.read("a", read("a", () => log));
  const b1 = reads.read("b", read("b", () => log)); // another key reads on its own
  log = "v2"; // committed after a1 was sent: later callers must see it
  const a2 = reads.read("a", read("a", () => log));
  const a3 = reads.read("a", read("a", () => log));
  assert.deepEqual(sent, ["a", "b"]);
  assert.equal(a2, a3, "callers while a read waits share it");
  answers.shift()!();
  answers.shift()!();
  assert.equal(await a1, "v1");
  assert.equal(await b1, "v1");
  await Promise.resolve();
  assert.deepEqual(sent, ["a", "b", "a"]);
  answers.shift()!();
  assert.equal(await a2, "v2");
  assert.equal(await a3, "v2");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(reads.size, 0, "nothing is kept once the reads are answered");
});

Deno.test("[streams] page reads: a failure reaches that read's callers only", async () => {
  const reads = new FreshReads<number>();
  await assert.rejects(() => reads.read("k", () => Promise.reject(new Error("gone"))), /gone/);
  assert.equal(await reads.read("k", () => Promise.resolve(2)), 2);
  await assert.rejects(() =>
    reads.read("k", () => {
      throw new Error("thrown at once");
    }), /thrown at once/);
});

Deno.test("[streams] newest ids: one read per log and second, a failed read not kept", async () => {
  const ids = new NewestIds();
  let reads = 0;
  const read = () => Promise.resolve(++reads);
  const t = 1_000_000;
  assert.equal(await ids.read("log-a", read, t), 1);
  assert.equal(await ids.read("log-a", read, t + NEWEST_ID_SHARED_MS - 1), 1);
  assert.equal(await ids.read("log-b", read, t + 1), 2);
  assert.equal(await ids.read("log-a", read, t + NEWEST_ID_SHARED_MS), 3);
  assert.equal(ids.size, 2);
  // Old entries leave as new ones come.
  assert.equal(await ids.read("log-c", read, t + 5 * NEWEST_ID_SHARED_MS), 4);
  assert.equal(ids.size, 1);
  await assert.rejects(() => ids.read("log-d", () => Promise.reject(new Error("down")), t * 2));
  await Promise.resolve();
  assert.equal(await ids.read("log-d", read, t * 2), 5);
});
