/**
 * The two blob stores on fresh ground for a test: LocalFiles on a temp data directory, S3Files
 * on a fresh s3rver. `pending()` counts writes in flight as each store sees them (temp files;
 * unfinished multipart uploads).
 */
import { createHash } from "node:crypto";
import type { BlobStore } from "../../src/storage/blob_store.ts";
import { LocalFiles } from "../../src/storage/local_files.ts";
import { parseS3Url, S3Files } from "../../src/storage/s3_files.ts";
import { type S3TestServer, startS3Server } from "../helpers/s3_server.ts";

export interface StoreFixture extends AsyncDisposable {
  store: BlobStore;
  /** Writes started and not finished: files in `tmp/`, or unfinished multipart uploads. */
  pending(): Promise<number>;
}

export async function localStore(): Promise<StoreFixture & { files: LocalFiles }> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-files-" });
  const files = new LocalFiles(dataDir);
  await files.init();
  return {
    store: files,
    files,
    pending: async () => (await Array.fromAsync(Deno.readDir(`${files.root}/tmp`))).length,
    [Symbol.asyncDispose]: async () => {
      await files.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** An S3Files under `prefix` (default "files") of a fresh s3rver (or of `server`, kept). */
export async function s3Store(
  options: { prefix?: string; pageSize?: number; server?: S3TestServer } = {},
): Promise<StoreFixture & { files: S3Files; s3: S3TestServer }> {
  const s3 = options.server ?? await startS3Server();
  const location = parseS3Url(s3.url);
  const files = new S3Files(
    { ...location, prefix: options.prefix ?? "files/" },
    { credentials: s3, pageSize: options.pageSize },
  );
  await files.init();
  return {
    store: files,
    files,
    s3,
    pending: async () => (await files.listUploads()).length,
    [Symbol.asyncDispose]: async () => {
      await files.close();
      if (!options.server) await s3.stop();
    },
  };
}

export const STORES: [string, () => Promise<StoreFixture>][] = [
  ["local", localStore],
  ["s3", () => s3Store()],
];

/** Wait (bounded) until `check` holds; fails the test after ~20 s. */
export async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A stream whose chunks the test pushes by hand. */
export function manualStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { stream, controller };
}

/** `size` bytes of a seeded xorshift sequence (incompressible, reproducible). */
export function noise(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Push `bytes` as chunks of uneven sizes (so chunks straddle part boundaries). */
export function enqueueUneven(
  controller: ReadableStreamDefaultController<Uint8Array>,
  bytes: Uint8Array,
): void {
  const sizes = [65_536, 1_000_003, 7, 333_333, 2_097_152];
  for (let offset = 0, i = 0; offset < bytes.length; i++) {
    const end = Math.min(bytes.length, offset + sizes[i % sizes.length]);
    controller.enqueue(bytes.slice(offset, end));
    offset = end;
  }
}

/** SHA-256 hex of a stream, read chunk by chunk. */
export async function sha256OfStream(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest("hex");
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
