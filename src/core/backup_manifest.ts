/**
 * The backup directory's layout and its manifest, shared by `backup`, `restore` and
 * `verify-backup`:
 *
 * ```
 * <dir>/manifest.json     written last: a directory without it is not a backup
 * <dir>/dust-mcp.db       the database snapshot (SQLite, one file)
 * <dir>/files/<ab>/<key>  the bytes of every file the snapshot references, under its key
 * ```
 *
 * The manifest names every file with its size and SHA-256, the schema version and the times;
 * it holds no secret (no setting, no credential, no file name). The database file does hold
 * secrets (signing keys, hashed tokens): a backup is written readable by its owner only.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { STORAGE_KEY_PATTERN } from "../storage/blob_store.ts";

export const MANIFEST_FILE = "manifest.json";
export const DATABASE_FILE = "dust-mcp.db";
export const FILES_DIR = "files";

/** A refusal or failure of backup, restore or verify-backup: one line, exit status 1. */
export class BackupError extends Error {
  override name = "BackupError";
}

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const StorageKey = z.string().regex(STORAGE_KEY_PATTERN);

export const ManifestSchema = z.object({
  format: z.literal("dust-mcp-backup"),
  formatVersion: z.literal(1),
  serverVersion: z.string(),
  engine: z.literal("sqlite"),
  /** The highest migration applied to the snapshot. */
  schemaVersion: z.number().int().min(1),
  /** When the backup was complete (ISO 8601). */
  createdAt: z.string(),
  snapshot: z.object({
    /** The snapshot reflects the database at a moment between these two. */
    startedAt: z.string(),
    finishedAt: z.string(),
    method: z.enum(["vacuum", "backup-api"]),
  }),
  /** Where the source instance kept its bytes. */
  source: z.object({ files: z.enum(["local", "s3"]) }),
  database: z.object({ path: z.literal(DATABASE_FILE), size: z.number().int(), sha256: Sha256 }),
  files: z.array(z.object({ key: StorageKey, size: z.number().int().min(0), sha256: Sha256 })),
  /** Keys the snapshot references whose bytes were already gone from the source store. */
  missing: z.array(z.object({ key: StorageKey, fileId: z.string() })),
  totals: z.object({ files: z.number().int(), bytes: z.number().int() }),
});

export type BackupManifest = z.infer<typeof ManifestSchema>;
export type ManifestFile = BackupManifest["files"][number];

/** Path of a stored blob inside a backup directory. */
export function backupFilePath(dir: string, key: string): string {
  return join(dir, FILES_DIR, key);
}

/** Read and check the manifest of a backup directory (BackupError when absent or malformed). */
export async function readManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    // A data file of the backup, never a source file (readFile: the packaging check's rule).
    text = new TextDecoder().decode(await Deno.readFile(join(dir, MANIFEST_FILE)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BackupError(
        `${dir} has no ${MANIFEST_FILE}: not a dust-mcp backup, or one that did not finish`,
      );
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupError(`${join(dir, MANIFEST_FILE)} is not JSON`);
  }
  const result = ManifestSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BackupError(
      `${join(dir, MANIFEST_FILE)} is not a dust-mcp backup manifest ` +
        `(${issue.path.join(".") || "root"}: ${issue.message})`,
    );
  }
  return result.data;
}

/** A pass-through stream that counts and hashes what flows through it. */
export function hashingTap(): {
  stream: TransformStream<Uint8Array, Uint8Array>;
  result(): { size: number; sha256: string };
} {
  const hash = createHash("sha256");
  let size = 0;
  return {
    stream: new TransformStream({
      transform(chunk, out) {
        hash.update(chunk);
        size += chunk.length;
        out.enqueue(chunk);
      },
    }),
    result: () => ({ size, sha256: hash.digest("hex") }),
  };
}

/** Size and SHA-256 of a file, streamed. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest("hex") };
}

/** True when `path` does not exist or is an empty directory. */
export async function isEmptyOrAbsent(path: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(path)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    if (e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/** Write a small file durably (fsync), readable by its owner only. */
export async function writeFileSynced(path: string, text: string): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  try {
    const bytes = new TextEncoder().encode(text);
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } finally {
    file.close();
  }
}
