/**
 * The orphan sweep on an S3-compatible store (src/core/blob_sweep.ts), which other instances
 * may be writing to: a server on S3 sweeps at start and then periodically, and judges only
 * blobs and unfinished multipart uploads older than ORPHAN_MARGIN_MS. "Old" is made real by
 * moving the loopback s3rver's own timestamps back (it reports a file's mtime as LastModified
 * and an upload directory's mtime as Initiated), so the server's real margin is what decides.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { bearer, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { type S3TestServer, startS3Server } from "../helpers/s3_server.ts";
import { withPrefixSegment } from "../helpers/test_files.ts";
import { ORPHAN_MARGIN_MS, sweepOrphanBlobs } from "../../src/core/blob_sweep.ts";
import { parseS3Url, S3Files } from "../../src/storage/s3_files.ts";

const PREFIX = "sweep";
/** Older than the margin by an hour. */
const OLD = new Date(Date.now() - ORPHAN_MARGIN_MS - 3_600_000);

/** An S3Files over the servers' prefix, to look at the bucket from outside. */
function storeOf(s3: S3TestServer): S3Files {
  return new S3Files(parseS3Url(withPrefixSegment(s3.url, PREFIX)), { credentials: s3 });
}

function s3Server(s3: S3TestServer, dataDir: string) {
  return startTestServer({
    dataDir,
    flags: { "files-url": withPrefixSegment(s3.url, PREFIX) },
    env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
  });
}

/** Create an unscoped text file over REST and upload its bytes; returns its sId. */
async function uploadText(server: TestServer, alice: UserWithToken, text: string) {
  const bytes = new TextEncoder().encode(text);
  const created = await fetch(`${server.url}/api/v1/w/${alice.workspace.sId}/files`, {
    method: "POST",
    headers: { ...bearer(alice.token), "Content-Type": "application/json" },
    body: JSON.stringify({
      contentType: "text/plain",
      fileName: "kept.txt",
      fileSize: bytes.length,
      useCase: "conversation",
    }),
  });
  const { file } = await created.json();
  const form = new FormData();
  form.append("file", new File([bytes], "kept.txt"));
  const up = await fetch(file.uploadUrl, {
    method: "POST",
    headers: bearer(alice.token),
    body: form,
  });
  assert.equal(up.status, 200);
  await up.body?.cancel();
  return file.sId as string;
}

/** Move a stored blob's LastModified back to `when` (s3rver reads its object file's mtime). */
async function backdateObject(s3: S3TestServer, key: string, when: Date): Promise<void> {
  const [fan, name] = key.split("/");
  await Deno.utime(
    join(s3.directory, s3.bucket, PREFIX, fan, `${name}._S3rver_object`),
    when,
    when,
  );
}

/** Start a multipart upload under the prefix and leave it, as an instance that died would. */
async function abandonUpload(s3: S3TestServer, key: string): Promise<void> {
  const raw = new AwsClient({ ...s3, service: "s3", region: "us-east-1" });
  const created = await raw.fetch(`${s3.endpoint}/${s3.bucket}/${PREFIX}/${key}?uploads`, {
    method: "POST",
  });
  assert.equal(created.status, 200, await created.text());
}

/** Move an unfinished upload's Initiated back to `when` (its upload directory's mtime). */
async function backdateUpload(s3: S3TestServer, key: string, when: Date): Promise<void> {
  const uploads = join(s3.directory, s3.bucket, "._S3rver_uploads");
  for await (const entry of Deno.readDir(uploads)) {
    const named = await Deno.readTextFile(join(uploads, entry.name, "key")).catch(() => "");
    if (named === `${PREFIX}/${key}`) {
      return await Deno.utime(join(uploads, entry.name), when, when);
    }
  }
  throw new Error(`no upload for ${key}`);
}

async function uploadKeys(files: S3Files): Promise<string[]> {
  return (await files.listUploads()).map((u) => u.key).sort();
}

