/**
 * The storage counters (migration 0007's triggers) against the rows they count: every path
 * that changes a files or documents row keeps them equal to the sums, including the
 * foreign-key cascades no core function sees; the migration counts what was stored before it;
 * reservations of a stopped process are released at start; quota sizes parse.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createFolder, createPod, createRestrictedSpace } from "../helpers/knowledge.ts";
import { openDb } from "../../src/db/sqlite.ts";
import { migrate, MIGRATIONS } from "../../src/db/migrate.ts";
import { createUser } from "../../src/core/users.ts";
import { createWorkspace } from "../../src/core/workspaces.ts";
import { upsertDocument } from "../../src/core/documents.ts";
import { createFile, deleteFile, uploadFileContent } from "../../src/core/files.ts";
import { filesCreate } from "../../src/core/file_system.ts";
import {
  readStorageCounters,
  reserveStorage,
  sumStorageFromRows,
} from "../../src/core/storage_quota.ts";
import { ConfigError, parseByteSize } from "../../src/config.ts";

async function assertExact(server: TestServer, workspaceId: number, label: string) {
  const db = server.deps.db;
  assert.deepEqual(
    await readStorageCounters(db, workspaceId),
    await sumStorageFromRows(db, workspaceId),
    label,
  );
}

Deno.test("[core/quota] the counters equal the sums over files and documents after writes, overwrites, deletes and cascades (data source, space, user, workspace)", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const ws = alice.workspace.id;
  const a = actorOf(alice);
  const b = actorOf(bob);
  const spaceId = await createRestrictedSpace(server, a, "Finance", [alice.user.sId, bob.user.sId]);
  const dsId = await createFolder(server, a, spaceId, "ledgers");
  const doc = async (actor: typeof a, id: string, text: string) =>
    await upsertDocument(server.deps, actor, { spaceId, dataSourceId: dsId, documentId: id, text });
  await doc(a, "one", "é".repeat(1000));
  await doc(b, "two", "b".repeat(3000));
  await doc(b, "one", "c".repeat(10)); // Bob takes over Alice's document
  await assertExact(server, ws, "documents");

  const podId = await createPod(server, a, "Launch", [bob.user.sId]);
  const scope = { type: "pod" as const, pod_id: podId };
  const write = (actor: typeof a, name: string, content: string) =>
    filesCreate(server.deps, actor, {
      scope,
      path: `pod-${podId}/${name}`,
      content,
      content_type: "text/plain",
    });
  await write(b, "x.txt", "x".repeat(5000));
  await write(a, "x.txt", "y".repeat(700)); // overwrite by another member
  await write(b, "z.txt", "z".repeat(123));
  const f = await createFile(server.deps, b, {
    contentType: "text/plain",
    fileName: "u.txt",
    fileSize: 4,
    useCase: "conversation",
  });
  await createFile(server.deps, b, { // never uploaded: counts nothing
    contentType: "text/plain",
    fileName: "never.txt",
    fileSize: 9999,
    useCase: "conversation",
  });
  await uploadFileContent(server.deps, b, {
    fileId: f.sId,
    body: ReadableStream.from([new TextEncoder().encode("abcd")]),
  });
  await assertExact(server, ws, "files");
  await deleteFile(server.deps, b, f.sId);
  await assertExact(server, ws, "file deleted");

  const db = server.deps.db;
  await db.run("DELETE FROM data_sources WHERE s_id = ?", dsId);
  await assertExact(server, ws, "data source deleted (documents cascade)");
  const space2 = await createRestrictedSpace(server, a, "Legal", [alice.user.sId]);
  const ds2 = await createFolder(server, a, space2, "contracts");
  await upsertDocument(server.deps, a, {
    spaceId: space2,
    dataSourceId: ds2,
    documentId: "nda",
    text: "n".repeat(77),
  });
  await assertExact(server, ws, "document in a second space");
  await db.run("DELETE FROM spaces WHERE s_id = ?", space2);
  await assertExact(server, ws, "space deleted (data sources and documents cascade)");
  await db.run("DELETE FROM users WHERE id = ?", bob.user.id);
  await assertExact(server, ws, "user deleted (files move to no member)");
  assert.ok((await readStorageCounters(db, ws)).some((r) => r.userId === 0 && r.fileBytes === 123));
  await db.run("DELETE FROM workspaces WHERE id = ?", ws);
  assert.deepEqual(await readStorageCounters(db, ws), []);
  assert.equal(
    (await db.get("SELECT count(*) AS n FROM storage_usage WHERE workspace_id = ?", ws) as {
      n: number;
    }).n,
    0,
  );
});

Deno.test("[core/quota] migration 0007 counts the files and documents stored before it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-quota-" });
  const db = openDb(join(dir, "dust-mcp.db"));
  try {
    await migrate(db, MIGRATIONS.filter((m) => m.version < 7));
    const user = await createUser(db, { email: "old@example.com", name: "Old", password: null });
    const ws = await createWorkspace(db, { name: "Old", adminUserId: user.id });
    const space = await db.get("SELECT id FROM spaces WHERE workspace_id = ? LIMIT 1", ws.id) as {
      id: number;
    };
    const t = Date.now();
    const file = db.prepare(
      `INSERT INTO files (s_id, workspace_id, user_id, content_type, file_name, file_size, status,
         use_case, created_at, updated_at) VALUES (?, ?, ?, 'text/plain', 'f', ?, ?, 'conversation', ?, ?)`,
    );
    await file.run("fil_a", ws.id, user.id, 300, "ready", t, t);
    await file.run("fil_b", ws.id, null, 20, "ready", t, t);
    await file.run("fil_c", ws.id, user.id, 5000, "created", t, t);
    const ds = await db.get(
      `INSERT INTO data_sources (s_id, view_s_id, workspace_id, space_id, name, created_at, updated_at)
       VALUES ('dts_a', 'dsv_a', ?, ?, 'n', ?, ?) RETURNING id`,
      ws.id,
      space.id,
      t,
      t,
    ) as { id: number };
    await db.run(
      `INSERT INTO documents (workspace_id, data_source_id, document_id, text, timestamp, hash,
         text_size, chunk_count, created_at, updated_at) VALUES (?, ?, 'd', 'abc', ?, 'h', 4000, 0, ?, ?)`,
      ws.id,
      ds.id,
      t,
      t,
      t,
    );
    assert.deepEqual(await migrate(db, MIGRATIONS.filter((m) => m.version <= 7)), [7]);
    assert.deepEqual(await readStorageCounters(db, ws.id), [
      { userId: 0, fileBytes: 20, documentBytes: 4000 },
      { userId: user.id, fileBytes: 300, documentBytes: 0 },
    ]);
    assert.deepEqual(await readStorageCounters(db, ws.id), await sumStorageFromRows(db, ws.id));
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[core/quota] reservations left by a stopped process are released at start", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-quota-" });
  try {
    let wsId: number;
    {
      await using server = await startTestServer({ dataDir });
      const alice = await createUserWithToken(server, { email: "a@example.com", role: "admin" });
      wsId = alice.workspace.id;
      await reserveStorage(server.deps, { workspaceId: wsId, userId: alice.user.id }, 1000, "file");
    }
    await using again = await startTestServer({ dataDir });
    const n = await again.deps.db.get("SELECT count(*) AS n FROM storage_reservations") as {
      n: number;
    };
    assert.equal(n.n, 0);
    assert.ok(again.logs.some((l) => l.includes("storage reservations released")));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[config] storage quota sizes: plain bytes, decimal and binary units, unlimited; junk is refused", () => {
  assert.equal(parseByteSize("1048576", "--x"), 1048576);
  assert.equal(parseByteSize("1GiB", "--x"), 2 ** 30);
  assert.equal(parseByteSize("10 gib", "--x"), 10 * 2 ** 30);
  assert.equal(parseByteSize("500MB", "--x"), 500e6);
  assert.equal(parseByteSize("2.5MiB", "--x"), 2.5 * 2 ** 20);
  assert.equal(parseByteSize("unlimited", "--x"), null);
  for (const bad of ["", "0", "-1", "1XB", "1e9", "GiB", "99999999999999999TiB"]) {
    assert.throws(() => parseByteSize(bad, "--x"), ConfigError, bad);
  }
});
