/**
 * Hostile multipart uploads into the streaming multipart reader (`POST /files/{fileId}`): odd
 * boundaries, oversized header blocks, parts before the file field, boundary look-alikes in the
 * bytes, traversal and NUL in file names, truncated bodies, wrong sizes, and the other
 * workspace's file ids. An accepted upload stores exactly the bytes sent; a refused one never
 * leaves the file ready with partial content.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type FuzzWorld, startFuzzWorld } from "../helpers/fuzz_world.ts";
import { hostileString, idValue, sometimes } from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send, tally } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";

const enc = new TextEncoder();

interface UploadCase {
  boundary: string;
  declaredBoundary: string | null;
  before: Array<{ name: string; value: string }>;
  fieldName: string;
  fileName: string;
  partContentType: string;
  bytes: Uint8Array;
  declaredSize: "exact" | "smaller" | "larger";
  ending: "closed" | "no-close" | "cut-mid" | "extra-after";
  hugeHeader: boolean;
}

function uploadCase(): fc.Arbitrary<UploadCase> {
  const boundary = fc.oneof(
    fc.constantFrom("b0undary", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x", "a".repeat(70)),
    fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,70}$/),
  );
  return fc.record({
    boundary,
    declaredBoundary: sometimes(
      fc.constantFrom("", "other", '"quoted"', "a".repeat(71), "b0undary; x=1"),
      0.15,
    ),
    before: fc.array(
      fc.record({ name: fc.constantFrom("meta", "file2", ""), value: hostileString() }),
      { maxLength: 2 },
    ),
    fieldName: fc.oneof(
      { weight: 6, arbitrary: fc.constant("file") },
      { weight: 1, arbitrary: fc.constantFrom("File", "files", "", 'fi"le') },
    ),
    fileName: fc.oneof(
      fc.constantFrom("f.txt", "../../../etc/passwd", "a\u0000b.txt", "..", "", "\u202Etxt.exe"),
      hostileString(),
    ),
    partContentType: fc.constantFrom("text/plain", "application/octet-stream", "", "x/\u0000"),
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom("--b0undary", "\r\n--b0undary--\r\n", "\r\n\r\n", "--").map((s) =>
        enc.encode(`pre${s}post`)
      ),
    ),
    declaredSize: fc.constantFrom("exact", "exact", "exact", "smaller", "larger"),
    ending: fc.constantFrom("closed", "closed", "closed", "no-close", "cut-mid", "extra-after"),
    hugeHeader: fc.constantFrom(false, false, false, false, true),
  });
}

function multipartBody(c: UploadCase): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const p of c.before) {
    parts.push(enc.encode(
      `--${c.boundary}\r\nContent-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`,
    ));
  }
  const filler = c.hugeHeader ? `X-Filler: ${"f".repeat(20_000)}\r\n` : "";
  const type = c.partContentType ? `Content-Type: ${c.partContentType}\r\n` : "";
  parts.push(enc.encode(
    `--${c.boundary}\r\nContent-Disposition: form-data; name="${c.fieldName}"; filename="${c.fileName}"\r\n${type}${filler}\r\n`,
  ));
  const bytes = c.ending === "cut-mid" ? c.bytes.slice(0, c.bytes.length >> 1) : c.bytes;
  parts.push(bytes);
  if (c.ending === "closed" || c.ending === "extra-after") {
    parts.push(enc.encode(`\r\n--${c.boundary}--\r\n`));
  }
  if (c.ending === "extra-after") parts.push(enc.encode("trailing garbage"));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A fresh file of A's conversation awaiting `size` bytes; returns its sId. */
