/**
 * The stream budget's parts on their own: slots per owner and per instance, a lease that frees
 * its slot only once the stream ended and the connection is over, and the frame cache's bound.
 */
import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { FrameCache, StreamBudget } from "../../src/events/stream_budget.ts";

Deno.test("[stream budget] slots per owner and per instance; a refusal is a 429 with Retry-After", () => {
  const budget = new StreamBudget({ perOwner: 2, total: 3, bufferBytes: 65536 });
  const a1 = budget.acquire("user:1");
  budget.acquire("user:1");
  assert.throws(() => budget.acquire("user:1"), (e) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.status, 429);
    assert.equal(e.type, "rate_limit_error");
    assert.ok(Number(e.extra?.retryAfter) > 0);
    return true;
  });
  budget.acquire("key:k1");
  assert.throws(() => budget.acquire("user:2"), /as many open event streams/);
  a1.release();
  a1.release();
  assert.equal(budget.openBy("user:1"), 1, "a second release frees nothing more");
  budget.acquire("user:2");
  assert.equal(budget.open, 3);
});

Deno.test("[stream budget] a lease held until the connection ends frees its slot only then", async () => {
  const budget = new StreamBudget({ perOwner: 1, total: 10, bufferBytes: 65536 });
  const lease = budget.acquire("user:1");
  let closeConnection!: () => void;
  lease.holdUntil(new Promise<void>((r) => (closeConnection = r)));
  lease.release();
  await Promise.resolve();
  assert.equal(budget.openBy("user:1"), 1, "the connection is still open");
  closeConnection();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(budget.openBy("user:1"), 0);
  assert.equal(budget.open, 0);
  // A connection that fails frees the slot too.
  const other = budget.acquire("user:1");
  other.holdUntil(Promise.reject(new Error("reset")));
  other.release();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(budget.open, 0);
});

Deno.test("[stream budget] the frame cache stays within its bytes, least recently used out first", () => {
  const cache = new FrameCache(100, 60);
  cache.set("a", new Uint8Array(40));
  cache.set("b", new Uint8Array(40));
  assert.ok(cache.get("a"), "a used again: b is now the oldest");
  cache.set("c", new Uint8Array(40));
  assert.equal(cache.bytes, 80);
  assert.equal(cache.get("b"), undefined);
  assert.ok(cache.get("a") && cache.get("c"));
  cache.set("huge", new Uint8Array(61));
  assert.equal(cache.get("huge"), undefined, "a frame above the entry bound is not kept");
  assert.equal(cache.bytes, 80);
});
