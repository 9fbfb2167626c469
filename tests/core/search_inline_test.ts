/**
 * Small searches run on the main thread (src/core/search_inline.ts), larger ones on the
 * search workers; both give the same answer.
 */
import assert from "node:assert/strict";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createFolder, globalSpaceSId, putDocument } from "../helpers/knowledge.ts";
import { searchWorkspace, workspaceSearchRequest } from "../../src/core/search.ts";
import type { SearchRequest } from "../../src/core/search_query.ts";
import type { UserActor } from "../../src/auth/actor.ts";
import { SearchWorkerPool } from "../../src/core/search_worker.ts";
import { dataPaths } from "../../src/server.ts";

/** The request `searchWorkspace` sends the pool for `query` over every readable space. */
async function requestOf(server: TestServer, a: UserActor, query: string): Promise<SearchRequest> {
  return (await workspaceSearchRequest(server.deps, a, { query, topK: 10 })).request!;
}

async function seed(server: TestServer, documents: number) {
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const a = actorOf(alice);
  const folder = { spaceId: await globalSpaceSId(server, alice.workspace), dataSourceId: "" };
  folder.dataSourceId = await createFolder(server, a, folder.spaceId, "Handbook");
  for (let i = 0; i < documents; i++) {
    const extra = i % 3 === 0 ? " The zeppelin policy applies." : "";
    await putDocument(server, a, folder, `doc-${i}`, `Document ${i} about travel.${extra}`);
  }
  return a;
}

Deno.test("[search inline] a small workspace is searched without a worker, with the workers' answer", async () => {
  await using server = await startTestServer();
  const a = await seed(server, 12);
  const pool = server.deps.searchWorkers;
  const before = pool.inlineCount;
  const r = await searchWorkspace(server.deps, a, { query: "zeppelin policy", topK: 10 });
  assert.equal(r.count, 4);
  if (testEngine() === "postgres") return; // the query runs in the database's processes there
  assert.equal(pool.inlineCount, before + 1, "answered inline");
  assert.equal(pool.workerCount, 0, "no worker was started");
  // The same search on a worker (a pool of its own, without the inline path) agrees.
  const workers = new SearchWorkerPool({ dbPath: dataPaths(server.config.dataDir).db, size: 1 });
  try {
    const request = await requestOf(server, a, "zeppelin policy");
    const inline = await pool.search(request);
    const onWorker = await workers.search(request);
    assert.ok(onWorker.length > 0);
    assert.deepEqual(inline, onWorker);
  } finally {
    workers.close();
  }
});

Deno.test("[search inline] partitions past --search-inline-max-chunks go to a worker", async () => {
  if (testEngine() === "postgres") return;
  await using server = await startTestServer({ flags: { "search-inline-max-chunks": "5" } });
  const a = await seed(server, 12);
  const pool = server.deps.searchWorkers;
  const before = pool.inlineCount;
  const r = await searchWorkspace(server.deps, a, { query: "zeppelin policy", topK: 10 });
  assert.equal(r.count, 4);
  assert.equal(pool.inlineCount, before, "not inline");
  assert.ok(pool.workerCount >= 1, "a worker ran it");
});
