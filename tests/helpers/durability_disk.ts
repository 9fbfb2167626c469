/**
 * The durability suite's post-mortem: with the server down (killed or stopped), open its
 * database read-only and check it and the files directory — SQLite integrity and foreign keys,
 * the FTS5 index, every ready file's blob, orphans and leftover temp files.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteDb } from "../../src/db/sqlite.ts";
import { checkSearchIndex as checkPartitions } from "../../src/core/search_index.ts";

/** What the post-mortem look at a data directory found. */
export interface DiskReport {
  integrity: string[];
  foreignKeyViolations: number;
  /** FTS5 `integrity-check` of the search index against its content table: "ok" or the error. */
  searchIndex: string;
  readyFiles: number;
  /** Active (not revoked) MCP tokens per user and workspace: one each, never more. */
  activeMcpTokens: number[];
  /** The `podId` argument of every audited `get_pod` call (the load's tool-call probes). */
  auditedPodIds: Set<string>;
  /** Ready rows whose blob is missing or of another size than the row says. */
  badBlobs: string[];
  /** Blobs no row points to (a crash between the rename and the row update leaves one). */
  orphanBlobs: string[];
  /** Leftover `files/tmp` entries (a restart must clear them). */
  tempFiles: string[];
  /** sha256 (hex) of each ready file's blob, by file sId. */
  blobHashes: Map<string, string>;
}

async function listBlobs(filesDir: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const fan of Deno.readDir(filesDir)) {
    if (!fan.isDirectory || fan.name === "tmp") continue;
    for await (const f of Deno.readDir(join(filesDir, fan.name))) {
      keys.push(`${fan.name}/${f.name}`);
    }
  }
  return keys;
}

async function listTemp(filesDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(filesDir, "tmp"))) names.push(e.name);
  return names;
}

/** Copy the database with its WAL and rollback journal (whichever exist) into a temp dir. */
async function copyDatabase(dataDir: string): Promise<string> {
  const copy = await Deno.makeTempDir({ prefix: "dust-mcp-durability-copy-" });
  for (const suffix of ["", "-wal", "-journal"]) {
    await Deno.copyFile(join(dataDir, `dust-mcp.db${suffix}`), join(copy, `dust-mcp.db${suffix}`))
      .catch((e) => {
        if (!(suffix && e instanceof Deno.errors.NotFound)) throw e;
      });
  }
  return copy;
}

/**
 * Run `read` on a read-only connection to the database. When SQLite must write to open it (a
 * hot rollback journal left by a kill during the very first open), run it on a writable copy
 * instead, which recovers the way the next start would; the original stays untouched.
 */
