/**
 * Uploads sent without Content-Length (chunked, a ReadableStream body) stream to the store: the
 * upload route skips the app's bodyLimit (which buffers such a body whole before the handler
 * runs) and caps the body while it streams, answering `file_too_large` in Dust's envelope.
 * On both stores (DUST_MCP_TEST_FILES_URL: S3).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { UPLOAD_BODY_MAX } from "../../src/core/files.ts";
import { BODY_LIMITS } from "../../src/app.ts";
import { PART_SIZE } from "../../src/storage/s3_files.ts";
import { pendingWrites } from "../helpers/test_files.ts";

const BOUNDARY = "chunkedUploadBoundary7MA4YWxkTrZu0gW";
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `text/plain` file record awaiting `size` bytes; returns its upload URL. */
async function createTextFile(server: TestServer, alice: UserWithToken, size: number) {
  const res = await apiJson(server, alice.token, `/api/v1/w/${alice.workspace.sId}/files`, {
    method: "POST",
    body: {
      contentType: "text/plain",
      fileName: "big.txt",
      fileSize: size,
      useCase: "conversation",
    },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.file.uploadUrl as string;
}

/** Deterministic bytes of a text file. */
function textBytes(size: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => 97 + ((i * 7 + (i >> 12)) % 26));
}

/** The chunks of `bytes`, 64 KB at a time. */
function* chunksOf(bytes: Uint8Array): Generator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += 64 * 1024) {
    yield bytes.subarray(off, off + 64 * 1024);
  }
}

const fileHead = encoder.encode(
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n` +
    `Content-Type: text/plain\r\n\r\n`,
);
const closing = encoder.encode(`\r\n--${BOUNDARY}--\r\n`);

/** A multipart body of one `file` field, as a stream (fetch sends it chunked). */
function multipartStream(file: Uint8Array): ReadableStream<Uint8Array> {
  return ReadableStream.from((function* () {
    yield fileHead;
    yield* chunksOf(file);
    yield closing;
  })());
}

/** POST a streamed body to an upload URL; the response body is always consumed. */
async function postStream(url: string, token: string, body: ReadableStream<Uint8Array>) {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": `multipart/form-data; boundary=${BOUNDARY}` },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names;
}

/** Nothing of a refused upload in the store: no write in flight (temp file, S3 multipart
 * upload), no blob. */
async function assertNothingStored(server: TestServer): Promise<void> {
  assert.equal(await pendingWrites(server.deps.files), 0, "no unfinished write is left");
  assert.deepEqual((await server.deps.files.listKeys()).keys, [], "no blob was stored");
}

/** The file is still awaiting its bytes: not served, and a correct upload is accepted. */
async function assertStillNotReady(url: string, token: string, bytes: Uint8Array) {
  const early = await fetch(`${url}?action=download`, { headers: bearer(token) });
  assert.equal(early.status, 400);
  assert.match((await early.json()).error.message, /not been uploaded/);
  const retry = await postStream(url, token, multipartStream(bytes));
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.json().file.status, "ready");
}

Deno.test("[api/files] a chunked upload (no Content-Length) of a valid size succeeds and downloads intact", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const bytes = textBytes(3 * 1024 * 1024 + 17);
  const url = await createTextFile(server, alice, bytes.length);
  const up = await postStream(url, alice.token, multipartStream(bytes));
  assert.equal(up.status, 200, up.text);
  assert.equal(up.json().file.status, "ready");
  const dl = await fetch(`${url}?action=download`, { headers: bearer(alice.token) });
  assert.equal(dl.status, 200);
  assert.deepEqual(new Uint8Array(await dl.arrayBuffer()), bytes);
});

Deno.test("[api/files] a chunked upload past the declared size answers 400 file_too_large, stores nothing, and the file stays not ready", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  // On S3, more than a part: the multipart upload has started when the cut comes, and is aborted.
  const declared = server.deps.files.kind === "s3" ? PART_SIZE + 1024 * 1024 : 1024 * 1024;
  const url = await createTextFile(server, alice, declared);
  const up = await postStream(url, alice.token, multipartStream(textBytes(4 * declared)));
  assert.equal(up.status, 400, up.text);
  const { error } = up.json();
  assert.equal(error.type, "file_too_large");
  assert.equal(typeof error.message, "string");
  await assertNothingStored(server);
  await assertStillNotReady(url, alice.token, textBytes(declared));
});

Deno.test("[api/files] a chunked upload body over the 64 MB cap answers 413 file_too_large, stores nothing, and the file stays not ready", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const file = textBytes(1024);
  const url = await createTextFile(server, alice, file.length);
  // A part before the file field that alone passes the cap (the file part would be cut at its
  // declared size first): only the cap on the whole body can stop it.
  const junk = new Uint8Array(1024 * 1024).fill(0x78);
  const body = ReadableStream.from((function* () {
    yield encoder.encode(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="junk"\r\n\r\n`);
    for (let sent = 0; sent <= UPLOAD_BODY_MAX; sent += junk.length) yield junk;
    yield encoder.encode(`\r\n`);
    yield fileHead;
    yield file;
    yield closing;
  })());
  const up = await postStream(url, alice.token, body);
  assert.equal(up.status, 413, up.text.slice(0, 300));
  assert.deepEqual(up.json(), {
    error: {
      type: "file_too_large",
      message: `The upload is larger than ${UPLOAD_BODY_MAX} bytes.`,
    },
  });
  await assertNothingStored(server);
  await assertStillNotReady(url, alice.token, file);
});

