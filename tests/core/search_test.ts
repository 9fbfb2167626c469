import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createFolder,
  createPod,
  createRestrictedSpace,
  globalSpaceSId,
  keyActorOf,
  putDocument,
} from "../helpers/knowledge.ts";
import {
  buildMatchQuery,
  fetchDocument,
  NO_DATA_SOURCES_MESSAGE,
  parseRelativeTimeFrame,
  searchDataSource,
  searchWorkspace,
} from "../../src/core/search.ts";
import { CHUNK_CHARS, CHUNK_OVERLAP, chunkText, deleteDocument } from "../../src/core/documents.ts";
import { AppError } from "../../src/errors.ts";

async function setup(server: TestServer) {
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = actorOf(alice);
  const spaceId = await globalSpaceSId(server, alice.workspace);
  const dataSourceId = await createFolder(server, a, spaceId, "Handbook");
  return { alice, bob, a, b: actorOf(bob), where: { spaceId, dataSourceId } };
}

Deno.test("[search] buildMatchQuery quotes word tokens only and drops stopwords", () => {
  assert.equal(buildMatchQuery("What is the Budget for Q3?"), '"budget" OR "q3"');
  assert.equal(buildMatchQuery("the"), '"the"');
  assert.equal(buildMatchQuery('"*NEAR( AND - : ^'), '"near"');
  assert.equal(buildMatchQuery("***"), "");
  assert.equal(buildMatchQuery("Café naïve"), '"café" OR "naïve"');
});

Deno.test("[search] relative time frames: all, hours, days, weeks, months, years; bad ones refused", () => {
  const at = 1_000_000_000_000;
  assert.equal(parseRelativeTimeFrame("all", at), null);
  assert.equal(parseRelativeTimeFrame(undefined, at), null);
  assert.equal(parseRelativeTimeFrame("2h", at), at - 2 * 3_600_000);
  assert.equal(parseRelativeTimeFrame("7d", at), at - 7 * 86_400_000);
  assert.equal(parseRelativeTimeFrame("1w", at), at - 7 * 86_400_000);
  assert.equal(parseRelativeTimeFrame("1m", at), at - 30 * 86_400_000);
  assert.equal(parseRelativeTimeFrame("1y", at), at - 365 * 86_400_000);
  for (const bad of ["7", "d", "7x", "-1d", "1.5d"]) {
    assert.throws(() => parseRelativeTimeFrame(bad, at), AppError);
  }
});

Deno.test("[search] chunking: ~2,000-char chunks with overlap, cut at whitespace, offsets exact", () => {
  const words = Array.from({ length: 2000 }, (_, i) => `word${i}`).join(" ");
  const chunks = chunkText(words);
  assert.ok(chunks.length > 3);
  for (const c of chunks) {
    assert.ok(c.text.length <= CHUNK_CHARS);
    assert.equal(words.slice(c.offset, c.offset + c.text.length), c.text);
  }
  for (let i = 1; i < chunks.length; i++) {
    const prevEnd = chunks[i - 1].offset + chunks[i - 1].text.length;
    assert.equal(prevEnd - chunks[i].offset, CHUNK_OVERLAP);
    assert.ok(/\s$/.test(chunks[i - 1].text), "cut after whitespace");
  }
  assert.equal(chunks.at(-1)!.offset + chunks.at(-1)!.text.length, words.length);
  assert.deepEqual(chunkText(""), []);
  assert.equal(chunkText("x".repeat(5000)).length, 3); // no whitespace: hard cuts
});

Deno.test("[search] ranks the document that is most about the query first and groups chunks per document", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  await putDocument(
    server,
    a,
    where,
    "mention",
    "The roadmap mentions kubernetes once among many other topics.",
  );
  await putDocument(
    server,
    a,
    where,
    "focus",
    "Kubernetes kubernetes kubernetes: our kubernetes cluster guide.",
    {
      title: "Cluster guide",
      tags: ["infra"],
    },
  );
  await putDocument(server, a, where, "other", "Nothing relevant here.");
  const r = await searchWorkspace(server.deps, a, { query: "kubernetes" });
  assert.equal(r.count, 2);
  assert.deepEqual(r.results.map((x) => x.id), ["focus", "mention"]);
  const top = r.results[0];
  assert.equal(top.title, "Cluster guide");
  assert.equal(top.dataSourceId, where.dataSourceId);
  assert.match(top.dataSourceViewId, /^dsv_/);
  assert.deepEqual(top.tags, ["infra"]);
  assert.equal(top.chunks.length, 1);
  assert.match(top.snippet, /kubernetes/i);
  assert.equal(top.ref.length, 3);
  assert.notEqual(top.ref, r.results[1].ref);
  assert.ok(top.score > r.results[1].score);
  assert.match(top.uri, new RegExp(`/data_sources/${where.dataSourceId}/documents/focus$`));
});

