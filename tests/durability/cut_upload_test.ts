/**
 * Durability of one write caught mid-flight, deterministically: an upload whose body is still
 * arriving (half of it on disk in a temp file) when the server is SIGKILLed must leave no
 * file behind — the row still awaits its bytes, no blob, the temp file gone after a restart —
 * and the same file id must then take a full upload intact. The same on an S3-compatible
 * store (a loopback s3rver), where the cut leaves an unfinished multipart upload: invisible,
 * never an object, and left for the sweep once older than its margin.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, prepareDataDir, ServerProcess } from "../helpers/durability_server.ts";
import {
  durabilityEnv,
  durabilityOnPostgres,
  inspectDataDir,
  tempFilesOf,
  withDatabase,
} from "../helpers/durability_disk.ts";
import { call, randomBytes, seededRandom, sha256Hex } from "../helpers/durability_ledger.ts";
import { startS3Server } from "../helpers/s3_server.ts";
import { withPrefixSegment } from "../helpers/test_files.ts";
import { parseS3Url, PART_SIZE, S3Files } from "../../src/storage/s3_files.ts";

const SIZE = 4 * 1024 * 1024;
const BOUNDARY = "durability-boundary-7f3a";

/** The multipart head of a `file` field (the body the SDK's uploadFile sends, streamed). */
function multipartHead(fileName: string): Uint8Array {
  return new TextEncoder().encode(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n",
  );
}

/** Sizes of every file under `files/` (temp files and blobs). */
async function sizesUnder(dir: string, out: number[] = []): Promise<number[]> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) await sizesUnder(path, out);
    else out.push((await Deno.stat(path).catch(() => ({ size: 0 }))).size);
  }
  return out;
}

