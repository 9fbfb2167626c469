import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createEmptyConversation } from "../helpers/knowledge.ts";

async function upload(
  _server: TestServer,
  token: string,
  url: string,
  bytes: Uint8Array<ArrayBuffer>,
  name = "f.txt",
) {
  const form = new FormData();
  form.append("file", new File([bytes], name));
  const res = await fetch(url, { method: "POST", headers: bearer(token), body: form });
  return { status: res.status, body: await res.json() };
}

async function createFile(
  server: TestServer,
  token: string,
  wId: string,
  body: Record<string, unknown>,
) {
  return await apiJson(server, token, `/api/v1/w/${wId}/files`, { method: "POST", body });
}

Deno.test("[api/files] create → multipart upload → view → download → delete (204) → 404", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const wId = alice.workspace.sId;
  const cId = await createEmptyConversation(server, actorOf(alice));
  const bytes = new TextEncoder().encode("hello world");
  const created = await createFile(server, alice.token, wId, {
    contentType: "text/plain",
    fileName: "hello.txt",
    fileSize: bytes.length,
    useCase: "conversation",
    useCaseMetadata: { conversationId: cId },
  });
  assert.equal(created.status, 200);
  const file = created.body.file;
  assert.match(file.sId, /^fil_/);
  assert.equal(file.id, file.sId);
  assert.equal(file.status, "created");
  assert.equal(file.uploadUrl, `${server.config.publicUrl}/api/v1/w/${wId}/files/${file.sId}`);
  assert.equal(file.path, `conversation-${cId}/hello.txt`);
  assert.equal(file.downloadUrl, undefined);

  const up = await upload(server, alice.token, file.uploadUrl, bytes);
  assert.equal(up.status, 200);
  assert.equal(up.body.file.status, "ready");
  assert.equal(up.body.file.downloadUrl, `${file.uploadUrl}?action=download`);

  const view = await fetch(`${file.uploadUrl}?action=view`, { headers: bearer(alice.token) });
  assert.equal(view.status, 200);
  assert.equal(view.headers.get("content-type"), "text/plain");
  assert.match(view.headers.get("content-disposition")!, /^inline; filename="hello.txt"/);
  assert.equal(await view.text(), "hello world");
  const dl = await fetch(`${file.uploadUrl}?action=download`, { headers: bearer(alice.token) });
  assert.equal(dl.headers.get("content-type"), "application/octet-stream");
  assert.match(dl.headers.get("content-disposition")!, /^attachment;/);
  assert.equal(await dl.text(), "hello world");

  const del = await fetch(file.uploadUrl, { method: "DELETE", headers: bearer(alice.token) });
  assert.equal(del.status, 204);
  await del.body?.cancel();
  const gone = await apiJson(server, alice.token, `/api/v1/w/${wId}/files/${file.sId}?action=view`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.type, "file_not_found");
});

Deno.test("[api/files] view of an unsafe type (HTML) is forced to download, sandboxed", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const bytes = new TextEncoder().encode("<script>alert(1)</script>");
  const { body } = await createFile(server, alice.token, alice.workspace.sId, {
    contentType: "text/html",
    fileName: "x.html",
    fileSize: bytes.length,
    useCase: "conversation",
  });
  await upload(server, alice.token, body.file.uploadUrl, bytes);
  const res = await fetch(`${body.file.uploadUrl}?action=view`, { headers: bearer(alice.token) });
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  assert.match(res.headers.get("content-disposition")!, /^attachment;/);
  assert.match(res.headers.get("content-security-policy")!, /sandbox/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  await res.body?.cancel();
});

Deno.test("[api/files] unsupported type → 400 file_type_not_supported; too large → 400 file_too_large", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const base = { fileName: "x", useCase: "conversation" };
  const t = await createFile(server, alice.token, alice.workspace.sId, {
    ...base,
    contentType: "application/x-dosexec",
    fileSize: 1,
  });
  assert.equal(t.status, 400);
  assert.deepEqual(t.body.error, {
    type: "file_type_not_supported",
    message: 'Content type "application/x-dosexec" is not supported.',
  });
  const s = await createFile(server, alice.token, alice.workspace.sId, {
    ...base,
    contentType: "image/png",
    fileSize: 6 * 1024 * 1024,
  });
  assert.equal(s.status, 400);
  assert.equal(s.body.error.type, "file_too_large");
});

