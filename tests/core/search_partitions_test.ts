/**
 * Finding 3 of issue 10 (a term oracle across tenants and spaces): no ranking figure a member
 * sees may depend on content of another workspace, or of a space the member cannot read.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createFolder,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { searchDataSource, searchWorkspace } from "../../src/core/search.ts";
import { checkSearchIndex } from "../../src/core/search_index.ts";
import { deleteDocument } from "../../src/core/documents.ts";
import { addSpaceMember, createSpace } from "../../src/core/spaces.ts";
import type { UserActor } from "../../src/auth/actor.ts";
import { openDb } from "../../src/db/sqlite.ts";
import { migrate, MIGRATIONS } from "../../src/db/migrate.ts";
import { createUser, toUserRef } from "../../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../../src/core/workspaces.ts";
import { listWorkspaceSpaces } from "../../src/core/space_rows.ts";

/** Two workspaces; in the first, an admin, a plain member and a "Handbook" of 12 documents. */
async function setup(server: TestServer) {
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = actorOf(alice);
  const handbook = { spaceId: await globalSpaceSId(server, alice.workspace), dataSourceId: "" };
  handbook.dataSourceId = await createFolder(server, a, handbook.spaceId, "Handbook");
  // Enough other documents that the probe word is rare (bm25's idf stays positive).
  for (let i = 0; i < 11; i++) {
    await putDocument(server, a, handbook, `filler-${i}`, `filler text number ${i} about nothing`);
  }
  await putDocument(server, a, handbook, "probe", "a quokka on the probe line");
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const e = actorOf(eve);
  const eveSpace = { spaceId: await globalSpaceSId(server, eve.workspace), dataSourceId: "" };
  eveSpace.dataSourceId = await createFolder(server, e, eveSpace.spaceId, "Eve");
  for (let i = 0; i < 11; i++) await putDocument(server, e, eveSpace, `eve-${i}`, `eve notes ${i}`);
  await putDocument(server, e, eveSpace, "eve-probe", "a wombat on eve's probe line");
  return { alice, a, b: actorOf(bob), handbook, e, eveSpace };
}

async function probeScore(server: TestServer, actor: UserActor, word: string, id: string) {
  const r = await searchWorkspace(server.deps, actor, { query: word, topK: 64 });
  const hit = r.results.find((x) => x.id === id);
  assert.ok(hit, `${id} is found by ${word}`);
  return hit.score;
}

Deno.test("[search] no statistic crosses a boundary: another workspace's documents leave a member's scores unchanged", async () => {
  await using server = await startTestServer();
  const { b, handbook, e, eveSpace } = await setup(server);
  const before = await probeScore(server, b, "quokka", "probe");
  const beforeDs = (await searchDataSource(server.deps, b, { ...handbook, query: "quokka" }))
    .documents[0].chunks[0].score;
  for (let i = 0; i < 8; i++) {
    await putDocument(server, e, eveSpace, `eve-q${i}`, `quokka quokka sightings ${i}`);
  }
  assert.equal(await probeScore(server, b, "quokka", "probe"), before);
  const afterDs = (await searchDataSource(server.deps, b, { ...handbook, query: "quokka" }))
    .documents[0].chunks[0].score;
  assert.equal(afterDs, beforeDs);
});

Deno.test("[search] no statistic crosses a boundary: an unreadable restricted space leaves a member's scores unchanged, and other workspaces' too", async () => {
  await using server = await startTestServer();
  const { alice, a, b, e } = await setup(server);
  const before = await probeScore(server, b, "quokka", "probe");
  const eveBefore = await probeScore(server, e, "wombat", "eve-probe");
  const legalId = await createRestrictedSpace(server, a, "Legal", [alice.user.sId]);
  const legal = {
    spaceId: legalId,
    dataSourceId: await createFolder(server, a, legalId, "Contracts"),
  };
  for (let i = 0; i < 8; i++) {
    await putDocument(server, a, legal, `c${i}`, `quokka wombat clause ${i}`);
  }
  // Bob does not read Legal: his figures do not move. Eve (another workspace) neither.
  assert.equal(await probeScore(server, b, "quokka", "probe"), before);
  assert.equal(await probeScore(server, e, "wombat", "eve-probe"), eveBefore);
  // Alice reads Legal: she finds its documents as well as the probe.
  const ids = (await searchWorkspace(server.deps, a, { query: "quokka", topK: 64 })).results
    .map((r) => r.id);
  assert.ok(ids.includes("probe") && ids.includes("c0"));
});

