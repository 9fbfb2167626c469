/**
 * S3Files beyond the shared BlobStore contract (tests/storage/blob_store_test.ts): the files URL,
 * init's answers for bad credentials / bucket / endpoint, listing pages under a prefix among
 * foreign objects, a multipart upload the store loses mid-way, and bounded retries. Against a
 * loopback s3rver (tests/helpers/s3_server.ts), which checks SigV4 signatures; the retry cases
 * use a loopback HTTP server that answers 503.
 */
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { parseS3Url, PART_SIZE, S3Error, S3Files } from "../../src/storage/s3_files.ts";
import { startS3Server } from "../helpers/s3_server.ts";
import { enqueueUneven, manualStream, noise, s3Store, sha256, until } from "./store_fixtures.ts";

const encoder = new TextEncoder();

Deno.test("[storage s3] parseS3Url reads bucket, prefix, endpoint, region and path style", () => {
  assert.deepEqual(
    parseS3Url(
      "s3://dust-files/team/a/?endpoint=http://127.0.0.1:9000&region=eu-west-3&force_path_style=true",
    ),
    {
      bucket: "dust-files",
      prefix: "team/a/",
      endpoint: "http://127.0.0.1:9000",
      region: "eu-west-3",
      forcePathStyle: true,
    },
  );
  assert.deepEqual(parseS3Url("s3://my.bucket-1"), {
    bucket: "my.bucket-1",
    prefix: "",
    endpoint: "https://s3.us-east-1.amazonaws.com",
    region: "us-east-1",
    forcePathStyle: false,
  });
  const r2 = parseS3Url("s3://b12/x?region=auto&endpoint=https://acct.r2.cloudflarestorage.com/");
  assert.equal(r2.endpoint, "https://acct.r2.cloudflarestorage.com");
  assert.equal(r2.prefix, "x/");
  assert.equal(
    parseS3Url("s3://abc?region=eu-central-1").endpoint,
    "https://s3.eu-central-1.amazonaws.com",
  );
  assert.equal(parseS3Url("s3://abc/?force_path_style=false").forcePathStyle, false);
});

Deno.test("[storage s3] parseS3Url refuses bad URLs with a message naming what is wrong", () => {
  const cases: [string, RegExp][] = [
    ["", /not a URL/],
    ["bucket/prefix", /not a URL/],
    ["https://bucket.s3.amazonaws.com", /expected an s3:\/\/ URL/],
    ["s3:///prefix", /no bucket/],
    ["s3://AB", /bucket "AB" is not a valid name/],
    ["s3://my_bucket", /bucket "my_bucket" is not a valid name/],
    ["s3://-bucket", /is not a valid name/],
    ["s3://a..b", /is not a valid name/],
    ["s3://bucket:9000/x", /no port/],
    ["s3://bucket/x#y", /fragment/],
    ["s3://bucket/a//b", /prefix segment "" is refused/],
    ["s3://bucket/a/../b", /prefix segment "\.\." is refused/],
    ["s3://bucket/./b", /prefix segment "\." is refused/],
    ["s3://bucket/a/%2e%2e/b", /prefix segment "%2e%2e" is refused/],
    ["s3://bucket/a%20b", /prefix segment "a%20b" is refused/],
    ["s3://bucket?endpoint=ftp://host", /endpoint must be an http:\/\/ or https:\/\/ origin/],
    ["s3://bucket?endpoint=not a url", /endpoint must be/],
    ["s3://bucket?endpoint=http://h:9000/path", /no path or query/],
    ["s3://bucket?region=US_EAST", /region "US_EAST" is not a region name/],
    ["s3://bucket?force_path_style=yes", /force_path_style must be true or false/],
    ["s3://bucket?acl=public", /unknown parameter "acl"/],
    ["s3://bucket?region=us-east-1&region=eu-west-1", /region is given twice/],
  ];
  for (const [url, message] of cases) {
    assert.throws(() => parseS3Url(url), message, JSON.stringify(url));
  }
  for (
    const url of [
      "s3://AKIAEXAMPLE:sekrit-value@bucket/x",
      "s3://bucket?endpoint=http://AKIAEXAMPLE:sekrit-value@127.0.0.1:9000",
    ]
  ) {
    assert.throws(() => parseS3Url(url), (e: Error) => {
      assert.match(e.message, /credentials do not belong in the URL/);
      assert.doesNotMatch(e.message, /sekrit|AKIAEXAMPLE/, "credentials are never echoed");
      return true;
    });
  }
});

