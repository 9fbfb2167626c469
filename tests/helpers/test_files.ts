/**
 * Where test servers keep file bytes: the data directory's `files/` by default; an
 * S3-compatible bucket when `DUST_MCP_TEST_FILES_URL` names one (with `AWS_ACCESS_KEY_ID` and
 * `AWS_SECRET_ACCESS_KEY`), each data directory under a prefix of its own below that URL's
 * (the same one on a restart with the same data directory). For a whole run:
 * `deno run -A tests/helpers/s3_server.ts` prints the values to export.
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import type { Config } from "../../src/config.ts";
import type { BlobStore } from "../../src/storage/blob_store.ts";
import { LocalFiles } from "../../src/storage/local_files.ts";
import { S3Files } from "../../src/storage/s3_files.ts";

/** The S3 files URL test servers use, or null for the local directory. */
export function testFilesUrl(): string | null {
  return Deno.env.get("DUST_MCP_TEST_FILES_URL") || null;
}

/** True when test servers keep their bytes on S3 (tests of the local directory skip then). */
export function filesOnS3(): boolean {
  return testFilesUrl() !== null;
}

/** The AWS credential variables of this process, for a config or a child process. */
export function awsEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) {
    const value = Deno.env.get(name);
    if (value) out[name] = value;
  }
  return out;
}

/** `base` with one more path segment after its prefix: `s3://b/p?q` → `s3://b/p/<segment>?q`. */
export function withPrefixSegment(base: string, segment: string): string {
  const m = /^(s3:\/\/[^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/.exec(base);
  if (!m) throw new Error(`DUST_MCP_TEST_FILES_URL is not an s3:// URL: ${base}`);
  return `${m[1]}${(m[2] ?? "").replace(/\/$/, "")}/${segment}${m[3] ?? ""}`;
}

/** The files URL of a data directory's test server (its prefix derived from the path). */
export function filesUrlFor(dataDir: string): string | null {
  const base = testFilesUrl();
  if (!base) return null;
  const digest = createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 20);
  return withPrefixSegment(base, `t-${digest}`);
}

/** The flags and environment that give a test server its store (`local` forces the directory). */
export function testFilesSettings(
  dataDir: string,
  mode: "env" | "local" = "env",
): { flags: Record<string, string>; env: Record<string, string> } {
  const url = mode === "local" ? null : filesUrlFor(dataDir);
  return url ? { flags: { "files-url": url }, env: awsEnv() } : { flags: {}, env: {} };
}

/** Remove what a test server left under its S3 prefix (blobs, unfinished uploads). */
export async function clearTestFiles(config: Config): Promise<void> {
  if (!config.filesUrl) return;
  const store = s3StoreOf(config);
  try {
    for (const key of (await store.listKeys()).keys) await store.remove(key);
    await store.abortStaleUploads(0);
  } finally {
    await store.close();
  }
}

/** A second S3Files over a config's bucket and prefix (to look at it from outside a server). */
export function s3StoreOf(config: Config): S3Files {
  if (!config.filesUrl) throw new Error("this config keeps files locally");
  return new S3Files(config.filesUrl, {
    credentials: {
      accessKeyId: config.awsAccessKeyId ?? "",
      secretAccessKey: config.awsSecretAccessKey ?? "",
      sessionToken: config.awsSessionToken ?? undefined,
    },
  });
}

/** Writes started and not finished, as the store sees them: temp files, or S3 uploads. */
export async function pendingWrites(store: BlobStore): Promise<number> {
  if (store instanceof LocalFiles) {
    return (await Array.fromAsync(Deno.readDir(join(store.root, "tmp")))).length;
  }
  if (store instanceof S3Files) return (await store.listUploads()).length;
  throw new Error(`unknown store ${store.kind}`);
}
