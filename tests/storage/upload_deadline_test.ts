/**
 * The upload deadline (`endBy`, src/util/streams.ts; UPLOAD_MAX_MS in src/core/files.ts): a
 * body that has not ended by then fails the write, its source is cancelled and nothing is left
 * in the store, so no write outlives the orphan sweep's margin. Run on the test server's store
 * (S3 when DUST_MCP_TEST_FILES_URL is set); the deadline is shortened here, the mechanism is
 * the one uploads use.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { pendingWrites } from "../helpers/test_files.ts";
import { endBy } from "../../src/util/streams.ts";
import { PART_SIZE } from "../../src/storage/s3_files.ts";

class Late extends Error {}

Deno.test("[storage] a write whose source has not ended by its deadline fails, cancels the source and leaves nothing", async () => {
  await using server = await startTestServer();
  const store = server.deps.files;
  let cancelled: unknown = null;
  let pushed = 0;
  // More than a part, then silence: on S3 the multipart upload has started when time runs out.
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pushed > PART_SIZE) return new Promise(() => {}); // a client that stopped sending
      controller.enqueue(new Uint8Array(1024 * 1024));
      pushed += 1024 * 1024;
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const timed = endBy(source, 1_000, () => new Late("too slow"));
  const key = store.newKey();
  try {
    await assert.rejects(store.write(key, timed.stream), Late);
  } finally {
    timed.done();
  }
  assert.ok(cancelled instanceof Late, "the source was cancelled with the deadline's error");
  assert.equal(await pendingWrites(store), 0, "no unfinished write is left");
  assert.deepEqual((await store.listKeys()).keys, [], "nothing was stored");
  await assert.rejects(store.read(key), Deno.errors.NotFound);
});

Deno.test("[storage] a source that ends in time is written whole and the deadline never fires", async () => {
  await using server = await startTestServer();
  const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
  const timed = endBy(
    ReadableStream.from([bytes.subarray(0, 1), bytes.subarray(1)]),
    5_000,
    () => new Late("too slow"),
  );
  const key = server.deps.files.newKey();
  try {
    assert.equal(await server.deps.files.write(key, timed.stream), bytes.length);
  } finally {
    timed.done();
  }
  assert.deepEqual(await server.deps.files.read(key), bytes);
});