Deno.test("[storage s3] init names a wrong secret, a missing bucket and an unreachable endpoint", async () => {
  await using s3 = await startS3Server();
  const location = parseS3Url(s3.url);
  const secret = "wrong-secret-value-0123456789";
  const wrong = new S3Files(location, {
    credentials: { accessKeyId: "S3RVER", secretAccessKey: secret },
  });
  await assert.rejects(wrong.init(), (e: Error) => {
    assert.match(e.message, /bucket "dust-mcp-test" at http:\/\/127\.0\.0\.1:\d+ is not usable/);
    assert.match(e.message, /SignatureDoesNotMatch \(HTTP 403\)/);
    assert.doesNotMatch(e.message, new RegExp(secret), "the secret is never echoed");
    assert.doesNotMatch(e.message, /Signature=|Credential=|X-Amz-/i);
    return true;
  });
  await wrong.close();
  const unknownKey = new S3Files(location, {
    credentials: { accessKeyId: "NOBODY", secretAccessKey: secret },
  });
  await assert.rejects(unknownKey.init(), /InvalidAccessKeyId/);
  await unknownKey.close();
  const noBucket = new S3Files({ ...location, bucket: "no-such-bucket" }, { credentials: s3 });
  await assert.rejects(noBucket.init(), /bucket "no-such-bucket" .* NoSuchBucket \(HTTP 404\)/);
  await noBucket.close();
  // A port that was just free: nothing listens there.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const endpoint = `http://127.0.0.1:${closedPort}`;
  const away = new S3Files({ ...location, endpoint }, { credentials: s3 });
  await assert.rejects(away.init(), (e: Error) => {
    assert.match(
      e.message,
      new RegExp(`at ${endpoint} is not usable: S3 ListObjectsV2 failed: NetworkError`),
    );
    return true;
  });
  await away.close();
  assert.throws(
    () => new S3Files(location, { credentials: { accessKeyId: "", secretAccessKey: "" } }),
    /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
  );
});

Deno.test("[storage s3] listKeys pages under its prefix and skips foreign objects", async () => {
  await using a = await s3Store({ prefix: "team-a/", pageSize: 2 });
  await using b = await s3Store({ prefix: "team-b/", server: a.s3 });
  const mine = Array.from({ length: 5 }, () => a.store.newKey());
  for (const key of mine) await a.store.write(key, encoder.encode(key));
  for (let i = 0; i < 3; i++) await b.store.write(b.store.newKey(), encoder.encode("other"));
  // Objects under the prefix that are not shaped like keys: never listed, never ours.
  const raw = new AwsClient({ ...a.s3, service: "s3", region: "us-east-1" });
  for (
    const name of ["team-a/notes.txt", "team-a/ab/short", "team-a/tmp/abcdefghijklmnopqrstuvwx"]
  ) {
    const r = await raw.fetch(`${a.s3.endpoint}/${a.s3.bucket}/${name}`, {
      method: "PUT",
      body: "x",
    });
    assert.equal(r.status, 200, await r.text());
  }
  const all = await a.store.listKeys();
  assert.deepEqual(all.keys.toSorted(), mine.toSorted());
  assert.equal(all.complete, true);
  const cut = await a.store.listKeys({ max: 3 });
  assert.deepEqual(cut, { keys: all.keys.slice(0, 3), complete: false });
  assert.equal((await b.store.listKeys()).keys.length, 3);
});