Deno.test({
  name:
    "[search] a space turned restricted takes its documents out of the open partition, and back",
  // SQLite's FTS5 partitions only: PostgreSQL ranks with no corpus statistics, nothing moves.
  ignore: testEngine() === "postgres",
  fn: async () => {
    await using server = await startTestServer();
    const { alice, a, b, handbook } = await setup(server);
    const before = await probeScore(server, b, "quokka", "probe");
    const wikiId = (await createSpace(server.deps, a, { kind: "regular", name: "Wiki" })).sId;
    const wiki = { spaceId: wikiId, dataSourceId: await createFolder(server, a, wikiId, "Pages") };
    await addSpaceMember(server.deps, a, { spaceId: wikiId, userId: alice.user.sId });
    for (let i = 0; i < 8; i++) {
      await putDocument(server, a, wiki, `w${i}`, `quokka wiki page ${i}`);
    }
    // Open: Bob reads the wiki, and its words count in his figures.
    const open = await probeScore(server, b, "quokka", "probe");
    assert.notEqual(open, before);
    // No operation changes a space's restriction yet: a direct write stands in for the future one
    // (the schema's trigger queues the space; the next search moves its documents first).
    const restrict = async (v: number) =>
      await server.deps.db.run("UPDATE spaces SET is_restricted = ? WHERE s_id = ?", v, wikiId);
    await restrict(1);
    assert.equal(await probeScore(server, b, "quokka", "probe"), before);
    const aliceIds = (await searchWorkspace(server.deps, a, { query: "quokka", topK: 64 })).results
      .map((r) => r.id);
    assert.ok(aliceIds.includes("w0") && aliceIds.includes("probe"), "Alice still finds both");
    assert.equal(
      (await searchDataSource(server.deps, a, { ...wiki, query: "quokka" })).documents.length,
      8,
    );
    await restrict(0);
    assert.equal(await probeScore(server, b, "quokka", "probe"), open);
    assert.equal(
      (await searchDataSource(server.deps, b, { ...handbook, query: "quokka" })).documents.length,
      1,
    );
    assert.equal(await checkSearchIndex(server.deps.db), "ok");
  },
});

Deno.test({
  name:
    "[search] documents deleted by a cascade leave their partition's index (freed chunk ids reused safely)",
  // SQLite's FTS5 partitions only: PostgreSQL ranks with no corpus statistics, nothing moves.
  ignore: testEngine() === "postgres",
  fn: async () => {
    await using server = await startTestServer();
    const { a, b, handbook } = await setup(server);
    const before = await probeScore(server, b, "quokka", "probe");
    const extra = {
      spaceId: handbook.spaceId,
      dataSourceId: await createFolder(server, a, handbook.spaceId, "Extra"),
    };
    for (let i = 0; i < 8; i++) await putDocument(server, a, extra, `x${i}`, `quokka extra ${i}`);
    assert.notEqual(await probeScore(server, b, "quokka", "probe"), before);
    // No operation deletes a data source yet: a direct delete cascades to its documents, whose
    // chunk ids (the highest) the next upsert reuses.
    await server.deps.db.run("DELETE FROM data_sources WHERE s_id = ?", extra.dataSourceId);
    await putDocument(server, a, handbook, "late", "a quokka came late");
    assert.equal(await checkSearchIndex(server.deps.db), "ok");
    const ids = (await searchWorkspace(server.deps, b, { query: "quokka", topK: 64 })).results
      .map((r) => r.id).sort();
    assert.deepEqual(ids, ["late", "probe"]);
    await deleteDocument(server.deps, a, { ...handbook, documentId: "late" });
    assert.equal(await probeScore(server, b, "quokka", "probe"), before);
    assert.equal(await checkSearchIndex(server.deps.db), "ok");
  },
});

