/**
 * Dust's node search, `POST /api/v1/w/{wId}/search` (`@dust-tt/client` `searchNodes`): title or
 * id lookup over the documents of every readable space, as `DataSourceContentNode`s.
 */
import assert from "node:assert/strict";
import { DustAPI } from "@dust-tt/client";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createFolder,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";

const quiet = { error() {}, info() {}, trace() {}, warn() {} };

async function setup() {
  const server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(server, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "handbook");
  const where = { spaceId: gs, dataSourceId: ds };
  await putDocument(server, actorOf(admin), where, "q3", "numbers", { title: "Quarterly report" });
  await putDocument(server, actorOf(admin), where, "arch", "old", { title: "Report archive" });
  await putDocument(server, actorOf(admin), where, "misc", "misc", { title: "Other notes" });
  await putDocument(server, actorOf(admin), where, "pct", "x", { title: "100% done" });
  const secret = await createRestrictedSpace(server, actorOf(admin), "Secret", [admin.user.sId]);
  const sds = await createFolder(server, actorOf(admin), secret, "vault");
  await putDocument(server, actorOf(admin), { spaceId: secret, dataSourceId: sds }, "s1", "x", {
    title: "Secret report",
  });
  const outsider = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const ogs = await globalSpaceSId(server, outsider.workspace);
  const ods = await createFolder(server, actorOf(outsider), ogs, "theirs");
  await putDocument(server, actorOf(outsider), { spaceId: ogs, dataSourceId: ods }, "o1", "x", {
    title: "Report of another workspace",
  });
  const sdk = (token: string) =>
    new DustAPI({ url: server.url }, { apiKey: token, workspaceId: admin.workspace.sId }, quiet);
  return { server, admin, member, gs, ds, secret, sdk };
}

const body = (extra: Record<string, unknown>) => ({
  viewType: "all",
  spaceIds: [],
  includeDataSources: false,
  limit: 25,
  ...extra,
});

Deno.test("[sdk] searchNodes() parses: title matches in readable spaces only, titles starting with the query first", async () => {
  const { server, member, gs, ds, sdk } = await setup();
  await using _ = server;
  const r = await sdk(member.token).searchNodes({
    query: "REPORT",
    viewType: "all",
    spaceIds: [],
    includeDataSources: false,
    limit: 10,
  });
  assert.ok(r.isOk(), r.isErr() ? JSON.stringify(r.error) : "");
  assert.deepEqual(r.value.map((n) => n.title), ["Report archive", "Quarterly report"]);
  const [node] = r.value;
  assert.equal(node.internalId, "arch");
  assert.equal(node.type, "document");
  assert.equal(node.expandable, false);
  assert.equal(node.dataSource.sId, ds);
  assert.deepEqual(node.dataSourceViews.map((v) => v.spaceId), [gs]);
});