Deno.test("[storage s3] an upload the store loses mid-way fails with its S3 code and leaves nothing", async () => {
  await using t = await s3Store();
  const key = t.store.newKey();
  const { stream, controller } = manualStream();
  const writing = t.store.write(key, stream);
  enqueueUneven(controller, noise(PART_SIZE + 1000, 11));
  await until(async () => (await t.files.listUploads()).length === 1, "the multipart upload");
  const [upload] = await t.files.listUploads();
  assert.equal(upload.key, key);
  const raw = new AwsClient({ ...t.s3, service: "s3", region: "us-east-1" });
  const url = `${t.s3.endpoint}/${t.s3.bucket}/files/${key}?uploadId=${upload.uploadId}`;
  const aborted = await raw.fetch(url, { method: "DELETE" });
  assert.equal(aborted.status, 204, await aborted.text());
  enqueueUneven(controller, noise(PART_SIZE, 12));
  controller.close();
  // S3 refuses the next part (NoSuchUpload, 404); s3rver takes the part and fails the
  // completion (InternalError, 500, retried). Either way the write fails and leaves nothing.
  await assert.rejects(writing, (e: unknown) => {
    assert.ok(e instanceof S3Error, String(e));
    assert.ok(["NoSuchUpload", "InternalError"].includes(e.code), e.message);
    return true;
  });
  await assert.rejects(t.store.read(key), Deno.errors.NotFound);
  assert.deepEqual(await t.files.listUploads(), []);
});

Deno.test("[storage s3] bodies go signed or as UNSIGNED-PAYLOAD (the https default) alike", async () => {
  await using s3 = await startS3Server();
  const body = noise(PART_SIZE + 99, 21);
  for (const signPayload of [true, false]) {
    const files = new S3Files(parseS3Url(s3.url), { credentials: s3, signPayload });
    try {
      for (const bytes of [body, body.subarray(0, 1000)]) {
        const key = files.newKey();
        assert.equal(await files.write(key, bytes), bytes.length);
        assert.equal(sha256(await files.read(key)), sha256(bytes));
      }
    } finally {
      await files.close();
    }
  }
});

Deno.test("[storage s3] abortStaleUploads ends uploads a dead instance left, not recent ones", async () => {
  await using t = await s3Store();
  const raw = new AwsClient({ ...t.s3, service: "s3", region: "us-east-1" });
  const key = t.store.newKey();
  const created = await raw.fetch(`${t.s3.endpoint}/${t.s3.bucket}/files/${key}?uploads`, {
    method: "POST",
  });
  assert.equal(created.status, 200, await created.text());
  const [upload] = await t.files.listUploads();
  assert.equal(upload.key, key);
  assert.equal(await t.files.abortStaleUploads(3_600_000), 0, "a recent upload is left alone");
  assert.equal((await t.files.listUploads()).length, 1);
  await new Promise((r) => setTimeout(r, 10)); // so that "more than 0 ms ago" holds
  assert.equal(await t.files.abortStaleUploads(0), 1);
  assert.deepEqual(await t.files.listUploads(), []);
});

Deno.test("[storage s3] a stream is downloaded without waiting for the whole object", async () => {
  await using t = await s3Store();
  const key = t.store.newKey();
  const body = noise(3 * PART_SIZE, 13);
  await t.store.write(key, body);
  const reader = (await t.store.readStream(key)).getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length < body.length, "the first chunk is a part of it");
  assert.deepEqual(first.value, body.subarray(0, first.value.length));
  await reader.cancel();
  assert.equal(sha256(await t.store.read(key)), sha256(body));
});

Deno.test("[storage s3] a store that keeps failing is tried a bounded number of times", async () => {
  let requests = 0;
  let failFirst = Infinity;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    if (requests <= failFirst) {
      return new Response(
        "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>",
        { status: 503 },
      );
    }
    return new Response("body");
  });
  try {
    const endpoint = `http://127.0.0.1:${server.addr.port}`;
    const files = new S3Files(
      parseS3Url(`s3://bucket?endpoint=${endpoint}&force_path_style=true`),
      {
        credentials: { accessKeyId: "id", secretAccessKey: "secret" },
      },
    );
    const key = files.newKey();
    await assert.rejects(files.read(key), (e: unknown) => {
      assert.ok(e instanceof S3Error);
      assert.equal(
        e.message,
        "S3 GetObject failed: SlowDown (HTTP 503): Reduce your request rate.",
      );
      return true;
    });
    assert.equal(requests, 3, "three attempts, then the error");
    requests = 0;
    failFirst = 2;
    assert.equal(new TextDecoder().decode(await files.read(key)), "body", "a retry that succeeds");
    assert.equal(requests, 3);
    await files.close();
  } finally {
    await server.shutdown();
  }
});