Deno.test("[api/files] bad bodies name the field: missing fileSize, negative size, overlong name", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const w = alice.workspace.sId;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ contentType: "text/plain", fileName: "a", useCase: "conversation" }, /fileSize/],
    [
      { contentType: "text/plain", fileName: "a", fileSize: -1, useCase: "conversation" },
      /fileSize/,
    ],
    [{
      contentType: "text/plain",
      fileName: "a".repeat(4097),
      fileSize: 1,
      useCase: "conversation",
    }, /fileName/],
  ];
  for (const [body, field] of cases) {
    const r = await createFile(server, alice.token, w, body);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.type, "invalid_request_error");
    assert.match(r.body.error.message, field);
  }
  const bad = await apiJson(server, alice.token, `/api/v1/w/${w}/files`, {
    method: "POST",
    rawBody: "{nope",
  });
  assert.equal(bad.status, 400);
});

Deno.test("[api/files] upload refuses non-multipart bodies, a missing field and a size mismatch", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { body } = await createFile(server, alice.token, alice.workspace.sId, {
    contentType: "text/plain",
    fileName: "a.txt",
    fileSize: 5,
    useCase: "conversation",
  });
  const url = body.file.uploadUrl;
  const raw = await fetch(url, {
    method: "POST",
    headers: { ...bearer(alice.token), "Content-Type": "text/plain" },
    body: "hello",
  });
  assert.equal(raw.status, 400);
  await raw.body?.cancel();
  const form = new FormData();
  form.append("other", "x");
  const missing = await fetch(url, { method: "POST", headers: bearer(alice.token), body: form });
  assert.equal(missing.status, 400);
  assert.match((await missing.json()).error.message, /^file:/);
  const short = await upload(server, alice.token, url, new Uint8Array(3));
  assert.equal(short.status, 400);
  const long = await upload(server, alice.token, url, new Uint8Array(9));
  assert.equal(long.status, 400);
  assert.equal(long.body.error.type, "file_too_large");
  const ok = await upload(server, alice.token, url, new Uint8Array(5));
  assert.equal(ok.status, 200);
});

Deno.test("[api/files] access: another member's unscoped file and another workspace's key answer 404/401", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const { body } = await createFile(server, alice.token, alice.workspace.sId, {
    contentType: "text/plain",
    fileName: "a.txt",
    fileSize: 1,
    useCase: "conversation",
  });
  const path = `/api/v1/w/${alice.workspace.sId}/files/${body.file.sId}?action=view`;
  const b = await apiJson(server, bob.token, path);
  assert.equal(b.status, 404);
  assert.equal(b.body.error.type, "file_not_found");
  const k = await apiJson(server, await createApiKey(server, eve.workspace), path);
  assert.equal(k.status, 401);
  const e = await apiJson(
    server,
    eve.token,
    `/api/v1/w/${eve.workspace.sId}/files/${body.file.sId}`,
  );
  assert.equal(e.status, 404);
  assert.equal(e.body.error.type, "file_not_found");
  const anon = await apiJson(server, null, path);
  assert.equal(anon.status, 401);
});

Deno.test("[api/files] an API key uploads and reads its own unscoped files", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const key = await createApiKey(server, alice.workspace);
  const { status, body } = await createFile(server, key, alice.workspace.sId, {
    contentType: "application/json",
    fileName: "d.json",
    fileSize: 2,
    useCase: "conversation",
  });
  assert.equal(status, 200);
  assert.equal(
    (await upload(server, key, body.file.uploadUrl, new TextEncoder().encode("{}"))).status,
    200,
  );
  const res = await fetch(`${body.file.uploadUrl}?action=view`, { headers: bearer(key) });
  assert.equal(await res.text(), "{}");
  // Users do not see a key's unscoped upload.
  const u = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/files/${body.file.sId}`,
  );
  assert.equal(u.status, 404);
});