/** Wait (bounded) until some file under files/ holds at least `min` bytes of the upload. */
async function waitForPartialBytes(dataDir: string, min: number, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const biggest = Math.max(0, ...await sizesUnder(join(dataDir, "files")));
    if (biggest >= min) return biggest;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no file of ${min} bytes under files/ within ${ms} ms`);
}

function fileRow(dataDir: string, sId: string) {
  return withDatabase(dataDir, async (db) => {
    const r = await db.get("SELECT status, storage_key FROM files WHERE s_id = ?", sId);
    return r ? { status: r.status, storage_key: r.storage_key } : undefined;
  });
}

/**
 * Start an upload of `bytes` over raw HTTP with the full Content-Length declared (so the server
 * streams the body to the store as it arrives; a chunked body is buffered by the body-limit
 * middleware first), and send only the first `sent` bytes.
 */
async function startCutUpload(
  port: number,
  path: string,
  token: string,
  bytes: Uint8Array,
  sent: number,
): Promise<Deno.TcpConn> {
  const head = multipartHead("cut.bin");
  const tail = new TextEncoder().encode(`\r\n--${BOUNDARY}--\r\n`);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = new TextEncoder().encode(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Authorization: Bearer ${token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
      `Content-Length: ${head.length + bytes.length + tail.length}\r\n\r\n`,
  );
  for (const part of [request, head, bytes.subarray(0, sent)]) {
    let off = 0;
    while (off < part.length) off += await conn.write(part.subarray(off));
  }
  return conn;
}

Deno.test("[durability] an upload cut by SIGKILL mid-body leaves no file: the row awaits its bytes, no blob, no temp file after restart, and a full retry is intact", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-durability-" });
  const port = freePort();
  let server: ServerProcess | null = null;
  let conn: Deno.TcpConn | null = null;
  try {
    const env = await durabilityEnv(dataDir);
    const setup = await prepareDataDir(dataDir, env);
    server = await ServerProcess.start(dataDir, port, {}, env);
    const bytes = randomBytes(seededRandom(7), SIZE);
    const files = `/api/v1/w/${setup.workspaceSId}/files`;
    const created = await call(server.url, files, {
      method: "POST",
      token: setup.adminToken,
      json: {
        contentType: "application/octet-stream",
        fileName: "cut.bin",
        fileSize: SIZE,
        useCase: "conversation",
      },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const sId: string = created.body.file.sId;

    // Only half of the bytes: the request is still in flight when the server dies.
    conn = await startCutUpload(port, `${files}/${sId}`, setup.adminToken, bytes, SIZE / 2);
    const onDisk = await waitForPartialBytes(dataDir, 64 * 1024);
    await server.kill();
    server = null;
    const answer = await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
    conn = null;
    assert.equal(answer, null, "the upload got no answer");
    assert.ok(onDisk < SIZE, `the kill landed mid-write (${onDisk} of ${SIZE} bytes in tmp)`);

    const disk = await inspectDataDir(dataDir);
    assert.deepEqual(disk.integrity, ["ok"]);
    assert.equal(disk.foreignKeyViolations, 0);
    assert.deepEqual(await fileRow(dataDir, sId), { status: "created", storage_key: null });
    assert.deepEqual(disk.orphanBlobs, [], "no blob was renamed into place");
    assert.ok(disk.tempFiles.length >= 1, "the crash left its partial temp file");

    server = await ServerProcess.start(dataDir, port, {}, env);
    // Alone on SQLite the restart removes it; on PostgreSQL other instances may share the
    // directory, and the periodic sweep removes it once older than its margin.
    assert.equal(
      (await tempFilesOf(dataDir)).length,
      durabilityOnPostgres() ? disk.tempFiles.length : 0,
      "the restart removed the partial temp file (SQLite) or left it to the sweep",
    );
    const early = await call(server.url, `${files}/${sId}?action=download`, {
      token: setup.adminToken,
    });
    assert.equal(early.status, 400, "the cut upload is not served");

    const form = new FormData();
    form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "cut.bin");
    const retry = await call(server.url, `${files}/${sId}`, {
      method: "POST",
      token: setup.adminToken,
      form,
    });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    const got = await call(server.url, `${files}/${sId}?action=download`, {
      token: setup.adminToken,
    });
    assert.equal(got.status, 200);
    assert.equal(sha256Hex(got.bytes), sha256Hex(bytes));
    assert.equal(await server.stop(), 0);
    server = null;
    const after = await inspectDataDir(dataDir);
    assert.deepEqual(after.integrity, ["ok"]);
    assert.deepEqual(after.badBlobs, []);
    assert.equal(after.blobHashes.get(sId), sha256Hex(bytes));
    assert.deepEqual(after.orphanBlobs, []);
  } finally {
    conn?.close();
    if (server) await server.kill();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("[durability] on S3, an upload cut by SIGKILL mid-body leaves no object and no row pointing at bytes; its unfinished upload waits for the sweep, and a full retry is intact", async () => {
  await using s3 = await startS3Server();
  const filesUrl = withPrefixSegment(s3.url, "cut");
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  const store = new S3Files(parseS3Url(filesUrl), { credentials: s3 });
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-durability-" });
  const port = freePort();
  let server: ServerProcess | null = null;
  let conn: Deno.TcpConn | null = null;
  try {
    Object.assign(env, await durabilityEnv(dataDir));
    const setup = await prepareDataDir(dataDir, env);
    server = await ServerProcess.start(dataDir, port, { "files-url": filesUrl }, env);
    // More than two parts, cut after the first: the multipart upload has started.
    const size = 2 * PART_SIZE + 1024 * 1024;
    const bytes = randomBytes(seededRandom(11), size);
    const files = `/api/v1/w/${setup.workspaceSId}/files`;
    const created = await call(server.url, files, {
      method: "POST",
      token: setup.adminToken,
      json: {
        contentType: "application/octet-stream",
        fileName: "cut.bin",
        fileSize: size,
        useCase: "conversation",
      },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const sId: string = created.body.file.sId;
    conn = await startCutUpload(port, `${files}/${sId}`, setup.adminToken, bytes, PART_SIZE + 4096);
    for (let i = 0; i < 750 && (await store.listUploads()).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await store.listUploads()).length, 1, "the multipart upload had started");
    await server.kill();
    server = null;
    const answer = await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
    conn = null;
    assert.equal(answer, null, "the upload got no answer");

    assert.deepEqual(await fileRow(dataDir, sId), { status: "created", storage_key: null });
    assert.deepEqual((await store.listKeys()).keys, [], "no object appeared");

    server = await ServerProcess.start(dataDir, port, { "files-url": filesUrl }, env);
    const early = await call(server.url, `${files}/${sId}?action=download`, {
      token: setup.adminToken,
    });
    assert.equal(early.status, 400, "the cut upload is not served");
    const form = new FormData();
    form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "cut.bin");
    const retry = await call(server.url, `${files}/${sId}`, {
      method: "POST",
      token: setup.adminToken,
      form,
    });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    const got = await call(server.url, `${files}/${sId}?action=download`, {
      token: setup.adminToken,
    });
    assert.equal(got.status, 200);
    assert.equal(sha256Hex(got.bytes), sha256Hex(bytes));
    assert.equal(await server.stop(), 0);
    server = null;

    const row = await fileRow(dataDir, sId);
    assert.equal(row?.status, "ready");
    assert.deepEqual((await store.listKeys()).keys, [row?.storage_key], "one object: the retry's");
    assert.equal(sha256Hex(await store.read(String(row?.storage_key))), sha256Hex(bytes));
    // Younger than the sweep's margin, the dead upload is still there (another instance's
    // upload would look the same); the sweep aborts it once it is older.
    assert.equal((await store.listUploads()).length, 1, "the cut upload is left to the sweep");
  } finally {
    conn?.close();
    if (server) await server.kill();
    await store.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