async function createFile(world: FuzzWorld, size: number): Promise<string> {
  const req: FuzzRequest = {
    method: "POST",
    path: `/api/v1/w/${world.a.ids.wId}/files`,
    headers: { Authorization: `Bearer ${world.a.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      contentType: "text/plain",
      fileName: "upload.txt",
      fileSize: size,
      useCase: "conversation",
      useCaseMetadata: { conversationId: world.a.ids.cId },
    }),
    as: world.a,
  };
  const res = await send(world, req);
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text).file.sId;
}

Deno.test("[fuzz/upload] hostile multipart bodies into the streaming upload reader", async () => {
  await using world = await startFuzzWorld();
  const arb = fc.record({
    c: uploadCase(),
    target: fc.oneof(
      { weight: 6, arbitrary: fc.constant("fresh") },
      { weight: 1, arbitrary: idValue(world, "fileId") },
    ),
  });
  await checkProperty(world, "multipart upload", arb, async ({ c, target }) => {
    const size = Math.max(
      0,
      c.bytes.length + (c.declaredSize === "smaller" ? -1 : c.declaredSize === "larger" ? 1 : 0),
    );
    const fresh = target === "fresh";
    const fileId = fresh ? await createFile(world, size) : target;
    const boundary = c.declaredBoundary ?? c.boundary;
    const req: FuzzRequest = {
      method: "POST",
      path: `/api/v1/w/${world.a.ids.wId}/files/${encodeURIComponent(fileId.toWellFormed())}`,
      headers: {
        Authorization: `Bearer ${world.a.token}`,
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
      },
      body: multipartBody(c),
      as: world.a,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "rest");
    if (res.status !== 200) {
      tally(`upload ${res.status} ${JSON.parse(res.text).error?.message?.slice(0, 60)}`);
    }
    if (!fresh) return;
    const view: FuzzRequest = {
      method: "GET",
      path: `/api/v1/w/${world.a.ids.wId}/files/${fileId}?action=download`,
      headers: { Authorization: `Bearer ${world.a.token}` },
      as: world.a,
    };
    const stored = await send(world, view);
    checkResponse(world, view, stored, "rest");
    if (res.status === 200) {
      // Accepted: the stored bytes are exactly the file part that was sent, at the declared size.
      const sent = c.ending === "cut-mid" ? c.bytes.slice(0, c.bytes.length >> 1) : c.bytes;
      assert.equal(stored.status, 200);
      assert.equal(sent.length, size, `accepted ${sent.length} bytes for a declared ${size}`);
      assert.equal(stored.text, new TextDecoder().decode(sent));
    } else {
      // Refused: the file never became readable with partial bytes.
      assert.notEqual(stored.status, 200, `refused upload left a readable file: ${res.text}`);
    }
  }, 40);
});

Deno.test("[fuzz/upload] racing uploads, downloads and deletes of one file leave it whole or gone", async () => {
  await using world = await startFuzzWorld();
  const ops = fc.array(fc.constantFrom("upload", "upload", "download", "delete"), {
    minLength: 2,
    maxLength: 6,
  });
  await checkProperty(
    world,
    "upload race",
    fc.tuple(ops, fc.nat({ max: 3 })),
    async ([list, k]) => {
      const bytes = enc.encode("r".repeat(50_000 * (k + 1)));
      const fileId = await createFile(world, bytes.length);
      const path = `/api/v1/w/${world.a.ids.wId}/files/${fileId}`;
      const auth = { Authorization: `Bearer ${world.a.token}` };
      const run = (op: string): Promise<void> => {
        const req: FuzzRequest = op === "upload"
          ? { method: "POST", path, headers: auth, body: uploadForm(bytes), as: world.a }
          : op === "delete"
          ? { method: "DELETE", path, headers: auth, as: world.a }
          : { method: "GET", path: `${path}?action=download`, headers: auth, as: world.a };
        return send(world, req).then((res) => checkResponse(world, req, res, "rest"));
      };
      await Promise.all(list.map(run));
      const final: FuzzRequest = {
        method: "GET",
        path: `${path}?action=download`,
        headers: auth,
        as: world.a,
      };
      const res = await send(world, final);
      checkResponse(world, final, res, "rest");
      if (res.status === 200) {
        assert.equal(
          res.text.length,
          bytes.length,
          "a partial file is served",
        );
      }
      if (!list.includes("delete") && list.includes("upload")) assert.equal(res.status, 200);
    },
    25,
  );
});

function uploadForm(bytes: Uint8Array<ArrayBuffer>): FormData {
  const form = new FormData();
  form.append("file", new File([bytes], "race.txt"));
  return form;
}
