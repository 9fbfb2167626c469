/**
 * Online backup (src/core/backup*.ts) against a running server on SQLite (its files local, or
 * on S3 when the suite runs with a store): the backup holds exactly the bytes its snapshot
 * references — a file deleted and a file overwritten between the snapshot and the copy are
 * still copied (their removals are held, then released), a file written after the snapshot is
 * not — and restores into an empty directory. The schedule's claim is one at a time on both
 * engines.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { createConversationWithMessage, userActorOf } from "../helpers/actors.ts";
import { createPgTestDatabase } from "../helpers/pg_test_db.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import type { Db } from "../../src/db/db.ts";
import { createFile, deleteFile, uploadFileContent } from "../../src/core/files.ts";
import { writeScopeFile } from "../../src/core/scoped_files.ts";
import { createBackup } from "../../src/core/backup.ts";
import { restoreBackup } from "../../src/core/backup_restore.ts";
import { verifyBackup } from "../../src/core/backup_verify.ts";
import { sha256Hex } from "../helpers/durability_ledger.ts";
import type { UserActor } from "../../src/auth/actor.ts";
import { dataPaths, openBlobStore } from "../../src/server.ts";
import { resolveConfig } from "../../src/config.ts";
import { testFilesSettings } from "../helpers/test_files.ts";
import {
  backupRunning,
  claimScheduledBackup,
  finishBackupRun,
  openBackupRun,
} from "../../src/core/backup_runs.ts";
import { openDb } from "../../src/db/sqlite.ts";
import { clearTestFiles } from "../helpers/test_files.ts";

const enc = (s: string) => new TextEncoder().encode(s);

async function uploaded(
  server: TestServer,
  actor: UserActor,
  conversationId: string,
  text: string,
) {
  const bytes = enc(text);
  const file = await createFile(server.deps, actor, {
    contentType: "text/plain",
    fileName: "note.txt",
    fileSize: bytes.length,
    useCase: "conversation",
    useCaseMetadata: { conversationId },
  });
  return await uploadFileContent(server.deps, actor, {
    fileId: file.sId,
    body: ReadableStream.from([bytes]),
  });
}

async function storageKeyOf(server: TestServer, fileSId: string): Promise<string | null> {
  const r = await server.deps.db.get<{ storage_key: string | null }>(
    "SELECT storage_key FROM files WHERE s_id = ?",
    fileSId,
  );
  return r?.storage_key ?? null;
}

Deno.test("[backup] bytes removed between the snapshot and the copy are still copied (held), bytes written after it are not", async () => {
  await using server = await startTestServer({ engine: "sqlite" });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const actor = await userActorOf(server, alice);
  const { conversationId } = await createConversationWithMessage(server, alice);
  const kept = await uploaded(server, actor, conversationId, "kept all along");
  const doomed = await uploaded(server, actor, conversationId, "deleted after the snapshot");
  const doomedKey = (await storageKeyOf(server, doomed.sId))!;
  const scope = { type: "conversation" as const, conversation_id: conversationId };
  const v1 = await writeScopeFile(server.deps, actor, {
    scope,
    rel: "notes/a.md",
    bytes: enc("version one"),
    contentType: "text/markdown",
  });
  const v1Key = (await storageKeyOf(server, v1.file.sId))!;
  let late = "";
  const to = join(await Deno.makeTempDir({ prefix: "dust-mcp-backup-" }), "b");
  const done = await createBackup({
    db: server.deps.db,
    dbPath: dataPaths(server.dataDir).db,
    files: server.deps.files,
    to,
    afterSnapshot: async () => {
      assert.equal(await backupRunning(server.deps.db), true, "the run holds removals");
      await deleteFile(server.deps, actor, doomed.sId);
      await writeScopeFile(server.deps, actor, {
        scope,
        rel: "notes/a.md",
        bytes: enc("version two"),
        contentType: "text/markdown",
      });
      late = (await uploaded(server, actor, conversationId, "after the snapshot")).sId;
    },
  });
  const keys = new Set(done.manifest.files.map((f) => f.key));
  assert.deepEqual(done.manifest.missing, [], "no referenced bytes were missing");
  assert.ok(keys.has(doomedKey), "the file deleted after the snapshot is in the backup");
  assert.ok(keys.has(v1Key), "the overwritten version is in the backup");
  assert.ok(!keys.has((await storageKeyOf(server, late))!), "bytes written later are not");
  assert.equal(keys.size, 3, "kept + deleted + overwritten version one");
  const doomedEntry = done.manifest.files.find((f) => f.key === doomedKey)!;
  assert.equal(doomedEntry.sha256, sha256Hex(enc("deleted after the snapshot")));
  // The run ended: the held bytes are gone from the live store now.
  assert.equal(await backupRunning(server.deps.db), false);
  assert.equal(done.released, 2, "the deleted file's and version one's bytes were released");
  await assert.rejects(server.deps.files.read(doomedKey), Deno.errors.NotFound);
  await assert.rejects(server.deps.files.read(v1Key), Deno.errors.NotFound);
  const held = await server.deps.db.get<{ n: number }>(
    "SELECT COUNT(*) AS n FROM backup_held_blobs",
  );
  assert.equal(Number(held?.n), 0);
  assert.deepEqual((await verifyBackup(to)).problems, []);

  // Restore into an empty directory (and, with S3, its own prefix) and read the files back.
  const target = await Deno.makeTempDir({ prefix: "dust-mcp-restored-" });
  const files = testFilesSettings(target);
  const config = resolveConfig({ "data-dir": target, ...files.flags }, files.env);
  await restoreBackup({ from: to, dataDir: target, openFiles: () => openBlobStore(config) });
  const restored = await startTestServer({ engine: "sqlite", dataDir: target });
  try {
    for (
      const [id, text] of [[kept.sId, "kept all along"], [doomed.sId, "deleted after the snapshot"]]
    ) {
      const key = (await storageKeyOf(restored, id))!;
      assert.equal(new TextDecoder().decode(await restored.deps.files.read(key)), text);
    }
    assert.equal(await storageKeyOf(restored, late), null, "the late file is not restored");
    const a = await restored.deps.db.get<{ storage_key: string }>(
      "SELECT storage_key FROM files WHERE path = 'notes/a.md'",
    );
    assert.equal(
      new TextDecoder().decode(await restored.deps.files.read(a!.storage_key)),
      "version one",
    );
    assert.equal(await backupRunning(restored.deps.db), false, "no run of the source is open here");
  } finally {
    await restored.stop();
    await clearTestFiles(config);
    await Deno.remove(target, { recursive: true });
    await Deno.remove(join(to, ".."), { recursive: true });
  }
});

Deno.test("[backup] a removal while no backup runs is immediate; a crashed run stops holding when its lease passes", async () => {
  await using server = await startTestServer({ engine: "sqlite" });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const actor = await userActorOf(server, alice);
  const { conversationId } = await createConversationWithMessage(server, alice);
  const f = await uploaded(server, actor, conversationId, "bytes");
  const key = (await storageKeyOf(server, f.sId))!;
  await deleteFile(server.deps, actor, f.sId);
  await assert.rejects(server.deps.files.read(key), Deno.errors.NotFound);
  // A run whose lease passed (its process died) holds nothing.
  const id = await openBackupRun(server.deps.db);
  await server.deps.db.run(
    "UPDATE backup_runs SET lease_until = ? WHERE id = ?",
    Date.now() - 1,
    id,
  );
  assert.equal(await backupRunning(server.deps.db), false);
  await finishBackupRun(server.deps.db, id, "failed: test");
});

/** Two connections to one migrated database, as two processes would have. */
async function twoConnections(): Promise<{ a: Db; b: Db; close(): Promise<void> }> {
  if (testEngine() === "postgres") {
    const pg = await createPgTestDatabase();
    const a = new PostgresDb(pg.url, { max: 2 });
    const b = new PostgresDb(pg.url, { max: 2 });
    return {
      a,
      b,
      close: async () => {
        await a.close();
        await b.close();
        await pg.drop();
      },
    };
  }
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-db-" });
  const a = openDb(join(dir, "dust-mcp.db"));
  await migrate(a);
  const b = openDb(join(dir, "dust-mcp.db"));
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("[backup] the schedule's claim is taken by one process at a time, and not while a backup runs", async () => {
  const { a, b, close } = await twoConnections();
  try {
    // PostgreSQL: both at once (the advisory lock orders them). SQLite: one after the other —
    // two connections of ONE thread cannot wait for each other's write lock (the second's
    // busy wait blocks the thread the first needs to commit); processes can.
    const claims = testEngine() === "postgres"
      ? await Promise.all([claimScheduledBackup(a, 3600_000), claimScheduledBackup(b, 3600_000)])
      : [await claimScheduledBackup(a, 3600_000), await claimScheduledBackup(b, 3600_000)];
    assert.equal(claims.filter((c) => c !== null).length, 1, JSON.stringify(claims));
    const id = claims.find((c) => c !== null)!;
    assert.equal(await claimScheduledBackup(b, 0), null, "not while the first one runs");
    await finishBackupRun(a, id, "ok");
    assert.equal(await claimScheduledBackup(b, 3600_000), null, "not due for an hour");
    const next = await claimScheduledBackup(b, 0);
    assert.ok(next, "due at once with a zero period");
    await finishBackupRun(a, next, "ok");
  } finally {
    await close();
  }
});
