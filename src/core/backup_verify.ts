/**
 * `dust-mcp verify-backup --from <dir>`: check a backup without restoring it — the manifest,
 * the database's and every file's size and SHA-256, no file missing and none unexpected, and
 * the snapshot itself (SQLite `quick_check`; it references exactly the manifest's keys).
 * Problems are collected, one readable line each.
 * @module
 */
import { join } from "node:path";
import { openDb } from "../db/sqlite.ts";
import { SQLITE_SCHEMA_VERSION } from "../db/migrate.ts";
import { STORAGE_KEY_PATTERN } from "../storage/blob_store.ts";
import {
  backupFilePath,
  type BackupManifest,
  DATABASE_FILE,
  FILES_DIR,
  hashFile,
  readManifest,
} from "./backup_manifest.ts";

export interface VerifyReport {
  manifest: BackupManifest;
  /** One line per problem; empty when the backup is sound. */
  problems: string[];
}

/** Most problems listed one by one (the rest are counted). */
const MAX_LISTED = 50;

export async function verifyBackup(dir: string): Promise<VerifyReport> {
  const manifest = await readManifest(dir);
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  if (manifest.schemaVersion > SQLITE_SCHEMA_VERSION) {
    add(
      `schema version ${manifest.schemaVersion} is newer than this dust-mcp knows ` +
        `(${SQLITE_SCHEMA_VERSION}): use dust-mcp ${manifest.serverVersion} or later`,
    );
  }
  const dbSound = await checkFile(join(dir, DATABASE_FILE), manifest.database, "database", add);
  for (const f of manifest.files) {
    await checkFile(backupFilePath(dir, f.key), f, `file ${f.key}`, add);
  }
  for (const extra of await unexpectedFiles(dir, manifest)) {
    add(`file ${extra}: in the backup but not in the manifest`);
  }
  if (dbSound) await checkSnapshot(join(dir, DATABASE_FILE), manifest, add);
  if (problems.length > MAX_LISTED) {
    const more = problems.length - MAX_LISTED;
    problems.splice(MAX_LISTED, problems.length, `… and ${more} more problems`);
  }
  return { manifest, problems };
}

/** Compare a file with its manifest entry; returns true when size and hash match. */
async function checkFile(
  path: string,
  want: { size: number; sha256: string },
  what: string,
  add: (line: string) => void,
): Promise<boolean> {
  let got: { size: number; sha256: string };
  try {
    got = await hashFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      add(`${what}: missing from the backup`);
      return false;
    }
    throw e;
  }
  if (got.size !== want.size) {
    add(`${what}: ${got.size} bytes, the manifest says ${want.size}`);
    return false;
  }
  if (got.sha256 !== want.sha256) {
    add(`${what}: SHA-256 ${got.sha256} differs from the manifest's ${want.sha256}`);
    return false;
  }
  return true;
}

/** Blob-shaped files under `files/` the manifest does not name. */
async function unexpectedFiles(dir: string, manifest: BackupManifest): Promise<string[]> {
  const known = new Set(manifest.files.map((f) => f.key));
  const extra: string[] = [];
  const root = join(dir, FILES_DIR);
  const fans = await Array.fromAsync(Deno.readDir(root)).catch(() => []);
  for (const fan of fans) {
    if (!fan.isDirectory) {
      extra.push(fan.name);
      continue;
    }
    for await (const blob of Deno.readDir(join(root, fan.name))) {
      const key = `${fan.name}/${blob.name}`;
      if (!STORAGE_KEY_PATTERN.test(key) || !known.has(key)) extra.push(key);
    }
  }
  return extra.sort();
}

/** The snapshot opens, passes `quick_check`, and references the manifest's keys exactly. */
async function checkSnapshot(
  path: string,
  manifest: BackupManifest,
  add: (line: string) => void,
): Promise<void> {
  let snap;
  try {
    snap = openDb(path, { readOnly: true });
  } catch (e) {
    add(`database: cannot be opened (${(e as Error).message})`);
    return;
  }
  try {
    const check = await snap.all<{ quick_check: string }>("PRAGMA quick_check");
    const bad = check.map((r) => r.quick_check).filter((r) => r !== "ok");
    if (bad.length) add(`database: quick_check: ${bad.slice(0, 3).join("; ")}`);
    const rows = await snap.all<{ storage_key: string }>(
      "SELECT storage_key FROM files WHERE storage_key IS NOT NULL",
    );
    const inSnapshot = new Set(rows.map((r) => r.storage_key));
    const inManifest = new Set([...manifest.files, ...manifest.missing].map((f) => f.key));
    for (const key of inSnapshot) {
      if (!inManifest.has(key)) add(`file ${key}: referenced by the database, not in the manifest`);
    }
    for (const key of inManifest) {
      if (!inSnapshot.has(key)) add(`file ${key}: in the manifest, not referenced by the database`);
    }
  } catch (e) {
    add(`database: ${(e as Error).message}`);
  } finally {
    await snap.close();
  }
}
