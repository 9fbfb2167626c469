/**
 * The durability suite's post-mortem: with the server down (killed or stopped), look at its
 * database and its files directory. SQLite: open the file read-only (on a copy when it needs
 * recovery) — integrity_check, foreign_key_check, the FTS5 index. PostgreSQL (the data
 * directory's own database, `DUST_MCP_TEST_DATABASE=postgres`): the same questions through SQL
 * — the database answers, every foreign key holds (checked row by row, not taken on trust), the
 * tsvectors and the GIN index agree with the chunks. Then, on both: every ready file's blob,
 * orphans and leftover temp files.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteDb } from "../../src/db/sqlite.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import type { Db } from "../../src/db/db.ts";
import { checkSearchIndex as checkPartitions } from "../../src/core/search_index.ts";
import { engineEnv, testEngine } from "./server.ts";

/** True when the durability suite runs on PostgreSQL. */
export function durabilityOnPostgres(): boolean {
  return testEngine() === "postgres";
}

/**
 * The environment a data directory's processes (server, operator CLI) need: on PostgreSQL its
 * own database (created on first use; `empty` for a first start that migrates it). Files stay
 * in the data directory: the suite looks at them on disk.
 */
export async function durabilityEnv(
  dataDir: string,
  options: { empty?: boolean } = {},
): Promise<Record<string, string>> {
  if (!durabilityOnPostgres()) return {};
  const env = await engineEnv(dataDir, options);
  return { DUST_MCP_DATABASE_URL: env.DUST_MCP_DATABASE_URL };
}

