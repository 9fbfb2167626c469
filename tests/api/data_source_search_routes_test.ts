/**
 * Dust's other two ways to search one data source: through its data source view
 * (`spaces/{spaceId}/data_source_views/{dsvId}/search`) and by its id alone (the legacy
 * `data_sources/{dsId}/search`). Both answer exactly as the space route does.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createFolder,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";

Deno.test("[api/documents] search through a data source view and by data source id answers like the space route; unreadable ones 404", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(server, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const w = `/api/v1/w/${admin.workspace.sId}`;
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "handbook");
  await putDocument(
    server,
    actorOf(admin),
    { spaceId: gs, dataSourceId: ds },
    "d1",
    "alpha beta gamma",
  );
  await putDocument(
    server,
    actorOf(admin),
    { spaceId: gs, dataSourceId: ds },
    "d2",
    "unrelated words",
  );
  const secret = await createRestrictedSpace(server, actorOf(admin), "Secret", [admin.user.sId]);
  const sds = await createFolder(server, actorOf(admin), secret, "vault");
  await putDocument(server, actorOf(admin), { spaceId: secret, dataSourceId: sds }, "s1", "alpha");
  const view = async (id: string) =>
    (await server.deps.db.get("SELECT view_s_id FROM data_sources WHERE s_id = ?", id) as {
      view_s_id: string;
    }).view_s_id;

  const viaSpace = await apiJson(
    server,
    member.token,
    `${w}/spaces/${gs}/data_sources/${ds}/search?query=alpha`,
  );
  assert.equal(viaSpace.status, 200);
  const ids = (r: { body: { documents: { document_id: string }[] } }) =>
    r.body.documents.map((d) => d.document_id);
  assert.deepEqual(ids(viaSpace), ["d1"]);
  for (
    const path of [
      `${w}/spaces/${gs}/data_source_views/${await view(ds)}/search?query=alpha`,
      `${w}/data_sources/${ds}/search?query=alpha`,
    ]
  ) {
    for (const token of [member.token, await createApiKey(server, admin.workspace)]) {
      const r = await apiJson(server, token, path);
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.body, viaSpace.body, `${path}: the same answer`);
    }
  }
  const legacySecret = await apiJson(
    server,
    member.token,
    `${w}/data_sources/${sds}/search?query=alpha`,
  );
  assert.equal(legacySecret.status, 404);
  assert.equal(legacySecret.body.error.type, "data_source_not_found");
  const viewSecret = await apiJson(
    server,
    member.token,
    `${w}/spaces/${secret}/data_source_views/${await view(sds)}/search?query=alpha`,
  );
  assert.equal(viewSecret.status, 404);
  assert.equal(viewSecret.body.error.type, "space_not_found");
  const foreignView = await apiJson(
    server,
    admin.token,
    `${w}/spaces/${gs}/data_source_views/${await view(sds)}/search?query=alpha`,
  );
  assert.equal(foreignView.status, 404, "a view of another space");
  assert.equal(foreignView.body.error.type, "data_source_view_not_found");
});

Deno.test("[api/documents] data source search honours parents_not: documents with that id or under that parent are left out", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "handbook");
  const where = { spaceId: gs, dataSourceId: ds };
  await putDocument(server, actorOf(admin), where, "top", "alpha top");
  await putDocument(server, actorOf(admin), where, "in-a", "alpha in a", {
    parents: ["in-a", "dir-a"],
  });
  await putDocument(server, actorOf(admin), where, "in-b", "alpha in b", {
    parents: ["in-b", "dir-b"],
  });
  const search = async (qs: string) => {
    const r = await apiJson(
      server,
      admin.token,
      `/api/v1/w/${admin.workspace.sId}/spaces/${gs}/data_sources/${ds}/search?query=alpha${qs}`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.documents as { document_id: string }[]).map((d) => d.document_id).sort();
  };
  assert.deepEqual(await search(""), ["in-a", "in-b", "top"]);
  assert.deepEqual(await search("&parents_not=dir-a"), ["in-b", "top"]);
  assert.deepEqual(await search("&parents_not=dir-a&parents_not=top"), ["in-b"]);
  assert.deepEqual(await search("&parents_in=dir-b&parents_not=dir-a"), ["in-b"]);
});
