import assert from "node:assert/strict";
import { multipartBoundary, streamMultipartField } from "../../src/api/multipart.ts";
import { AppError } from "../../src/errors.ts";

const enc = new TextEncoder();

/** A body as a stream cut into `size`-byte chunks (1 = byte by byte). */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
  return ReadableStream.from(parts);
}

async function formBytes(form: FormData): Promise<{ bytes: Uint8Array; type: string }> {
  const req = new Request("http://x/", { method: "POST", body: form });
  return { bytes: new Uint8Array(await req.arrayBuffer()), type: req.headers.get("content-type")! };
}

Deno.test("[multipart] boundary parsing: plain, quoted, missing, not multipart", () => {
  assert.equal(multipartBoundary("multipart/form-data; boundary=abc"), "abc");
  assert.equal(multipartBoundary('multipart/form-data; boundary="a b:c"'), "a b:c");
  assert.equal(multipartBoundary("multipart/form-data"), null);
  assert.equal(multipartBoundary("text/plain; boundary=abc"), null);
  assert.equal(multipartBoundary(undefined), null);
});

Deno.test("[multipart] the file field streams out exactly, whatever the chunking and content", async () => {
  // Binary content full of CR, LF and dashes, and an earlier text field.
  const payload = new Uint8Array(70_000);
  for (let i = 0; i < payload.length; i++) payload[i] = [13, 10, 45, 45, 0, 255, 65][i % 7];
  const form = new FormData();
  form.append("note", "before");
  form.append("file", new File([payload], "bin.dat"));
  form.append("after", "x");
  const { bytes, type } = await formBytes(form);
  for (const size of [1, 7, 64, 4096, bytes.length]) {
    const { fileName, stream } = await streamMultipartField(chunked(bytes, size), type, "file");
    assert.equal(fileName, "bin.dat");
    const got = new Uint8Array(await new Response(stream).arrayBuffer());
    assert.deepEqual(got, payload, `chunk size ${size}`);
  }
});

Deno.test("[multipart] a missing field, a truncated body and a non-multipart type are 400s", async () => {
  const form = new FormData();
  form.append("other", "x");
  const { bytes, type } = await formBytes(form);
  await assert.rejects(
    () => streamMultipartField(chunked(bytes, 5), type, "file"),
    (e: AppError) => e.status === 400,
  );
  const f2 = new FormData();
  f2.append("file", new File([enc.encode("hello world")], "a.txt"));
  const full = await formBytes(f2);
  const cut = full.bytes.slice(0, full.bytes.length - 30);
  const { stream } = await streamMultipartField(chunked(cut, 8), full.type, "file");
  await assert.rejects(() => new Response(stream).arrayBuffer());
  await assert.rejects(
    () => streamMultipartField(chunked(enc.encode("x"), 1), "application/json", "file"),
    (e: AppError) => e.status === 400,
  );
});