export async function readDatabase<T>(dataDir: string, read: (db: DatabaseSync) => T): Promise<T> {
  try {
    const db = new DatabaseSync(join(dataDir, "dust-mcp.db"), { readOnly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  } catch (e) {
    if (!/readonly/i.test(String(e))) throw e;
  }
  const copy = await copyDatabase(dataDir);
  try {
    const db = new DatabaseSync(join(copy, "dust-mcp.db"));
    try {
      return read(db);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

/**
 * `PRAGMA integrity_check` (its lines; ["ok"] when sound) and the number of
 * `PRAGMA foreign_key_check` violations (the server is down).
 */
export function checkDatabase(dataDir: string): Promise<{
  integrity: string[];
  foreignKeyViolations: number;
}> {
  return readDatabase(dataDir, (db) => ({
    integrity: (db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[])
      .map((r) => r.integrity_check),
    foreignKeyViolations: db.prepare("PRAGMA foreign_key_check").all().length,
  }));
}

/**
 * Open the database read-only (the server is down: killed or stopped) and check it and the
 * files directory: `integrity_check`, `foreign_key_check`, every ready row's blob present with
 * the row's size, orphans and temp files listed.
 */
export async function inspectDataDir(dataDir: string): Promise<DiskReport> {
  const { integrity, foreignKeyViolations } = await checkDatabase(dataDir);
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"), { readOnly: true });
  let rows: { s_id: string; storage_key: string; file_size: number }[];
  let activeMcpTokens: number[];
  let auditedPodIds: Set<string>;
  try {
    rows = db.prepare(
      "SELECT s_id, storage_key, file_size FROM files WHERE status = 'ready' AND storage_key IS NOT NULL",
    ).all() as typeof rows;
    activeMcpTokens = (db.prepare(
      `SELECT count(*) AS n FROM mcp_tokens WHERE revoked_at IS NULL
       GROUP BY user_id, workspace_id ORDER BY user_id`,
    ).all() as { n: number }[]).map((r) => Number(r.n));
    auditedPodIds = new Set(
      (db.prepare("SELECT arguments FROM audit_log WHERE tool = 'get_pod'").all() as {
        arguments: string;
      }[]).map((r) => String(JSON.parse(r.arguments).podId)),
    );
  } finally {
    db.close();
  }
  const filesDir = join(dataDir, "files");
  const blobs = new Set(await listBlobs(filesDir));
  const badBlobs: string[] = [];
  const blobHashes = new Map<string, string>();
  for (const r of rows) {
    const bytes = await Deno.readFile(join(filesDir, r.storage_key)).catch(() => null);
    if (!bytes || bytes.length !== r.file_size) {
      badBlobs.push(
        `${r.s_id}: ${
          bytes ? `${bytes.length} bytes on disk` : "no blob"
        }, row says ${r.file_size}`,
      );
      continue;
    }
    blobHashes.set(r.s_id, createHash("sha256").update(bytes).digest("hex"));
    blobs.delete(r.storage_key);
  }
  return {
    integrity,
    foreignKeyViolations,
    searchIndex: await checkSearchIndex(dataDir),
    readyFiles: rows.length,
    activeMcpTokens,
    auditedPodIds,
    badBlobs,
    orphanBlobs: [...blobs],
    tempFiles: await listTemp(filesDir),
    blobHashes,
  };
}

/** The ready text files of a conversation's scope on disk: relative path → id and content. */
export async function readScopedFiles(
  dataDir: string,
  conversationSId: string,
): Promise<Map<string, { sId: string; text: string }>> {
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"), { readOnly: true });
  let rows: { s_id: string; path: string; storage_key: string }[];
  try {
    rows = db.prepare(
      `SELECT s_id, path, storage_key FROM files WHERE scope_type = 'conversation'
       AND scope_s_id = ? AND status = 'ready' AND storage_key IS NOT NULL`,
    ).all(conversationSId) as typeof rows;
  } finally {
    db.close();
  }
  const out = new Map<string, { sId: string; text: string }>();
  for (const r of rows) {
    const bytes = await Deno.readFile(join(dataDir, "files", r.storage_key)).catch(() => null);
    out.set(r.path, { sId: r.s_id, text: bytes ? new TextDecoder().decode(bytes) : "<no blob>" });
  }
  return out;
}

/**
 * FTS5's own integrity check of every index partition (rank 1: each partition against its
 * chunks, so a chunk written without its index entries or the reverse shows), and no chunk
 * left without a partition (`checkSearchIndex`). It needs a writable connection, so it runs on
 * a copy of the database and its WAL: the original stays as the crash left it.
 */
async function checkSearchIndex(dataDir: string): Promise<string> {
  const copy = await copyDatabase(dataDir);
  try {
    const db = new SqliteDb(join(copy, "dust-mcp.db"));
    try {
      return await checkPartitions(db);
    } catch (e) {
      return String(e);
    } finally {
      await db.close();
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

/**
 * Blobs no files row references (any status), read while the server runs (the database is in
 * WAL mode, so a read-only connection sees the last commit): none right after a restart, whose
 * startup sweep removes them.
 */
export async function unreferencedBlobsOf(dataDir: string): Promise<string[]> {
  const blobs = new Set(await listBlobs(join(dataDir, "files")));
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"), { readOnly: true });
  try {
    for (
      const r of db.prepare("SELECT storage_key FROM files WHERE storage_key IS NOT NULL").iterate()
    ) {
      blobs.delete(String(r.storage_key));
    }
  } finally {
    db.close();
  }
  return [...blobs];
}

/** The temp entries of a data directory's files dir (checked right after a restart). */
export function tempFilesOf(dataDir: string): Promise<string[]> {
  return listTemp(join(dataDir, "files"));
}
