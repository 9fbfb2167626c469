import assert from "node:assert/strict";
import { SearchWorkerPool } from "../../src/core/search_worker.ts";
import { AppError } from "../../src/errors.ts";

// Grep is RE2 (linear time), so a slow job is a costly pattern over a large text (~4 s here):
// long enough to outlive the short time limits below, and interruptible by terminate().
const bomb = {
  text: ("ab".repeat(500) + "\n").repeat(20_000),
  source: "(?i)(a|b|ab|ba)*(c|d)*x{1,100}",
  maxMatches: 50,
  lineMaxChars: 1e6,
};
const easy = { text: "x\ny\n", source: "y", maxMatches: 50, lineMaxChars: 1e6 };

Deno.test("[search_worker] a job past its timeout kills its worker; the next job gets a fresh one", async () => {
  const pool = new SearchWorkerPool({ dbPath: ":memory:", size: 1 });
  try {
    const slow = await pool.grep(bomb, 300);
    assert.match(slow.error!, /took longer than 0.3 s/);
    assert.equal(pool.workerCount, 0);
    assert.deepEqual(await pool.grep(easy, 2000), { matches: ["2: y"], capped: false });
    assert.equal(pool.workerCount, 1);
  } finally {
    pool.close();
  }
});

Deno.test("[search_worker] a saturated queue refuses with 503 instead of growing", async () => {
  const pool = new SearchWorkerPool({ dbPath: ":memory:", size: 1, maxQueue: 1 });
  const running = pool.grep(bomb, 400); // occupies the only worker
  const queued = pool.grep(easy, 2000); // waits in the queue
  await assert.rejects(() => pool.grep(easy, 2000), (e: AppError) => e.status === 503);
  assert.match((await running).error!, /took longer/);
  assert.deepEqual((await queued).matches, ["2: y"]);
  pool.close();
});

Deno.test("[search_worker] close() terminates the workers and fails running and queued jobs", async () => {
  const pool = new SearchWorkerPool({ dbPath: ":memory:", size: 1 });
  const running = pool.grep(bomb, 10_000);
  const queued = pool.grep(easy, 10_000);
  await new Promise((r) => setTimeout(r, 50));
  pool.close();
  await assert.rejects(
    () => running,
    (e: AppError) => e.status === 503 && /stopping/.test(e.message),
  );
  await assert.rejects(() => queued, (e: AppError) => e.status === 503);
  await assert.rejects(() => pool.grep(easy), (e: AppError) => e.status === 503);
  assert.equal(pool.workerCount, 0);
});
