/**
 * `@dust-tt/client` 1.2.8 against the space and knowledge routes Dust keeps for its system key:
 * a space's conversations, conversation ids and Pod files (`getSpaceConversationsForDataSource`,
 * `getSpaceConversationIds`, `getSpaceProjectFiles`), folders (`upsertFolder`, `deleteFolder`),
 * and data source views (`searchDataSourceViews`, `patchDataSourceView`), each with a user
 * token and an API key where it applies, with the refusals and bad input.
 * The SDK validates each answer with its own zod schemas: `isOk()` proves the shape.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor } from "../helpers/local_mcp.ts";
import {
  actorOf,
  createFolder,
  createPod,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { filesCreate } from "../../src/core/file_system.ts";

async function setup() {
  const server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const key = await createApiKey(server, alice.workspace);
  const sdk = (token: string) => dustApiFor(server, token, alice.workspace.sId);
  return { server, alice, bob, key, sdk };
}

Deno.test("[sdk] getSpaceConversationsForDataSource, getSpaceConversationIds, getSpaceProjectFiles: a Pod's readers; others 404", async () => {
  const { server, alice, bob, key, sdk } = await setup();
  await using _ = server;
  const pod = await createPod(server, actorOf(alice), "Launch");
  const api = sdk(alice.token);
  const created = await api.createConversation({
    title: "Pod talk",
    visibility: "unlisted",
    spaceId: pod,
    contentFragment: { title: "notes", content: "some notes", contentType: "text/plain" },
    message: {
      content: "Plan the launch",
      mentions: [],
      context: { username: "alice", timezone: "UTC" },
    },
  });
  assert.ok(created.isOk(), JSON.stringify(created.isErr() && created.error));
  const cId = created.value.conversation.sId;
  await filesCreate(server.deps, actorOf(alice), {
    scope: { type: "pod", pod_id: pod },
    path: `pod-${pod}/docs/plan.md`,
    content: "# Plan",
    content_type: "text/markdown",
  });

  const conversations = await api.getSpaceConversationsForDataSource({ spaceId: pod });
  assert.ok(conversations.isOk(), JSON.stringify(conversations.isErr() && conversations.error));
  const [c] = conversations.value.conversations;
  assert.equal(c.sId, cId);
  assert.equal(c.title, "Pod talk");
  assert.match(c.url, new RegExp(cId));
  assert.equal(c.content.length, 1);
  const um = c.content[0];
  assert.equal(um.type, "user_message");
  assert.equal(um.type === "user_message" && um.content, "Plan the launch");
  assert.equal(um.type === "user_message" && um.contentFragments[0].title, "notes");
  const later = await api.getSpaceConversationsForDataSource({
    spaceId: pod,
    updatedSince: Date.now() + 60_000,
  });
  assert.deepEqual(later.isOk() && later.value.conversations, []);

  const ids = await api.getSpaceConversationIds({ spaceId: pod });
  assert.ok(ids.isOk(), JSON.stringify(ids.isErr() && ids.error));
  assert.deepEqual(ids.value.conversationIds, [cId]);

  const files = await api.getSpaceProjectFiles({ spaceId: pod });
  assert.ok(files.isOk(), JSON.stringify(files.isErr() && files.error));
  assert.deepEqual(files.value.files.map((f) => [f.isDirectory, f.path]), [
    [true, `pod-${pod}/docs`],
    [false, `pod-${pod}/docs/plan.md`],
  ]);
  const file = files.value.files[1];
  assert.equal(!file.isDirectory && file.contentType, "text/markdown");
  assert.equal(!file.isDirectory && file.sizeBytes, 6);

  // Not a member of the Pod; API keys read no Pod: the same answer as a missing space.
  for (const token of [bob.token, key]) {
    for (
      const r of [
        await sdk(token).getSpaceConversationsForDataSource({ spaceId: pod }),
        await sdk(token).getSpaceConversationIds({ spaceId: pod }),
        await sdk(token).getSpaceProjectFiles({ spaceId: pod }),
      ]
    ) {
      assert.ok(r.isErr());
      assert.equal(r.error.type, "space_not_found");
    }
  }
  // A space that is not a Pod has no project files; its conversations are none.
  const gs = await globalSpaceSId(server, alice.workspace);
  const notPod = await sdk(key).getSpaceProjectFiles({ spaceId: gs });
  assert.ok(notPod.isErr());
  assert.equal(notPod.error.type, "invalid_request_error");
  const none = await sdk(key).getSpaceConversationIds({ spaceId: gs });
  assert.deepEqual(none.isOk() && none.value.conversationIds, []);
  const badSince = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/spaces/${pod}/conversations?updatedSince=yesterday`,
  );
  assert.equal(badSince.status, 400);
});

Deno.test("[sdk] upsertFolder and deleteFolder: folders of a data source for its space's writers; documents under a folder are found through it", async () => {
  const { server, alice, bob, key, sdk } = await setup();
  await using _ = server;
  const gs = await globalSpaceSId(server, alice.workspace);
  const ds = await createFolder(server, actorOf(alice), gs, "handbook");
  const folder = {
    dataSourceId: ds,
    folderId: "hr",
    timestamp: 1_700_000_000_000,
    title: "HR",
    parentId: null,
    parents: ["hr"],
    mimeType: "application/vnd.dust.folder",
    sourceUrl: null,
    providerVisibility: null,
  };
  for (const token of [alice.token, key]) {
    const r = await sdk(token).upsertFolder(folder);
    assert.ok(r.isOk(), JSON.stringify(r.isErr() && r.error));
    assert.deepEqual(r.value.folder, {
      data_source_id: ds,
      folder_id: "hr",
      title: "HR",
      parents: ["hr"],
      timestamp: 1_700_000_000_000,
    });
    assert.equal(r.value.data_source.sId, ds);
  }
  const child = await sdk(key).upsertFolder({
    ...folder,
    folderId: "hr/leave",
    title: "Leave",
    parentId: "hr",
    parents: ["hr/leave", "hr"],
  });
  assert.ok(child.isOk(), JSON.stringify(child.isErr() && child.error));
  const wId = alice.workspace.sId;
  const got = await apiJson(
    server,
    bob.token,
    `/api/v1/w/${wId}/spaces/${gs}/data_sources/${ds}/folders/${encodeURIComponent("hr/leave")}`,
  );
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.deepEqual(got.body.folder.parents, ["hr/leave", "hr"]);

  // A document filed under the folder is found by searching within it.
  await putDocument(
    server,
    actorOf(alice),
    { spaceId: gs, dataSourceId: ds },
    "policy",
    "Holiday policy",
    {
      parents: ["policy", "hr/leave", "hr"],
    },
  );
  await putDocument(
    server,
    actorOf(alice),
    { spaceId: gs, dataSourceId: ds },
    "menu",
    "Holiday menu",
  );
  const inFolder = await apiJson(
    server,
    bob.token,
    `/api/v1/w/${wId}/spaces/${gs}/data_sources/${ds}/search?query=holiday&parents_in=hr`,
  );
  assert.deepEqual(inFolder.body.documents.map((d: { document_id: string }) => d.document_id), [
    "policy",
  ]);

  // Refusals and Dust's body rules.
  const member = await sdk(bob.token).upsertFolder({ ...folder, folderId: "x", parents: ["x"] });
  assert.ok(member.isErr(), "a plain member does not write the global space");
  assert.equal(member.error.type, "data_source_auth_error");
  const wrongFirst = await sdk(key).upsertFolder({ ...folder, parents: ["other"] });
  assert.ok(wrongFirst.isErr());
  assert.equal(wrongFirst.error.type, "invalid_request_error");
  const wrongParent = await sdk(key).upsertFolder({
    ...folder,
    parentId: "a",
    parents: ["hr", "b"],
  });
  assert.ok(wrongParent.isErr());
  assert.equal(wrongParent.error.type, "invalid_request_error");
  const unknown = await sdk(key).upsertFolder({ ...folder, dataSourceId: "dts_unknown" });
  assert.ok(unknown.isErr());
  assert.equal(unknown.error.type, "data_source_not_found");
  const noTitle = await apiJson(server, key, `/api/v1/w/${wId}/data_sources/${ds}/folders/y`, {
    method: "POST",
    body: { timestamp: 1, mime_type: "x/y" },
  });
  assert.equal(noTitle.status, 400);

  const refused = await sdk(bob.token).deleteFolder({ dataSourceId: ds, folderId: "hr" });
  assert.ok(refused.isErr());
  assert.equal(refused.error.type, "data_source_auth_error");
  const deleted = await sdk(alice.token).deleteFolder({ dataSourceId: ds, folderId: "hr" });
  assert.ok(deleted.isOk(), JSON.stringify(deleted.isErr() && deleted.error));
  assert.deepEqual(deleted.value, { folder: { folder_id: "hr" } });
  const again = await sdk(key).deleteFolder({ dataSourceId: ds, folderId: "hr" });
  assert.ok(again.isOk(), "deleting a missing folder answers the same");
  const gone = await apiJson(server, key, `/api/v1/w/${wId}/data_sources/${ds}/folders/hr`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.type, "data_source_error");
});

Deno.test("[sdk] searchDataSourceViews and patchDataSourceView: filters, parentsIn narrows the view's search, builders only", async () => {
  const { server, alice, bob, key, sdk } = await setup();
  await using _ = server;
  const gs = await globalSpaceSId(server, alice.workspace);
  const handbook = await createFolder(server, actorOf(alice), gs, "handbook");
  const wiki = await createFolder(server, actorOf(alice), gs, "wiki");
  const where = { spaceId: gs, dataSourceId: handbook };
  await putDocument(server, actorOf(alice), where, "a", "Alpha report", { parents: ["a", "f1"] });
  await putDocument(server, actorOf(alice), where, "b", "Beta report", { parents: ["b", "f2"] });

  for (const token of [bob.token, key]) {
    const all = await sdk(token).searchDataSourceViews(
      new URLSearchParams({ vaultKind: "global" }),
    );
    assert.ok(all.isOk(), JSON.stringify(all.isErr() && all.error));
    assert.deepEqual(all.value.map((v) => v.dataSource.sId).sort(), [handbook, wiki].sort());
  }
  const one = await sdk(key).searchDataSourceViews(
    new URLSearchParams({ dataSourceId: handbook, vaultId: gs, kind: "default" }),
  );
  assert.ok(one.isOk());
  assert.equal(one.value.length, 1);
  const view = one.value[0];
  assert.equal(view.parentsIn, null);
  const custom = await sdk(key).searchDataSourceViews(new URLSearchParams({ kind: "custom" }));
  assert.deepEqual(custom.isOk() && custom.value, []);

  const viewSearch = async () =>
    (await apiJson(
      server,
      bob.token,
      `/api/v1/w/${alice.workspace.sId}/spaces/${gs}/data_source_views/${view.sId}/search?query=report`,
    )).body.documents.map((d: { document_id: string }) => d.document_id).sort();
  assert.deepEqual(await viewSearch(), ["a", "b"]);

  const patched = await sdk(alice.token).patchDataSourceView(view, { parentsIn: ["f1"] });
  assert.ok(patched.isOk(), JSON.stringify(patched.isErr() && patched.error));
  assert.deepEqual(patched.value.parentsIn, ["f1"]);
  assert.deepEqual(await viewSearch(), ["a"]);
  const added = await sdk(key).patchDataSourceView(view, {
    parentsToAdd: ["f2"],
    parentsToRemove: ["f1"],
  });
  assert.ok(added.isOk(), JSON.stringify(added.isErr() && added.error));
  assert.deepEqual(added.value.parentsIn, ["f2"]);
  assert.deepEqual(await viewSearch(), ["b"]);
  const got = await apiJson(
    server,
    bob.token,
    `/api/v1/w/${alice.workspace.sId}/spaces/${gs}/data_source_views/${view.sId}`,
  );
  assert.deepEqual(got.body.dataSourceView.parentsIn, ["f2"]);

  const member = await sdk(bob.token).patchDataSourceView(view, { parentsIn: [] });
  assert.ok(member.isErr());
  assert.equal(member.error.type, "workspace_auth_error");
  const missing = await sdk(key).patchDataSourceView({ ...view, sId: "dsv_unknown" }, {
    parentsIn: [],
  });
  assert.ok(missing.isErr());
  assert.equal(missing.error.type, "data_source_view_not_found");
  const bad = await apiJson(
    server,
    key,
    `/api/v1/w/${alice.workspace.sId}/spaces/${gs}/data_source_views/${view.sId}`,
    { method: "PATCH", body: { parentsIn: "f1" } },
  );
  assert.equal(bad.status, 400);
  const badQuery = await apiJson(
    server,
    key,
    `/api/v1/w/${alice.workspace.sId}/data_source_views/search?kind=${"k".repeat(40)}`,
  );
  assert.equal(badQuery.status, 400);
});
