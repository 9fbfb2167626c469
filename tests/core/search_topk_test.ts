/**
 * Top-k for a common word without ranking every match (issue 15, item 3): a word in at least
 * COMMON_AT chunks is answered from its best chunks ranked once plus the chunks indexed since
 * (SQLite `core/search_topk.ts`, PostgreSQL `db/fulltext_postgres.ts`). The answer must be the
 * exhaustive one after inserts, deletes and a space's move, and filters and permissions apply
 * exactly as before.
 */
import assert from "node:assert/strict";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createFolder, globalSpaceSId, putDocument } from "../helpers/knowledge.ts";
import { searchWorkspace, workspaceSearchRequest } from "../../src/core/search.ts";
import { deleteDocument, upsertDocument } from "../../src/core/documents.ts";
import { runSearchQuery, type SearchHit, type SearchRequest } from "../../src/core/search_query.ts";
import { COMMON_AT } from "../../src/core/search_topk.ts";
import { runSearchQueryPostgres } from "../../src/db/fulltext_postgres.ts";
import { addSpaceMember, createSpace } from "../../src/core/spaces.ts";
import type { SqliteDb } from "../../src/db/sqlite.ts";
import type { UserActor } from "../../src/auth/actor.ts";

const WORD = "quokka";

/** Filler words so that documents differ in length; `WORD` 1–3 times. */
function text(i: number): string {
  const n = 5 + (i * 7919) % 40;
  const words = Array.from({ length: n }, (_, k) => `f${(i * 31 + k * 17) % 300}`);
  for (let k = 0; k < 1 + (i % 3); k++) words.splice((i + k * 5) % words.length, 0, WORD);
  return words.join(" ");
}

/** A workspace whose Handbook holds COMMON_AT + 200 documents that all mention WORD. */
async function setup(server: TestServer) {
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const a = actorOf(alice);
  const handbook = { spaceId: await globalSpaceSId(server, alice.workspace), dataSourceId: "" };
  handbook.dataSourceId = await createFolder(server, a, handbook.spaceId, "Handbook");
  await server.deps.db.tx(async () => {
    for (let i = 0; i < COMMON_AT + 200; i++) {
      await upsertDocument(server.deps, a, { ...handbook, documentId: `d${i}`, text: text(i) });
    }
  });
  return { alice, a, handbook };
}

/** The workspace search's chunks ranked exhaustively (every match), for comparison. */
async function exhaustive(server: TestServer, a: UserActor): Promise<SearchHit[]> {
  const deps = server.deps;
  const { request } = await workspaceSearchRequest(deps, a, { query: WORD, topK: 10 });
  const req: SearchRequest = { ...request!, exhaustive: true };
  return deps.db.engine === "postgres"
    ? await runSearchQueryPostgres(deps.db, req)
    : runSearchQuery((deps.db as SqliteDb).conn, req);
}

/** The product path's top 10 (document id and score per result) against exhaustive ranking. */
async function assertExact(server: TestServer, a: UserActor) {
  const got = (await searchWorkspace(server.deps, a, { query: WORD, topK: 10 })).results;
  const want = await exhaustive(server, a);
  const docs = new Map(
    (await server.deps.db.all(
      "SELECT id, document_id FROM documents WHERE id IN (SELECT value FROM json_each(?))",
      JSON.stringify(want.map((h) => h.documentRowId)),
    ) as { id: number; document_id: string }[]).map((d) => [d.id, d.document_id]),
  );
  assert.deepEqual(
    got.map((r) => [r.id, r.score]),
    want.map((h) => [docs.get(h.documentRowId), h.score]),
  );
  return got.map((r) => r.id);
}

