/**
 * The BlobStore contract, run on both stores: LocalFiles on a temp directory and S3Files on a
 * loopback s3rver. Bodies larger than one 8 MiB part take S3's multipart path, so the in-flight
 * cases push more than a part before they look.
 */
import assert from "node:assert/strict";
import { PART_SIZE } from "../../src/storage/s3_files.ts";
import {
  enqueueUneven,
  manualStream,
  noise,
  sha256,
  sha256OfStream,
  STORES,
  until,
} from "./store_fixtures.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** More than one part: the S3 store has started a multipart upload once this much is pushed. */
const OVER_ONE_PART = PART_SIZE + 1_234_567;

for (const [kind, open] of STORES) {
  Deno.test(`[storage ${kind}] bytes written under a generated key read back identically`, async () => {
    await using t = await open();
    const key = t.store.newKey();
    assert.equal(t.store.kind, kind);
    assert.match(key, /^([A-Za-z0-9]{2})\/\1[A-Za-z0-9]{22}$/);
    assert.notEqual(t.store.newKey(), key, "keys are random");
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 31 + 7) % 251);
    assert.equal(await t.store.write(key, bytes), bytes.length);
    assert.deepEqual(await t.store.read(key), bytes);
    assert.equal(await sha256OfStream(await t.store.readStream(key)), sha256(bytes));
    const empty = t.store.newKey();
    assert.equal(await t.store.write(empty, new Uint8Array(0)), 0);
    assert.deepEqual(await t.store.read(empty), new Uint8Array(0));
    assert.equal(await t.pending(), 0, "no write left in flight");
  });

  Deno.test(`[storage ${kind}] a stream is written chunk by chunk and its size returned`, async () => {
    await using t = await open();
    const key = t.store.newKey();
    const chunks = ["hello ", "", "streamed ", "world"];
    const stream = ReadableStream.from(chunks.map((c) => encoder.encode(c)));
    assert.equal(await t.store.write(key, stream), chunks.join("").length);
    assert.equal(decoder.decode(await t.store.read(key)), "hello streamed world");
  });

  Deno.test(`[storage ${kind}] bodies over one part (stream and bytes) read back identical`, async () => {
    await using t = await open();
    const big = noise(2 * PART_SIZE + 777_777, 7);
    const { stream, controller } = manualStream();
    enqueueUneven(controller, big);
    controller.close();
    const streamed = t.store.newKey();
    assert.equal(await t.store.write(streamed, stream), big.length);
    assert.equal(await sha256OfStream(await t.store.readStream(streamed)), sha256(big));
    const whole = t.store.newKey();
    const exact = big.subarray(0, 2 * PART_SIZE); // ends exactly on a part boundary
    assert.equal(await t.store.write(whole, exact), exact.length);
    assert.equal(sha256(await t.store.read(whole)), sha256(exact));
    assert.equal(await t.pending(), 0, "every upload completed");
  });

  Deno.test(`[storage ${kind}] a blob being written is invisible under its key until complete`, async () => {
    await using t = await open();
    const key = t.store.newKey();
    const body = noise(OVER_ONE_PART + PART_SIZE, 3);
    const { stream, controller } = manualStream();
    const writing = t.store.write(key, stream);
    enqueueUneven(controller, body.subarray(0, OVER_ONE_PART));
    await until(async () => (await t.pending()) === 1, "the write in flight");
    await assert.rejects(t.store.read(key), Deno.errors.NotFound, "no partial blob at the key");
    await assert.rejects(t.store.readStream(key), Deno.errors.NotFound);
    assert.deepEqual((await t.store.listKeys()).keys, [], "not listed either");
    enqueueUneven(controller, body.subarray(OVER_ONE_PART));
    controller.close();
    assert.equal(await writing, body.length);
    assert.equal(sha256(await t.store.read(key)), sha256(body));
    assert.equal(await t.pending(), 0);
  });

  Deno.test(`[storage ${kind}] overwriting keeps the old bytes visible until the new ones are complete`, async () => {
    await using t = await open();
    const key = t.store.newKey();
    await t.store.write(key, encoder.encode("old version"));
    const fresh = noise(OVER_ONE_PART, 5);
    const { stream, controller } = manualStream();
    const writing = t.store.write(key, stream);
    enqueueUneven(controller, fresh);
    await until(async () => (await t.pending()) === 1, "the write in flight");
    assert.equal(decoder.decode(await t.store.read(key)), "old version");
    controller.enqueue(encoder.encode("the end"));
    controller.close();
    await writing;
    const back = await t.store.read(key);
    assert.equal(back.length, fresh.length + 7);
    assert.equal(sha256(back.subarray(0, fresh.length)), sha256(fresh));
  });

  for (const [size, label] of [[100, "a small"], [OVER_ONE_PART, "a multipart"]] as const) {
    Deno.test(`[storage ${kind}] ${label} stream that fails mid-write leaves nothing behind`, async () => {
      await using t = await open();
      const key = t.store.newKey();
      const { stream, controller } = manualStream();
      const writing = t.store.write(key, stream);
      enqueueUneven(controller, noise(size, 9));
      if (size > PART_SIZE || kind === "local") {
        await until(async () => (await t.pending()) === 1, "the write in flight");
      }
      controller.error(new Error("client went away"));
      await assert.rejects(writing, /client went away/);
      await assert.rejects(t.store.read(key), Deno.errors.NotFound);
      assert.equal(await t.pending(), 0, "no temp file, no unfinished multipart upload");
      assert.deepEqual((await t.store.listKeys()).keys, []);
    });
  }

  Deno.test(`[storage ${kind}] a stream that fails before its first byte stores nothing`, async () => {
    await using t = await open();
    const key = t.store.newKey();
    const failing = new ReadableStream<Uint8Array>({
      pull: () => Promise.reject(new Error("nothing to read")),
    });
    await assert.rejects(t.store.write(key, failing), /nothing to read/);
    await assert.rejects(t.store.read(key), Deno.errors.NotFound);
    assert.equal(await t.pending(), 0);
  });

  Deno.test(`[storage ${kind}] remove deletes a blob and ignores a missing one`, async () => {
    await using t = await open();
    const key = t.store.newKey();
    await t.store.write(key, encoder.encode("x"));
    await t.store.remove(key);
    await t.store.remove(key);
    await assert.rejects(t.store.read(key), Deno.errors.NotFound);
    await assert.rejects(t.store.readStream(key), Deno.errors.NotFound);
    assert.deepEqual((await t.store.listKeys()).keys, []);
  });

  Deno.test(`[storage ${kind}] listKeys lists every blob, stops at max, filters by age`, async () => {
    await using t = await open();
    const early = [t.store.newKey(), t.store.newKey()];
    for (const key of early) await t.store.write(key, encoder.encode(key));
    const earlyDone = Date.now();
    // S3's LastModified has one-second resolution (rounded down): leave more than that.
    await new Promise((r) => setTimeout(r, 2_500));
    const late = [t.store.newKey(), t.store.newKey(), t.store.newKey()];
    for (const key of late) await t.store.write(key, encoder.encode(key));
    const all = await t.store.listKeys();
    assert.deepEqual(all.keys.toSorted(), [...early, ...late].sort());
    assert.equal(all.complete, true);
    const cut = await t.store.listKeys({ max: 3 });
    assert.equal(cut.keys.length, 3);
    assert.equal(cut.complete, false);
    // A cutoff half a second after the early writes: they are older, the late ones are not.
    const old = await t.store.listKeys({ olderThanMs: Date.now() - (earlyDone + 500) });
    assert.deepEqual(old.keys.toSorted(), early.toSorted());
    assert.equal(old.complete, true);
    assert.deepEqual((await t.store.listKeys({ olderThanMs: 3_600_000 })).keys, []);
  });

  const REFUSED_KEYS = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "ab/../../../../etc/passwd",
    "ab/..",
    "..",
    "",
    "ab",
    "ab/",
    "ab/abcdefghijklmnopqrstuvw.",
    "ab/abcdefghijklmnopqrstuvw\0",
    "ab\\abcdefghijklmnopqrstuvwx",
    "ab/abcdefghijklmnopqrstu%2e",
    "ab/abc defghijklmnopqrstuvw",
    "ab/abcdefghijklmnopqrstuv?x",
    "ab/abcdefghijklmnopqrstuv#x",
    "tmp/abcdefghijklmnopqrstuvwx",
    "ab/cd/abcdefghijklmnopqrstuv",
    "ab/abcdefghijklmnopqrstuvwx\n",
  ];

  Deno.test(`[storage ${kind}] traversal, absolute and odd keys are refused by every operation`, async () => {
    await using t = await open();
    for (const key of REFUSED_KEYS) {
      const what = JSON.stringify(key);
      await assert.rejects(t.store.write(key, encoder.encode("x")), /storage key refused/, what);
      const stream = ReadableStream.from([encoder.encode("x")]);
      await assert.rejects(t.store.write(key, stream), /storage key refused/, what);
      await assert.rejects(t.store.read(key), /storage key refused/, what);
      await assert.rejects(t.store.readStream(key), /storage key refused/, what);
      await assert.rejects(t.store.remove(key), /storage key refused/, what);
    }
    assert.deepEqual((await t.store.listKeys()).keys, []);
    assert.equal(await t.pending(), 0);
  });
}
