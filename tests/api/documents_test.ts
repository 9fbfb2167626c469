import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createPod, globalSpaceSId } from "../helpers/knowledge.ts";

async function setup(server: TestServer) {
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const user = await createUserWithToken(server, {
    email: "user@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const w = admin.workspace.sId;
  const spaceId = await globalSpaceSId(server, admin.workspace);
  const created = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${w}/spaces/${spaceId}/data_sources`,
    {
      method: "POST",
      body: { name: "Handbook", description: "Company handbook" },
    },
  );
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const dsId = created.body.data_source.sId as string;
  const base = `/api/v1/w/${w}/spaces/${spaceId}/data_sources/${dsId}`;
  return { admin, user, w, spaceId, dsId, base };
}

Deno.test("[api/documents] data sources: builders create, members list, users cannot create (403)", async () => {
  await using server = await startTestServer();
  const { admin, user, w, spaceId, dsId } = await setup(server);
  const list = await apiJson(server, user.token, `/api/v1/w/${w}/spaces/${spaceId}/data_sources`);
  assert.equal(list.status, 200);
  assert.equal(list.body.data_sources.length, 1);
  const ds = list.body.data_sources[0];
  assert.equal(ds.sId, dsId);
  assert.match(ds.dataSourceViewId, /^dsv_/);
  assert.equal(ds.connectorProvider, null);
  const denied = await apiJson(
    server,
    user.token,
    `/api/v1/w/${w}/spaces/${spaceId}/data_sources`,
    {
      method: "POST",
      body: { name: "Mine" },
    },
  );
  assert.equal(denied.status, 403);
  const dup = await apiJson(server, admin.token, `/api/v1/w/${w}/spaces/${spaceId}/data_sources`, {
    method: "POST",
    body: { name: "Handbook" },
  });
  assert.equal(dup.status, 409);
});

Deno.test("[api/documents] upsert → get → list (offset and cursor) → delete → 404", async () => {
  await using server = await startTestServer();
  const { admin, base } = await setup(server);
  for (let i = 0; i < 3; i++) {
    const r = await apiJson(server, admin.token, `${base}/documents/doc-${i}`, {
      method: "POST",
      body: { text: `document number ${i}`, title: `Doc ${i}`, tags: ["t"], timestamp: 1000 + i },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.document.document_id, `doc-${i}`);
    assert.equal(r.body.document.chunk_count, 1);
    assert.equal(r.body.data_source.name, "Handbook");
  }
  const got = await apiJson(server, admin.token, `${base}/documents/doc-1`);
  assert.equal(got.body.document.text, "document number 1");
  assert.equal(got.body.document.timestamp, 1001);
  assert.deepEqual(got.body.document.tags, ["t"]);

  const page1 = await apiJson(server, admin.token, `${base}/documents?limit=2`);
  assert.equal(page1.body.total, 3);
  assert.deepEqual(page1.body.documents.map((d: { document_id: string }) => d.document_id), [
    "doc-2",
    "doc-1",
  ]);
  const page2 = await apiJson(
    server,
    admin.token,
    `${base}/documents?limit=2&cursor=${page1.body.nextCursor}`,
  );
  assert.deepEqual(page2.body.documents.map((d: { document_id: string }) => d.document_id), [
    "doc-0",
  ]);
  assert.equal(page2.body.nextCursor, null);
  const byOffset = await apiJson(server, admin.token, `${base}/documents?limit=1&offset=2`);
  assert.equal(byOffset.body.documents[0].document_id, "doc-0");

  const del = await apiJson(server, admin.token, `${base}/documents/doc-1`, { method: "DELETE" });
  assert.deepEqual(del.body, { document: { document_id: "doc-1" } });
  const gone = await apiJson(server, admin.token, `${base}/documents/doc-1`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.type, "data_source_document_not_found");
});

Deno.test("[api/documents] document ids with slashes and spaces round-trip through the path", async () => {
  await using server = await startTestServer();
  const { admin, base } = await setup(server);
  const id = "notion/page 42?x";
  const put = await apiJson(server, admin.token, `${base}/documents/${encodeURIComponent(id)}`, {
    method: "POST",
    body: { text: "slashy" },
  });
  assert.equal(put.status, 200);
  assert.equal(put.body.document.document_id, id);
  const got = await apiJson(server, admin.token, `${base}/documents/${encodeURIComponent(id)}`);
  assert.equal(got.body.document.text, "slashy");
});

Deno.test("[api/documents] section bodies are flattened; light_document_output answers the light shape", async () => {
  await using server = await startTestServer();
  const { admin, base } = await setup(server);
  const r = await apiJson(server, admin.token, `${base}/documents/s`, {
    method: "POST",
    body: {
      section: {
        prefix: "Title",
        content: "intro",
        sections: [{ prefix: null, content: "child", sections: [] }],
      },
      light_document_output: true,
    },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body.document).sort(), [
    "chunk_count",
    "created",
    "hash",
    "text_size",
    "token_count",
  ]);
  const got = await apiJson(server, admin.token, `${base}/documents/s`);
  assert.equal(got.body.document.text, "Title\nintro\nchild");
  const none = await apiJson(server, admin.token, `${base}/documents/n`, {
    method: "POST",
    body: {},
  });
  assert.equal(none.status, 400);
  assert.match(none.body.error.message, /^text:/);
});

Deno.test("[api/documents] writes: members of the global space read but cannot write (403); API keys write", async () => {
  await using server = await startTestServer();
  const { admin, user, base } = await setup(server);
  const u = await apiJson(server, user.token, `${base}/documents/x`, {
    method: "POST",
    body: { text: "hi" },
  });
  assert.equal(u.status, 403);
  assert.equal(u.body.error.type, "data_source_auth_error");
  const key = await createApiKey(server, admin.workspace);
  const k = await apiJson(server, key, `${base}/documents/x`, {
    method: "POST",
    body: { text: "hi" },
  });
  assert.equal(k.status, 200);
  const read = await apiJson(server, user.token, `${base}/documents/x`);
  assert.equal(read.status, 200);
});

Deno.test("[api/documents] search with Dust's query parameters: top_k, tags_in (repeated), full_text, timestamps", async () => {
  await using server = await startTestServer();
  const { admin, base } = await setup(server);
  const put = (id: string, text: string, tags: string[], timestamp: number) =>
    apiJson(server, admin.token, `${base}/documents/${id}`, {
      method: "POST",
      body: { text, tags, timestamp },
    });
  await put("a", "orca whales orca", ["sea"], 10);
  await put("b", "orca sighting", ["report"], 20);
  await put("c", "dolphins", ["sea"], 30);
  const s = await apiJson(server, admin.token, `${base}/search?query=orca&top_k=5`);
  assert.equal(s.status, 200);
  assert.deepEqual(s.body.documents.map((d: { document_id: string }) => d.document_id), ["a", "b"]);
  assert.equal(s.body.documents[0].text, null);
  assert.equal(typeof s.body.documents[0].chunks[0].score, "number");
  const t = await apiJson(
    server,
    admin.token,
    `${base}/search?query=orca&tags_in=sea&tags_in=none&full_text=true`,
  );
  assert.deepEqual(t.body.documents.map((d: { document_id: string }) => d.document_id), ["a"]);
  assert.equal(t.body.documents[0].text, "orca whales orca");
  const n = await apiJson(server, admin.token, `${base}/search?query=orca&tags_not=sea`);
  assert.deepEqual(n.body.documents.map((d: { document_id: string }) => d.document_id), ["b"]);
  const ts = await apiJson(
    server,
    admin.token,
    `${base}/search?query=orca&timestamp_gt=15&timestamp_lt=25`,
  );
  assert.deepEqual(ts.body.documents.map((d: { document_id: string }) => d.document_id), ["b"]);
  for (const bad of ["top_k=0", "top_k=65", "top_k=abc", ""]) {
    const r = await apiJson(
      server,
      admin.token,
      `${base}/search?${bad}${bad ? "&" : ""}${bad === "" ? "" : "query=orca"}`,
    );
    assert.equal(r.status, 400, bad);
    assert.equal(r.body.error.type, "invalid_request_error");
  }
  const inject = await apiJson(
    server,
    admin.token,
    `${base}/search?query=${encodeURIComponent('"NEAR( orca* -x:y')}`,
  );
  assert.equal(inject.status, 200);
});

Deno.test("[api/documents] a data source addressed through another space → 404 data_source_not_found", async () => {
  await using server = await startTestServer();
  const { admin, w, dsId } = await setup(server);
  const pod = await createPod(server, actorOf(admin), "Other");
  const r = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${w}/spaces/${pod}/data_sources/${dsId}/documents`,
  );
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "data_source_not_found");
  const convSpace = await server.deps.db.get(
    "SELECT s_id FROM spaces WHERE kind = 'conversations' AND workspace_id = ?",
    admin.workspace.id,
  ) as { s_id: string };
  const c = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${w}/spaces/${convSpace.s_id}/data_sources`,
  );
  assert.equal(c.status, 404);
  assert.equal(c.body.error.type, "space_not_found");
});

Deno.test("[api/documents] isolation: another workspace's member gets 404 for the space and 401 with a foreign key", async () => {
  await using server = await startTestServer();
  const { base } = await setup(server);
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const foreignPath = base.replace(/\/w\/[^/]+\//, `/w/${eve.workspace.sId}/`);
  const r = await apiJson(server, eve.token, `${foreignPath}/documents`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "space_not_found");
  const k = await apiJson(server, await createApiKey(server, eve.workspace), `${base}/documents`);
  assert.equal(k.status, 401);
});

Deno.test("[api/search] workspace search mirrors the MCP output; fetch returns the full text", async () => {
  await using server = await startTestServer();
  const { admin, user, w, base } = await setup(server);
  await apiJson(server, admin.token, `${base}/documents/guide`, {
    method: "POST",
    body: {
      text: "The onboarding guide explains laptops and badges.",
      title: "Onboarding",
      tags: ["hr"],
    },
  });
  const s = await apiJson(
    server,
    user.token,
    `/api/v1/w/${w}/search?query=onboarding%20laptops&topK=3&tagsIn=hr`,
  );
  assert.equal(s.status, 200, JSON.stringify(s.body));
  assert.equal(s.body.count, 1);
  const r = s.body.results[0];
  for (
    const k of [
      "ref",
      "title",
      "uri",
      "id",
      "provider",
      "dataSourceId",
      "dataSourceViewId",
      "tags",
      "chunks",
    ]
  ) {
    assert.ok(k in r, k);
  }
  assert.equal(r.title, "Onboarding");
  const f = await apiJson(
    server,
    user.token,
    `/api/v1/w/${w}/fetch?id=${encodeURIComponent(r.id)}`,
  );
  assert.equal(f.status, 200);
  assert.equal(f.body.text, "The onboarding guide explains laptops and badges.");
  const bad = await apiJson(
    server,
    user.token,
    `/api/v1/w/${w}/search?query=x&relativeTimeFrame=7x`,
  );
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /relativeTimeFrame/);
  const missing = await apiJson(server, user.token, `/api/v1/w/${w}/fetch?id=nope`);
  assert.equal(missing.status, 404);
});

Deno.test("[api/documents] data_source_views of a space: one default folder view per data source", async () => {
  await using server = await startTestServer();
  const { user, w, spaceId, dsId } = await setup(server);
  const r = await apiJson(server, user.token, `/api/v1/w/${w}/spaces/${spaceId}/data_source_views`);
  assert.equal(r.status, 200);
  const [view] = r.body.data_source_views;
  assert.match(view.sId, /^dsv_/);
  assert.equal(view.kind, "default");
  assert.equal(view.category, "folder");
  assert.equal(view.spaceId, spaceId);
  assert.equal(view.dataSource.sId, dsId);
});
