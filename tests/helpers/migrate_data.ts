/**
 * Helpers of the `migrate-data` tests: a source instance on SQLite + local files (whatever the
 * suite's engine), the command run in-process, S3 prefixes of their own, and looks at the target
 * from outside the command.
 * @module
 */
import { POSTGRES_ONLY_TABLES } from "../../src/db/copy_tables.ts";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import postgres from "postgres";
import { runCli } from "../../src/cli.ts";
import { openDb, type SqliteDb } from "../../src/db/sqlite.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { isSqliteOnlyTable } from "../../src/db/copy_tables.ts";
import { parseS3Url } from "../../src/storage/s3_url.ts";
import { S3Files } from "../../src/storage/s3_files.ts";
import { startTestServer, type TestServer } from "./server.ts";
import { awsEnv, testFilesUrl, withPrefixSegment } from "./test_files.ts";
import { apiJson, bearer, createUserWithToken } from "./fixtures.ts";
import { captureIo } from "../cli/capture_io.ts";

/** A fresh S3 prefix for a moved instance's bytes, or null (no S3 server: bytes stay local). */
export function targetFilesUrl(): string | null {
  const base = testFilesUrl();
  return base ? withPrefixSegment(base, `moved-${crypto.randomUUID().slice(0, 12)}`) : null;
}

/** A store over a test prefix (closed by the caller). */
export function storeAt(url: string): S3Files {
  const env = awsEnv();
  return new S3Files(parseS3Url(url), {
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    },
  });
}

/** Remove everything under a test prefix (disposable). */
export function prefixCleanup(url: string | null): AsyncDisposable {
  return {
    [Symbol.asyncDispose]: async () => {
      if (!url) return;
      const store = storeAt(url);
      try {
        for (const key of (await store.listKeys()).keys) await store.remove(key);
        await store.abortStaleUploads(0);
      } finally {
        await store.close();
      }
    },
  };
}

/** `migrate-data --data-dir <dir> <args>`, in-process, with the AWS variables only. */
export async function migrateData(dir: string, args: string[]) {
  const io = captureIo();
  const code = await runCli(["migrate-data", "--data-dir", dir, ...args], io, awsEnv());
  return { code, out: io.stdout, err: io.stderr };
}

/** The target flags. */
export function targetArgs(databaseUrl: string, filesUrl: string | null): string[] {
  return ["--database-url", databaseUrl, ...(filesUrl ? ["--files-url", filesUrl] : [])];
}

/** The source instance: SQLite and local files in `dir`, whatever the suite's engine. */
export function startSource(dir: string, publicUrl?: string): Promise<TestServer> {
  return startTestServer({ dataDir: dir, engine: "sqlite", files: "local", publicUrl });
}

export const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Upload bytes as a conversation file through REST; returns its sId and download URL. */
export async function uploadFile(
  server: TestServer,
  token: string,
  wId: string,
  cId: string,
  name: string,
  bytes: Uint8Array<ArrayBuffer>,
) {
  const created = await apiJson(server, token, `/api/v1/w/${wId}/files`, {
    method: "POST",
    body: {
      contentType: "application/octet-stream",
      fileName: name,
      fileSize: bytes.length,
      useCase: "conversation",
      useCaseMetadata: { conversationId: cId },
    },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const form = new FormData();
  form.append("file", new File([bytes], name));
  const up = await fetch(created.body.file.uploadUrl, {
    method: "POST",
    headers: bearer(token),
    body: form,
  });
  const body = await up.json();
  assert.equal(up.status, 200, JSON.stringify(body));
  return { sId: body.file.sId as string, path: `/api/v1/w/${wId}/files/${body.file.sId}` };
}

/** Rows per copied table, read from both databases independently of the command. */
export async function countsOf(dir: string, databaseUrl: string) {
  const sqlite = openDb(join(dir, "dust-mcp.db"));
  const pg = new PostgresDb(databaseUrl, { max: 1 });
  try {
    const tables = (await sqlite.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )).map((t) => t.name).filter((t) => !isSqliteOnlyTable(t));
    const out: Record<string, [number, number]> = {};
    for (const t of tables) {
      const a = await sqlite.get<{ n: number }>(`SELECT COUNT(*) AS n FROM "${t}"`);
      const b = await pg.get<{ n: number }>(`SELECT COUNT(*) AS n FROM "${t}"`);
      out[t] = [Number(a!.n), Number(b!.n)];
    }
    return out;
  } finally {
    await sqlite.close();
    await pg.close();
  }
}

/** Work on a stopped instance's SQLite database, closed after. */
export async function withSource<T>(dir: string, fn: (db: SqliteDb) => Promise<T>): Promise<T> {
  const db = openDb(join(dir, "dust-mcp.db"));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** A small stopped instance: one user, a conversation and one uploaded file. */
export async function smallInstance(dir: string): Promise<void> {
  await using source = await startSource(dir);
  const u = await createUserWithToken(source, { email: "ada@example.com", role: "admin" });
  const wId = u.workspace.sId;
  const conv = await apiJson(source, u.token, `/api/v1/w/${wId}/assistant/conversations`, {
    method: "POST",
    body: { title: "small" },
  });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const bytes = new TextEncoder().encode("small file");
  await uploadFile(source, u.token, wId, conv.body.conversation.sId, "a.txt", bytes);
}

/** What the target holds: tables with rows, whether it was migrated, objects under the prefix. */
export async function targetState(databaseUrl: string, filesUrl: string | null) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ migrated }] = await sql`SELECT to_regclass('_migrations') IS NOT NULL AS migrated`;
    const tables = await sql<{ t: string }[]>`
      SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema()`;
    const withRows: string[] = [];
    for (const { t } of tables) {
      // The ledger and the credential counter: a migrated database's own rows.
      if (t === "_migrations" || POSTGRES_ONLY_TABLES.includes(t)) continue;
      if ((await sql.unsafe(`SELECT 1 FROM "${t}" LIMIT 1`)).length) withRows.push(t);
    }
    let objects = false;
    if (filesUrl) {
      const store = storeAt(filesUrl);
      objects = await store.hasObjects().finally(() => store.close());
    }
    return { migrated: migrated as boolean, withRows, objects };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