Deno.test("[api/search] POST search: nodeIds, includeDataSources, viewType, spaceIds, limit, literal wildcards, on a worker", async () => {
  const { server, admin, member, gs, ds, secret } = await setup();
  await using _ = server;
  const url = `/api/v1/w/${admin.workspace.sId}/search`;
  const post = async (token: string, extra: Record<string, unknown>) => {
    const r = await apiJson(server, token, url, { method: "POST", body: body(extra) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.nodes as { internalId: string; type: string; mimeType: string }[];
  };
  const ids = (nodes: { internalId: string }[]) => nodes.map((n) => n.internalId);
  assert.deepEqual(ids(await post(member.token, { nodeIds: ["misc", "s1", "o1"] })), ["misc"]);
  const withSources = await post(member.token, { query: "hand", includeDataSources: true });
  assert.deepEqual(withSources.map((n) => [n.internalId, n.type, n.mimeType]), [
    [ds, "folder", "application/vnd.dust.datasource"],
  ]);
  assert.deepEqual(await post(member.token, { query: "report", viewType: "table" }), []);
  assert.deepEqual(await post(member.token, { query: "report", spaceIds: [secret] }), []);
  assert.deepEqual(ids(await post(admin.token, { query: "report", spaceIds: [secret] })), ["s1"]);
  assert.deepEqual(ids(await post(member.token, { query: "report", spaceIds: [gs], limit: 1 })), [
    "arch",
  ]);
  assert.deepEqual(ids(await post(member.token, { query: "%" })), ["pct"], "% is literal");
  const key = await createApiKey(server, admin.workspace);
  assert.deepEqual(ids(await post(key, { query: "report" })), ["arch", "q3"], "a key: global");
  assert.ok(server.deps.searchWorkers.workerCount >= 1, "the title scan ran on a search worker");
});

Deno.test("[api/search] POST search: bad bodies answer 400 naming the field", async () => {
  const { server, admin } = await setup();
  await using _ = server;
  const url = `/api/v1/w/${admin.workspace.sId}/search`;
  const cases: [Record<string, unknown>, RegExp][] = [
    [body({}), /^query: give exactly one of query and nodeIds/],
    [body({ query: "a", nodeIds: ["x"] }), /^query: give exactly one/],
    [body({ query: "" }), /^query: /],
    [body({ query: "a", limit: 0 }), /^limit: /],
    [body({ query: "a", limit: 101 }), /^limit: /],
    [body({ query: "a", viewType: "everything" }), /^viewType: /],
    [body({ nodeIds: [] }), /^nodeIds: /],
  ];
  for (const [b, message] of cases) {
    const r = await apiJson(server, admin.token, url, { method: "POST", body: b });
    assert.equal(r.status, 400, JSON.stringify(b));
    assert.equal(r.body.error.type, "invalid_request_error");
    assert.match(r.body.error.message, message, JSON.stringify(b));
  }
});

Deno.test("[sdk] searchUnified() streams Dust's knowledgeResults frame; the cursor pages; JSON search is unchanged", async () => {
  const { server, admin, member, ds, sdk } = await setup();
  await using _ = server;
  type Chunk = {
    knowledgeResults?: {
      nodes: { title: string; type: string }[];
      nextPageCursor: string | null;
      resultsCount: number | null;
    };
  };
  const collect = async (
    params: Parameters<Awaited<ReturnType<typeof sdk>>["searchUnified"]>[0],
  ) => {
    const r = await sdk(member.token).searchUnified(params);
    assert.ok(r.isOk(), r.isErr() ? JSON.stringify(r.error) : "");
    const chunks: Chunk[] = [];
    for await (const chunk of r.value.eventStream) chunks.push(chunk as Chunk);
    return chunks;
  };
  const first = await collect({ query: "report", limit: 1 });
  assert.equal(first.length, 1, "one frame, then the stream ends");
  const page1 = first[0].knowledgeResults!;
  assert.deepEqual(page1.nodes.map((n) => n.title), ["Report archive"]);
  assert.equal(page1.nextPageCursor, "1");
  const [{ knowledgeResults: page2 }] = await collect({ query: "report", limit: 1, cursor: "1" });
  assert.deepEqual(page2!.nodes.map((n) => n.title), ["Quarterly report"]);
  const [{ knowledgeResults: last }] = await collect({ query: "report", limit: 5, cursor: "2" });
  assert.deepEqual(last!.nodes, []);
  assert.equal(last!.nextPageCursor, null);
  const sources = await collect({ query: "hand", includeDataSources: true });
  assert.deepEqual(sources[0].knowledgeResults!.nodes.map((n) => n.type), ["folder"]);
  const tables = await collect({ query: "report", viewType: "tables", includeDataSources: false });
  assert.deepEqual(tables[0].knowledgeResults!.nodes, []);

  const json = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${admin.workspace.sId}/search?query=numbers`,
  );
  assert.equal(json.status, 200, "without Accept: text/event-stream, the JSON full-text search");
  assert.deepEqual(json.body.results.map((r: { dataSourceId: string }) => r.dataSourceId), [ds]);
  const bad = await fetch(`${server.url}/api/v1/w/${admin.workspace.sId}/search?query=a&cursor=x`, {
    headers: { Authorization: `Bearer ${member.token}`, Accept: "text/event-stream" },
  });
  const body = await bad.json();
  assert.equal(bad.status, 400, "bad parameters answer before any SSE byte");
  assert.match(body.error.message, /^cursor: /);
});