/** Run `fn` on the data directory's database (SQLite read-only; PostgreSQL its own database). */
export async function withDatabase<T>(dataDir: string, fn: (db: Db) => Promise<T>): Promise<T> {
  if (durabilityOnPostgres()) {
    const db = new PostgresDb((await durabilityEnv(dataDir)).DUST_MCP_DATABASE_URL, { max: 1 });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }
  try {
    const db = new SqliteDb(join(dataDir, "dust-mcp.db"), { readOnly: true });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  } catch (e) {
    if (!/readonly/i.test(String(e))) throw e;
  }
  const copy = await copyDatabase(dataDir);
  try {
    const db = new SqliteDb(join(copy, "dust-mcp.db"));
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

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
 * SQLite: `PRAGMA integrity_check` (its lines; ["ok"] when sound) and the number of
 * `PRAGMA foreign_key_check` violations (the server is down). PostgreSQL: ["ok"] once the
 * database answers, and the rows breaking any foreign key, counted through SQL.
 */
export async function checkDatabase(dataDir: string): Promise<{
  integrity: string[];
  foreignKeyViolations: number;
}> {
  if (durabilityOnPostgres()) {
    return await withDatabase(dataDir, async (db) => {
      const ok = await db.get<{ ok: number }>("SELECT 1 AS ok");
      return {
        integrity: ok?.ok === 1 ? ["ok"] : ["no answer"],
        foreignKeyViolations: await countForeignKeyViolations(db),
      };
    });
  }
  return readDatabase(dataDir, (db) => ({
    integrity: (db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[])
      .map((r) => r.integrity_check),
    foreignKeyViolations: db.prepare("PRAGMA foreign_key_check").all().length,
  }));
}

/**
 * PostgreSQL enforces foreign keys as it writes; this checks the result anyway: for every
 * foreign key of the schema, the rows whose key is set and matches no row of the table it
 * names.
 */
async function countForeignKeyViolations(db: Db): Promise<number> {
  const fks = await db.all<{ child: string; parent: string; cols: string; refs: string }>(
    `SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent,
       (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM unnest(c.conkey)
          WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n)
         AS cols,
       (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM unnest(c.confkey)
          WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)
         AS refs
     FROM pg_constraint c JOIN pg_namespace ns ON ns.oid = c.connamespace
     WHERE c.contype = 'f' AND ns.nspname = 'public'`,
  );
  if (fks.length === 0) {
    // Before the first migration committed (a kill during a first start) there is nothing.
    if ((await db.get("SELECT to_regclass('workspaces') AS t"))?.t === null) return 0;
    throw new Error("no foreign key found: the check would prove nothing");
  }
  let violations = 0;
  for (const fk of fks) {
    const cols = fk.cols.split(",");
    const refs = fk.refs.split(",");
    const r = await db.get<{ n: number }>(
      `SELECT count(*) AS n FROM ${fk.child} c
       WHERE ${cols.map((col) => `c.${col} IS NOT NULL`).join(" AND ")}
       AND NOT EXISTS (SELECT 1 FROM ${fk.parent} p
         WHERE ${cols.map((col, i) => `p.${refs[i]} = c.${col}`).join(" AND ")})`,
    );
    violations += Number(r?.n ?? 0);
  }
  return violations;
}

/**
 * Open the database (the server is down: killed or stopped) and check it and the files
 * directory: integrity and foreign keys, the search index, every ready row's blob present with
 * the row's size, orphans and temp files listed.
 */
export async function inspectDataDir(dataDir: string): Promise<DiskReport> {
  const { integrity, foreignKeyViolations } = await checkDatabase(dataDir);
  const { rows, activeMcpTokens, auditedPodIds } = await withDatabase(dataDir, async (db) => ({
    rows: await db.all<{ s_id: string; storage_key: string; file_size: number }>(
      "SELECT s_id, storage_key, file_size FROM files WHERE status = 'ready' AND storage_key IS NOT NULL",
    ),
    activeMcpTokens: (await db.all<{ n: number }>(
      `SELECT count(*) AS n FROM mcp_tokens WHERE revoked_at IS NULL
       GROUP BY user_id, workspace_id ORDER BY user_id`,
    )).map((r) => Number(r.n)),
    auditedPodIds: new Set(
      (await db.all<{ arguments: string }>(
        "SELECT arguments FROM audit_log WHERE tool = 'get_pod'",
      )).map((r) => String(JSON.parse(r.arguments).podId)),
    ),
  }));
  const filesDir = join(dataDir, "files");
  const blobs = new Set(await listBlobs(filesDir));
  const badBlobs: string[] = [];
  const blobHashes = new Map<string, string>();
  for (const r of rows) {
    const bytes = await Deno.readFile(join(filesDir, r.storage_key)).catch(() => null);
    if (!bytes || bytes.length !== Number(r.file_size)) {
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
  const rows = await withDatabase(
    dataDir,
    async (db) =>
      await db.all<{ s_id: string; path: string; storage_key: string }>(
        `SELECT s_id, path, storage_key FROM files WHERE scope_type = 'conversation'
       AND scope_s_id = ? AND status = 'ready' AND storage_key IS NOT NULL`,
        conversationSId,
      ),
  );
  const out = new Map<string, { sId: string; text: string }>();
  for (const r of rows) {
    const bytes = await Deno.readFile(join(dataDir, "files", r.storage_key)).catch(() => null);
    out.set(r.path, { sId: r.s_id, text: bytes ? new TextDecoder().decode(bytes) : "<no blob>" });
  }
  return out;
}

/**
 * SQLite: FTS5's own integrity check of every index partition (rank 1: each partition against
 * its chunks, so a chunk written without its index entries or the reverse shows), and no chunk
 * left without a partition (`checkSearchIndex`). It needs a writable connection, so it runs on
 * a copy of the database and its WAL: the original stays as the crash left it. PostgreSQL:
 * the tsvectors and the GIN index against the chunks, on the database itself (read-only work).
 */
async function checkSearchIndex(dataDir: string): Promise<string> {
  if (durabilityOnPostgres()) {
    return await withDatabase(dataDir, async (db) => await checkPartitions(db).catch(String));
  }
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
 * Blobs no files row references (any status), read while the server runs (SQLite in WAL mode:
 * a read-only connection sees the last commit): none right after a restart on SQLite, whose
 * startup sweep removes them.
 */
export async function unreferencedBlobsOf(dataDir: string): Promise<string[]> {
  const blobs = new Set(await listBlobs(join(dataDir, "files")));
  const keys = await withDatabase(dataDir, async (db) =>
    await db.all<{ storage_key: string }>(
      "SELECT storage_key FROM files WHERE storage_key IS NOT NULL",
    ));
  for (const r of keys) blobs.delete(String(r.storage_key));
  return [...blobs];
}

/** The temp entries of a data directory's files dir (checked right after a restart). */
export function tempFilesOf(dataDir: string): Promise<string[]> {
  return listTemp(join(dataDir, "files"));
}