Deno.test("[search] filters: tagsIn, tagsNot, relativeTimeFrame, nodeIds (document or parent), spaceIds, topK", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  const old = Date.now() - 40 * 86_400_000;
  await putDocument(server, a, where, "d1", "quarterly report alpha", {
    tags: ["finance"],
    parents: ["d1", "folder-x"],
  });
  await putDocument(server, a, where, "d2", "quarterly report beta", {
    tags: ["hr"],
    timestamp: old,
  });
  await putDocument(server, a, where, "d3", "quarterly report gamma", {
    tags: ["finance", "draft"],
  });
  const ids = async (extra: object) =>
    (await searchWorkspace(server.deps, a, { query: "quarterly", ...extra })).results.map((r) =>
      r.id
    ).sort();
  assert.deepEqual(await ids({}), ["d1", "d2", "d3"]);
  assert.deepEqual(await ids({ tagsIn: ["finance"] }), ["d1", "d3"]);
  assert.deepEqual(await ids({ tagsNot: ["draft"] }), ["d1", "d2"]);
  assert.deepEqual(await ids({ relativeTimeFrame: "30d" }), ["d1", "d3"]);
  assert.deepEqual(await ids({ nodeIds: ["d2"] }), ["d2"]);
  assert.deepEqual(await ids({ nodeIds: ["folder-x"] }), ["d1"]);
  assert.deepEqual(
    await ids({ spaceIds: ["vlt_unknown"] }).catch((e) => e.message),
    NO_DATA_SOURCES_MESSAGE,
  );
  assert.equal((await searchWorkspace(server.deps, a, { query: "quarterly", topK: 1 })).count, 1);
  for (const topK of [0, 65, 1.5]) {
    await assert.rejects(() => searchWorkspace(server.deps, a, { query: "x", topK }), AppError);
  }
});

Deno.test("[search] FTS5 syntax in user input never raises an error", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  await putDocument(
    server,
    a,
    where,
    "doc",
    'near and or not column: star* quote" paren( minus-sign',
  );
  const nasty = [
    '"',
    '""',
    '"unterminated',
    "*",
    "star*",
    "NEAR(",
    "NEAR(a b, 2)",
    "AND",
    "a AND",
    "OR OR",
    "NOT",
    "-",
    "-minus",
    ":",
    "text:near",
    "^",
    "(",
    ")",
    "{a b}",
    "a + b",
    "\u0000",
    "'; DROP TABLE documents; --",
    "x".repeat(5000),
    Array(100).fill("term").join(" "),
  ];
  for (const q of nasty) {
    const r = await searchWorkspace(server.deps, a, { query: q });
    assert.ok(Array.isArray(r.results), q);
    await searchDataSource(server.deps, a, { ...where, query: q });
  }
  assert.equal((await searchWorkspace(server.deps, a, { query: "NEAR(" })).count, 1);
});

Deno.test("[search] isolation: another workspace's documents are never returned", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  await putDocument(server, a, where, "secret", "zebra migration plan");
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const e = actorOf(eve);
  const eveWhere = { spaceId: await globalSpaceSId(server, eve.workspace), dataSourceId: "" };
  eveWhere.dataSourceId = await createFolder(server, e, eveWhere.spaceId, "Eve");
  await putDocument(server, e, eveWhere, "mine", "nothing about animals");
  assert.equal((await searchWorkspace(server.deps, e, { query: "zebra" })).count, 0);
  assert.equal(
    (await searchWorkspace(server.deps, keyActorOf(eve.workspace), { query: "zebra" })).count,
    0,
  );
  await assert.rejects(
    () => searchDataSource(server.deps, e, { ...where, query: "zebra" }),
    (err: AppError) => err.status === 404 && err.type === "space_not_found",
  );
  await assert.rejects(
    async () => await fetchDocument(server.deps, e, { id: "secret" }),
    (err: AppError) => err.status === 404,
  );
});

Deno.test("[search] isolation: restricted spaces and Pods are searched only by their members", async () => {
  await using server = await startTestServer();
  const { alice, a, b, where } = await setup(server);
  await putDocument(server, a, where, "public", "walrus public note");
  const restricted = await createRestrictedSpace(server, a, "Legal", [alice.user.sId]);
  const legal = {
    spaceId: restricted,
    dataSourceId: await createFolder(server, a, restricted, "Contracts"),
  };
  await putDocument(server, a, legal, "contract", "walrus contract");
  const pod = await createPod(server, a, "Walrus Pod");
  const podWhere = { spaceId: pod, dataSourceId: await createFolder(server, a, pod, "Pod notes") };
  await putDocument(server, a, podWhere, "podnote", "walrus pod note");
  const idsFor = async (actor: typeof a | Awaited<ReturnType<typeof keyActorOf>>) =>
    (await searchWorkspace(server.deps, actor, { query: "walrus" })).results.map((r) => r.id)
      .sort();
  assert.deepEqual(await idsFor(a), ["contract", "podnote", "public"]);
  assert.deepEqual(await idsFor(b), ["public"]);
  assert.deepEqual(await idsFor(keyActorOf(alice.workspace)), ["public"]);
  await assert.rejects(
    () => searchDataSource(server.deps, b, { ...legal, query: "walrus" }),
    (err: AppError) => err.type === "space_not_found",
  );
  await assert.rejects(
    async () => await fetchDocument(server.deps, b, { id: "contract" }),
    (err: AppError) => err.status === 404,
  );
});

