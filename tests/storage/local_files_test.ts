import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalFiles } from "../../src/storage/local_files.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A LocalFiles on a temp data directory, removed by `await using`. */
async function tempFiles(): Promise<{ files: LocalFiles; dataDir: string } & AsyncDisposable> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-files-" });
  const files = new LocalFiles(dataDir);
  await files.init();
  return {
    files,
    dataDir,
    [Symbol.asyncDispose]: () => Deno.remove(dataDir, { recursive: true }),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names;
}

/** Wait (bounded) until `check` holds; fails the test after ~2 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A stream whose chunks the test pushes by hand. */
function manualStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { stream, controller };
}

Deno.test("[storage] bytes written under a generated key read back identically", async () => {
  await using t = await tempFiles();
  const key = t.files.newKey();
  assert.match(key, /^[A-Za-z0-9]{2}\/[A-Za-z0-9]{24}$/);
  assert.notEqual(t.files.newKey(), key, "keys are random");
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 31 + 7) % 251);
  assert.equal(await t.files.write(key, bytes), bytes.length);
  assert.deepEqual(await t.files.read(key), bytes);
  assert.ok(t.files.pathOf(key).startsWith(join(t.dataDir, "files")));
  assert.deepEqual(await listDir(join(t.files.root, "tmp")), [], "no temp file left");
});

Deno.test("[storage] a stream is written chunk by chunk and its size returned", async () => {
  await using t = await tempFiles();
  const key = t.files.newKey();
  const chunks = ["hello ", "streamed ", "world"];
  const stream = ReadableStream.from(chunks.map((c) => encoder.encode(c)));
  assert.equal(await t.files.write(key, stream), chunks.join("").length);
  assert.equal(decoder.decode(await t.files.read(key)), "hello streamed world");
});

Deno.test("[storage] a file being written is invisible under its key until complete", async () => {
  await using t = await tempFiles();
  const key = t.files.newKey();
  const { stream, controller } = manualStream();
  const writing = t.files.write(key, stream);
  controller.enqueue(encoder.encode("first half, "));
  const tmp = join(t.files.root, "tmp");
  await until(async () => (await listDir(tmp)).length === 1, "the temp file");
  assert.equal(await exists(t.files.pathOf(key)), false, "no partial file at the key");
  controller.enqueue(encoder.encode("second half"));
  controller.close();
  await writing;
  assert.equal(decoder.decode(await t.files.read(key)), "first half, second half");
  assert.deepEqual(await listDir(tmp), []);
});

Deno.test("[storage] overwriting keeps the old bytes visible until the new ones are complete", async () => {
  await using t = await tempFiles();
  const key = t.files.newKey();
  await t.files.write(key, encoder.encode("old version"));
  const { stream, controller } = manualStream();
  const writing = t.files.write(key, stream);
  controller.enqueue(encoder.encode("new "));
  await until(async () => (await listDir(join(t.files.root, "tmp"))).length === 1, "temp file");
  assert.equal(decoder.decode(await t.files.read(key)), "old version");
  controller.enqueue(encoder.encode("version"));
  controller.close();
  await writing;
  assert.equal(decoder.decode(await t.files.read(key)), "new version");
});

Deno.test("[storage] a stream that fails mid-write leaves no file and no temp file", async () => {
  await using t = await tempFiles();
  const key = t.files.newKey();
  const { stream, controller } = manualStream();
  const writing = t.files.write(key, stream);
  controller.enqueue(encoder.encode("partial"));
  await until(async () => (await listDir(join(t.files.root, "tmp"))).length === 1, "temp file");
  controller.error(new Error("client went away"));
  await assert.rejects(writing, /client went away/);
  assert.equal(await exists(t.files.pathOf(key)), false);
  assert.deepEqual(await listDir(join(t.files.root, "tmp")), []);
});

Deno.test("[storage] init removes temp files a crash left behind", async () => {
  await using t = await tempFiles();
  const tmp = join(t.files.root, "tmp");
  await Deno.writeTextFile(join(tmp, "abandoned.part"), "half a file");
  const key = t.files.newKey();
  await t.files.write(key, encoder.encode("kept"));
  const restarted = new LocalFiles(t.dataDir);
  await restarted.init();
  assert.deepEqual(await listDir(tmp), []);
  assert.equal(decoder.decode(await restarted.read(key)), "kept", "complete files survive");
});

Deno.test("[storage] remove deletes a file and ignores a missing one", async () => {
  await using t = await tempFiles();
  const key = t.files.newKey();
  await t.files.write(key, encoder.encode("x"));
  await t.files.remove(key);
  assert.equal(await exists(t.files.pathOf(key)), false);
  await t.files.remove(key);
  await assert.rejects(t.files.read(key), Deno.errors.NotFound);
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
  "ab/abcdefghijklmnopqrstuvw.", // right length, odd character
  "ab/abcdefghijklmnopqrstuvw\0",
  "ab\\abcdefghijklmnopqrstuvwx",
  "ab/abcdefghijklmnopqrstu%2e",
  "ab/abc defghijklmnopqrstuvw",
  "tmp/abcdefghijklmnopqrstuvwx",
  "ab/cd/abcdefghijklmnopqrstuv",
  "ab/abcdefghijklmnopqrstuvwx\n",
];

Deno.test("[storage] traversal, absolute and odd keys are refused by every operation", async () => {
  await using t = await tempFiles();
  for (const key of REFUSED_KEYS) {
    assert.throws(() => t.files.pathOf(key), /storage key refused/, JSON.stringify(key));
    await assert.rejects(t.files.write(key, encoder.encode("x")), /storage key refused/);
    await assert.rejects(t.files.read(key), /storage key refused/);
    await assert.rejects(t.files.open(key), /storage key refused/);
    await assert.rejects(t.files.remove(key), /storage key refused/);
  }
  assert.deepEqual(await listDir(t.dataDir), ["files"], "nothing written outside files/");
  assert.deepEqual(await listDir(t.files.root), ["tmp"]);
});