/** A data directory at schema version 3 (one shared FTS5 table), with two workspaces' documents. */
async function legacyDataDir() {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-test-" });
  const db = openDb(join(dataDir, "dust-mcp.db"));
  try {
    await migrate(db, MIGRATIONS.filter((m) => m.version <= 3));
    const t = Date.now();
    const seed = async (email: string, docs: [string, string, boolean][]) => {
      const user = await createUser(db, { email, name: email, password: null });
      const ws = await createWorkspace(db, { name: email, adminUserId: user.id });
      const global = (await listWorkspaceSpaces(db, ws.id)).find((s) => s.kind === "global")!;
      const restricted = await db.get(
        `INSERT INTO spaces (s_id, workspace_id, name, kind, is_restricted, created_at, updated_at)
         VALUES (?, ?, 'Legal', 'regular', 1, ?, ?) RETURNING id`,
        `vlt_legal${ws.id}`,
        ws.id,
        t,
        t,
      ) as { id: number };
      for (const [docId, text, secret] of docs) {
        const spaceId = secret ? restricted.id : global.id;
        const ds = await db.get(
          `INSERT INTO data_sources (s_id, view_s_id, workspace_id, space_id, name, created_at,
             updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          `dts_${docId}`,
          `dsv_${docId}`,
          ws.id,
          spaceId,
          docId,
          t,
          t,
        ) as { id: number };
        const doc = await db.get(
          `INSERT INTO documents (workspace_id, data_source_id, document_id, text, timestamp, hash,
             text_size, chunk_count, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'h', ?, 1, ?, ?) RETURNING id`,
          ws.id,
          ds.id,
          docId,
          text,
          t,
          text.length,
          t,
          t,
        ) as { id: number };
        await db.run(
          `INSERT INTO document_chunks (document_row_id, chunk_index, "offset", text, hash)
           VALUES (?, 0, 0, ?, 'h')`,
          doc.id,
          text,
        );
      }
      return { user, ws };
    };
    const first = await seed("old@example.com", [
      ["probe", "a quokka on the probe line", false],
      ["filler", "filler text about nothing", false],
      ["secret", "quokka quokka secret", true],
    ]);
    await seed("other@example.com", [["theirs", "quokka elsewhere", false]]);
    return { dataDir, ...first };
  } finally {
    await db.close();
  }
}

Deno.test({
  name: "[search] content indexed before partitions is re-indexed into them at start",
  // SQLite's FTS5 partitions only: PostgreSQL ranks with no corpus statistics, nothing moves.
  ignore: testEngine() === "postgres",
  fn: async () => {
    const legacy = await legacyDataDir();
    try {
      await using server = await startTestServer({ dataDir: legacy.dataDir });
      const db = server.deps.db;
      assert.equal(
        await db.get("SELECT 1 FROM sqlite_schema WHERE name = 'document_chunks_fts'"),
        undefined,
      );
      assert.equal(await checkSearchIndex(db), "ok");
      // Two workspaces' open spaces and one restricted space: three partitions.
      const partitions = await db.get("SELECT count(*) AS n FROM search_partitions") as {
        n: number;
      };
      assert.equal(partitions.n, 3);
      const admin: UserActor = {
        kind: "user",
        user: toUserRef(legacy.user),
        workspace: toWorkspaceRef(legacy.ws),
        role: "admin",
        scopes: new Set(["read", "write"]),
        credential: { kind: "personal_token", id: "pat_test" },
      };
      const ids = (await searchWorkspace(server.deps, admin, { query: "quokka" })).results
        .map((r) => r.id);
      assert.deepEqual(ids.sort(), ["probe"]); // not a member of Legal; never another workspace's
    } finally {
      await Deno.remove(legacy.dataDir, { recursive: true });
    }
  },
});

Deno.test("[search] filters stay exact when other data sources of the partition outrank ours (widening, then full scan)", async () => {
  await using server = await startTestServer();
  const { a, handbook } = await setup(server);
  await putDocument(
    server,
    a,
    handbook,
    "ours",
    "one zebra among " + "many other words ".repeat(40),
  );
  const loud = {
    spaceId: handbook.spaceId,
    dataSourceId: await createFolder(server, a, handbook.spaceId, "Loud"),
  };
  const ours = async () =>
    (await searchDataSource(server.deps, a, { ...handbook, query: "zebra" })).documents
      .map((d) => d.document_id);
  // 100 stronger matches in the same partition: found by widening the candidate set once.
  for (let i = 0; i < 100; i++) await putDocument(server, a, loud, `z${i}`, "zebra zebra zebra");
  assert.deepEqual(await ours(), ["ours"]);
  // 700: more than the widened candidate sets hold, so the filtered full query runs.
  for (let i = 100; i < 700; i++) await putDocument(server, a, loud, `z${i}`, "zebra zebra zebra");
  assert.deepEqual(await ours(), ["ours"]);
});