Deno.test("[api/files] a declared Content-Length over the cap is refused with 413 file_too_large before the body is read", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const url = new URL(await createTextFile(server, alice, 10));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      `Authorization: Bearer ${alice.token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
      `Content-Length: ${UPLOAD_BODY_MAX + 1}\r\n\r\n`;
    // Only the head and the first bytes are sent: the answer cannot wait for the rest.
    await conn.write(encoder.encode(head));
    await conn.write(fileHead);
    const answer = await readUntilBody(conn);
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /"type":"file_too_large"/);
  } finally {
    conn.close();
  }
});

/** Read an HTTP response head and its first body bytes (bounded: 5 s, 64 KB). */
async function readUntilBody(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && text.length < buf.length) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
    if (/\r\n\r\n[\s\S]*\}/.test(text)) break;
  }
  return text;
}

/**
 * How much of the upload the store holds before the body ends, once it holds some, or 0 after
 * ~10 s: the bytes of the local temp file; on S3, `PART_SIZE` once the multipart upload has
 * started (the first part is sent as soon as it is read).
 */
async function waitForStoredBytes(server: TestServer): Promise<number> {
  for (let i = 0; i < 500; i++) {
    if (server.deps.files.kind === "s3") {
      if (await pendingWrites(server.deps.files) > 0) return PART_SIZE;
    } else {
      const tmp = join(server.dataDir, "files", "tmp");
      for (const name of await listDir(tmp)) {
        const size = await Deno.stat(join(tmp, name)).then((s) => s.size, () => 0);
        if (size > 0) return size;
      }
    }
    await sleep(20);
  }
  return 0;
}

Deno.test("[api/files] the upload handler gets the body as it streams: bytes reach the store before the body ends", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  // On S3 a body of one part is sent in one PUT once whole: more than a part shows streaming.
  const s3 = server.deps.files.kind === "s3";
  const bytes = textBytes(s3 ? PART_SIZE + 2 * 1024 * 1024 : 2 * 1024 * 1024);
  const url = await createTextFile(server, alice, bytes.length);
  const half = s3 ? PART_SIZE + 1024 * 1024 : bytes.length / 2;
  let storedMidBody = 0;
  // The rest is held back until the first part shows up in the store. A body buffered
  // before the handler runs would never get there (the wait then gives up).
  const body = ReadableStream.from((async function* () {
    yield fileHead;
    yield* chunksOf(bytes.subarray(0, half));
    storedMidBody = await waitForStoredBytes(server);
    yield* chunksOf(bytes.subarray(half));
    yield closing;
  })());
  const up = await postStream(url, alice.token, body);
  assert.ok(storedMidBody > 0, "the handler wrote bytes to the store before the body ended");
  assert.ok(storedMidBody <= half, `${storedMidBody} bytes stored of the ${half} sent so far`);
  assert.equal(up.status, 200, up.text);
  const dl = await fetch(`${url}?action=download`, { headers: bearer(alice.token) });
  assert.deepEqual(new Uint8Array(await dl.arrayBuffer()), bytes);
});

Deno.test("[api/files] only POST skips bodyLimit: a chunked body on DELETE of a file path answers 413 payload_too_large", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const url = await createTextFile(server, alice, 10);
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  const body = ReadableStream.from((function* () {
    for (let sent = 0; sent <= BODY_LIMITS.default; sent += chunk.length) yield chunk;
  })());
  const res = await fetch(url, { method: "DELETE", headers: bearer(alice.token), body });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.type, "payload_too_large");
});