Deno.test("[search] no data source in any readable space → Dust's error text", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  await assert.rejects(
    () => searchWorkspace(server.deps, actorOf(alice), { query: "anything" }),
    (e: AppError) => e.message === NO_DATA_SOURCES_MESSAGE,
  );
});

Deno.test("[search] data source search: Dust's document shape, full_text, timestamps, wrong space → data_source_not_found", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  await putDocument(server, a, where, "doc", "penguin facts", { timestamp: 1_000 });
  const r = await searchDataSource(server.deps, a, { ...where, query: "penguin", fullText: true });
  assert.equal(r.documents.length, 1);
  const d = r.documents[0];
  assert.equal(d.document_id, "doc");
  assert.equal(d.data_source_id, where.dataSourceId);
  assert.equal(d.text, "penguin facts");
  assert.equal(d.chunks[0].text, "penguin facts");
  assert.equal(typeof d.chunks[0].score, "number");
  assert.equal(d.chunk_count, 1);
  assert.equal(
    (await searchDataSource(server.deps, a, { ...where, query: "penguin" })).documents[0].text,
    null,
  );
  assert.equal(
    (await searchDataSource(server.deps, a, { ...where, query: "penguin", timestampGt: 1_000 }))
      .documents.length,
    0,
  );
  assert.equal(
    (await searchDataSource(server.deps, a, { ...where, query: "penguin", timestampLt: 1_001 }))
      .documents.length,
    1,
  );
  const pod = await createPod(server, a, "Elsewhere");
  await assert.rejects(
    () =>
      searchDataSource(server.deps, a, {
        spaceId: pod,
        dataSourceId: where.dataSourceId,
        query: "penguin",
      }),
    (e: AppError) => e.status === 404 && e.type === "data_source_not_found",
  );
});

Deno.test("[search] fetchDocument returns the full text by search id; deleted documents disappear from search", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  const text = "ocelot " + "lorem ipsum ".repeat(500);
  await putDocument(server, a, where, "big", text, { title: "Big one" });
  const hit = (await searchWorkspace(server.deps, a, { query: "ocelot" })).results[0];
  const doc = await fetchDocument(server.deps, a, { id: hit.id });
  assert.equal(doc.text, text);
  assert.equal(doc.title, "Big one");
  assert.equal(doc.metadata.dataSourceId, where.dataSourceId);
  assert.equal(
    (await fetchDocument(server.deps, a, { id: `${where.dataSourceId}/big` })).text,
    text,
  );
  await deleteDocument(server.deps, a, { ...where, documentId: "big" });
  assert.equal((await searchWorkspace(server.deps, a, { query: "ocelot" })).count, 0);
  assert.equal((await searchWorkspace(server.deps, a, { query: "lorem" })).count, 0);
});

Deno.test("[search] re-upserting a document replaces its index (old words are gone)", async () => {
  // Every search on a worker (its own connection), not inline on the server's.
  await using server = await startTestServer({ flags: { "search-inline-max-chunks": "0" } });
  const { a, where } = await setup(server);
  await putDocument(server, a, where, "doc", "first version mentions llama");
  await putDocument(server, a, where, "doc", "second version mentions alpaca");
  assert.equal((await searchWorkspace(server.deps, a, { query: "llama" })).count, 0);
  assert.equal((await searchWorkspace(server.deps, a, { query: "alpaca" })).count, 1);
  assert.ok(server.deps.searchWorkers.workerCount >= 1, "searches ran on a worker");
});

Deno.test("[search] isolation holds when another workspace's matches outrank ours (widening, then full scan)", async () => {
  await using server = await startTestServer();
  const { a, where } = await setup(server);
  await putDocument(server, a, where, "ours", "one zebra among " + "many other words ".repeat(40));
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const e = actorOf(eve);
  const eveWhere = { spaceId: await globalSpaceSId(server, eve.workspace), dataSourceId: "" };
  eveWhere.dataSourceId = await createFolder(server, e, eveWhere.spaceId, "Eve");
  // 100 stronger matches: found by widening the candidate set once.
  for (let i = 0; i < 100; i++) {
    await putDocument(server, e, eveWhere, `z${i}`, "zebra zebra zebra");
  }
  let r = await searchWorkspace(server.deps, a, { query: "zebra" });
  assert.deepEqual(r.results.map((x) => x.id), ["ours"]);
  // 700 stronger matches: more than the widened candidate sets hold, so the full query runs.
  for (let i = 100; i < 700; i++) {
    await putDocument(server, e, eveWhere, `z${i}`, "zebra zebra zebra");
  }
  r = await searchWorkspace(server.deps, a, { query: "zebra" });
  assert.deepEqual(r.results.map((x) => x.id), ["ours"]);
  assert.equal((await searchWorkspace(server.deps, e, { query: "zebra", topK: 64 })).count, 64);
});