Deno.test("[search_topk] a common word's top 10 is the exhaustive one after documents are added and deleted", async () => {
  await using server = await startTestServer();
  const { a, handbook } = await setup(server);
  await assertExact(server, a); // builds the word's list
  // New documents that outrank every listed one (short, the word 4 times): chunks indexed
  // after the list was built must be ranked too.
  for (let i = 0; i < 3; i++) {
    await putDocument(server, a, handbook, `new${i}`, `${WORD} ${WORD} ${WORD} ${WORD} n${i}`);
  }
  const top = await assertExact(server, a);
  assert.ok(top.includes("new0"), "a chunk newer than the list is found");
  // Deleted documents leave the answer.
  await deleteDocument(server.deps, a, { ...handbook, documentId: "new0" });
  await deleteDocument(server.deps, a, { ...handbook, documentId: top[3] });
  const after = await assertExact(server, a);
  assert.ok(!after.includes("new0") && !after.includes(top[3]));
  // A batch larger than the row-by-row lookups (one pass over the word's new range instead).
  await server.deps.db.tx(async () => {
    for (let i = 0; i < 80; i++) {
      const text = `${WORD} ${WORD} ${WORD} ${WORD} ${WORD} b${i}`;
      await upsertDocument(server.deps, a, { ...handbook, documentId: `batch${i}`, text });
    }
  });
  const batch = await assertExact(server, a);
  assert.ok(batch.every((id) => id.startsWith("batch")), "the batch outranks the rest");
  // A filter that lets few listed chunks through falls back to exhaustive ranking.
  const ranged = await searchWorkspace(server.deps, a, {
    query: WORD,
    topK: 10,
    tagsIn: ["none"],
  });
  assert.equal(ranged.count, 0);
});

Deno.test({
  name: "[search_topk] chunk ids are never reused: a chunk indexed after deleting the newest one",
  // SQLite numbers chunks itself (migration 0019); PostgreSQL's ids come from a sequence.
  ignore: testEngine() === "postgres",
  fn: async () => {
    await using server = await startTestServer();
    const { a, handbook } = await setup(server);
    await assertExact(server, a);
    const newest = async () =>
      (await server.deps.db.get("SELECT max(id) AS id FROM document_chunks") as { id: number }).id;
    await putDocument(server, a, handbook, "late", `${WORD} ${WORD} ${WORD} ${WORD} late`);
    const lateId = await newest();
    await assertExact(server, a);
    await deleteDocument(server.deps, a, { ...handbook, documentId: "late" });
    await putDocument(server, a, handbook, "later", `${WORD} ${WORD} ${WORD} ${WORD} later`);
    assert.ok(await newest() > lateId, "the freed id is not handed out again");
    assert.ok((await assertExact(server, a)).includes("later"));
  },
});

Deno.test({
  name: "[search_topk] a space that leaves the open partition and comes back is ranked again",
  // SQLite's partitions only (PostgreSQL has none: nothing moves).
  ignore: testEngine() === "postgres",
  fn: async () => {
    await using server = await startTestServer();
    const { alice, a } = await setup(server);
    const bob = actorOf(
      await createUserWithToken(server, {
        email: "bob@example.com",
        role: "user",
        workspace: alice.workspace,
      }),
    );
    const wikiId = (await createSpace(server.deps, a, { kind: "regular", name: "Wiki" })).sId;
    const wiki = { spaceId: wikiId, dataSourceId: await createFolder(server, a, wikiId, "Pages") };
    await addSpaceMember(server.deps, a, { spaceId: wikiId, userId: alice.user.sId });
    for (let i = 0; i < 3; i++) {
      await putDocument(server, a, wiki, `wiki${i}`, `${WORD} ${WORD} ${WORD} ${WORD} w${i}`);
    }
    const restrict = async (v: number) =>
      await server.deps.db.run("UPDATE spaces SET is_restricted = ? WHERE s_id = ?", v, wikiId);
    await restrict(1);
    // Bob's search builds the open partition's list without the wiki; he cannot see it.
    const hidden = (await searchWorkspace(server.deps, bob, { query: WORD, topK: 10 })).results;
    assert.ok(!hidden.some((r) => r.id.startsWith("wiki")));
    await assertExact(server, bob);
    // Back in the open partition with their old chunk ids: the list is void, they rank again.
    await restrict(0);
    const back = await assertExact(server, bob);
    assert.ok(back.includes("wiki0"), "chunks moved into the partition are ranked");
  },
});
