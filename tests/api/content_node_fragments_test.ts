/**
 * Content fragments by content node (`{ title, nodeId, nodeDataSourceViewId }`, Dust's third
 * fragment shape): a document the caller reads is attached as a copy of its text (a file
 * fragment of the conversation); an unreadable or unknown node answers 404 and stores nothing.
 */
import assert from "node:assert/strict";
import { DustAPI } from "@dust-tt/client";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, bearer, createUserWithToken } from "../helpers/fixtures.ts";
import { holdAgentRuns } from "../helpers/conversations.ts";
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
  holdAgentRuns(server);
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(server, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const viewOf = async (dsId: string) =>
    (await server.deps.db.get("SELECT view_s_id FROM data_sources WHERE s_id = ?", dsId) as {
      view_s_id: string;
    }).view_s_id;
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "handbook");
  await putDocument(
    server,
    actorOf(admin),
    { spaceId: gs, dataSourceId: ds },
    "leave",
    "Take 25 days.",
    {
      title: "Leave policy",
    },
  );
  const secret = await createRestrictedSpace(server, actorOf(admin), "Secret", [admin.user.sId]);
  const sds = await createFolder(server, actorOf(admin), secret, "vault");
  await putDocument(server, actorOf(admin), { spaceId: secret, dataSourceId: sds }, "s1", "hidden");
  const url = `/api/v1/w/${admin.workspace.sId}/assistant/conversations`;
  const conversation = await apiJson(server, member.token, url, {
    method: "POST",
    body: { title: "nodes" },
  });
  const cId = conversation.body.conversation.sId as string;
  return { server, admin, member, url, cId, view: await viewOf(ds), secretView: await viewOf(sds) };
}

Deno.test("[conversations] a content node fragment attaches a copy of a readable document (SDK parses it)", async () => {
  const { server, admin, member, cId, view } = await setup();
  await using _ = server;
  const sdk = new DustAPI(
    { url: server.url },
    { apiKey: member.token, workspaceId: admin.workspace.sId },
    quiet,
  );
  const r = await sdk.postContentFragment({
    conversationId: cId,
    contentFragment: { title: "Leave policy", nodeId: "leave", nodeDataSourceViewId: view },
  });
  assert.ok(r.isOk(), r.isErr() ? JSON.stringify(r.error) : "");
  const fragment = r.value as { title: string; contentType: string; fileId?: string | null };
  assert.equal(fragment.title, "Leave policy");
  assert.equal(fragment.contentType, "text/plain");
  assert.ok(fragment.fileId, "stored as a conversation file");
  const res = await fetch(
    `${server.url}/api/v1/w/${admin.workspace.sId}/files/${fragment.fileId}?action=view`,
    { headers: bearer(member.token) },
  );
  assert.equal(await res.text(), "Take 25 days.");
});

Deno.test("[conversations] content node fragments: unreadable or unknown nodes answer 404 and store nothing; bad shapes 400", async () => {
  const { server, member, url, cId, view, secretView } = await setup();
  await using _ = server;
  const post = (body: Record<string, unknown>) =>
    apiJson(server, member.token, `${url}/${cId}/content_fragments`, { method: "POST", body });
  const files = async () =>
    (await server.deps.db.get("SELECT count(*) AS n FROM files") as { n: number }).n;
  const before = await files();
  const hidden = await post({ title: "x", nodeId: "s1", nodeDataSourceViewId: secretView });
  assert.equal(hidden.status, 404, "a document of a space the member does not read");
  assert.equal(hidden.body.error.type, "data_source_not_found");
  const missing = await post({ title: "x", nodeId: "nope", nodeDataSourceViewId: view });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.type, "data_source_document_not_found");
  const noView = await post({ title: "x", nodeId: "leave" });
  assert.equal(noView.status, 400);
  assert.match(noView.body.error.message, /^body\.nodeDataSourceViewId: /);
  const both = await post({
    title: "x",
    nodeId: "leave",
    nodeDataSourceViewId: view,
    content: "a",
  });
  assert.equal(both.status, 400);
  assert.equal(await files(), before, "nothing stored");
});