/** Wait (bounded) for the `n`th "orphan blobs swept" line; returns its counts. */
async function sweepLogged(logs: string[], n: number) {
  for (let i = 0; i < 1000; i++) {
    const lines = logs.filter((l) => l.includes('"orphan blobs swept"'));
    if (lines.length >= n) return JSON.parse(lines[n - 1]);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no sweep #${n} logged: ${logs.filter((l) => l.includes("sweep")).join("\n")}`);
}

Deno.test("[storage s3] the start sweep removes an old orphan and an old abandoned upload; a young orphan, a young upload and a referenced old blob stay", async () => {
  await using s3 = await startS3Server();
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-s3sweep-" });
  try {
    let alice: UserWithToken;
    let keptId: string;
    let keptKey: string;
    {
      await using first = await s3Server(s3, dataDir);
      assert.equal(first.deps.files.kind, "s3");
      alice = await createUserWithToken(first, { email: "alice@example.com", role: "user" });
      keptId = await uploadText(first, alice, "referenced bytes");
      const row = await first.deps.db.get("SELECT storage_key FROM files WHERE s_id = ?", keptId);
      keptKey = String(row!.storage_key);
    }
    // What crashed writers left while the server was down, some long ago, some just now.
    const files = storeOf(s3);
    try {
      const [oldOrphan, youngOrphan, oldUpload, youngUpload] = [0, 1, 2, 3].map(() =>
        files.newKey()
      );
      await files.write(oldOrphan, new TextEncoder().encode("nobody points here"));
      await files.write(youngOrphan, new TextEncoder().encode("an upload about to commit"));
      await abandonUpload(s3, oldUpload);
      await abandonUpload(s3, youngUpload);
      await backdateObject(s3, keptKey, OLD);
      await backdateObject(s3, oldOrphan, OLD);
      await backdateUpload(s3, oldUpload, OLD);
      assert.deepEqual(
        (await files.listKeys({ olderThanMs: ORPHAN_MARGIN_MS })).keys.sort(),
        [keptKey, oldOrphan].sort(),
        "the backdating took",
      );

      await using second = await s3Server(s3, dataDir);
      const { removed, kept, complete, aborted } = await sweepLogged(second.logs, 1);
      assert.deepEqual({ removed, kept, complete, aborted }, {
        removed: 1,
        kept: 1,
        complete: true,
        aborted: 1,
      });
      assert.deepEqual(
        (await files.listKeys()).keys.sort(),
        [keptKey, youngOrphan].sort(),
        "the old orphan is gone; the referenced blob and the young orphan stay",
      );
      assert.deepEqual(await uploadKeys(files), [youngUpload], "only the old upload was aborted");
      const dl = await fetch(
        `${second.url}/api/v1/w/${alice.workspace.sId}/files/${keptId}?action=download`,
        { headers: bearer(alice.token) },
      );
      assert.equal(await dl.text(), "referenced bytes");
      assert.ok(!second.logs.some((l) => l.includes(oldOrphan)), "no key is logged");
    } finally {
      await files.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[storage s3] each later sweep (the cluster's blob-sweep job) removes an orphan once it grows old", async () => {
  await using s3 = await startS3Server();
  await using server = await startTestServer({
    flags: { "files-url": withPrefixSegment(s3.url, PREFIX) },
    env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
  });
  await sweepLogged(server.logs, 1); // the start sweep: nothing to do
  const orphan = server.deps.files.newKey();
  await server.deps.files.write(orphan, new TextEncoder().encode("left by a crash"));
  // What the periodic job runs at each interval (src/server.ts addPeriodicJobs).
  const jobSweep = () => sweepOrphanBlobs(server.deps, { olderThanMs: ORPHAN_MARGIN_MS });
  for (const n of [1, 2]) {
    assert.equal((await jobSweep()).removed, 0, `sweep ${n}: a young orphan stays`);
  }
  assert.deepEqual((await server.deps.files.listKeys()).keys, [orphan]);
  await backdateObject(s3, orphan, OLD);
  assert.equal((await jobSweep()).removed, 1, "the next sweep removes it");
  assert.deepEqual((await server.deps.files.listKeys()).keys, [], "a later sweep removed it");
});
