/**
 * Dust's own SDK (`@dust-tt/client` 1.2.8) against the file routes: `uploadFile` (create +
 * multipart upload to the absolute `uploadUrl`), `getFileContent`, `deleteFile`, and the
 * high-level `files.upload` / `files.delete`, with a user token and with an API key.
 */
import assert from "node:assert/strict";
import { DustAPI } from "@dust-tt/client";
import { startTestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createEmptyConversation,
  createFolder,
  createPod,
  globalSpaceSId,
} from "../helpers/knowledge.ts";

const quiet = { error() {}, info() {}, trace() {}, warn() {} };

function sdkFor(url: string, token: string, workspaceId: string): DustAPI {
  return new DustAPI({ url }, { apiKey: token, workspaceId }, quiet);
}

Deno.test("[sdk/files] uploadFile into a conversation, getFileContent, deleteFile", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const cId = await createEmptyConversation(server, actorOf(alice));
  const api = sdkFor(server.url, alice.token, alice.workspace.sId);
  const content = "name,score\nada,3\n";
  const fileObject = new File([content], "scores.csv", { type: "text/csv" });
  const up = await api.uploadFile({
    contentType: "text/csv",
    fileName: "scores.csv",
    fileSize: fileObject.size,
    useCase: "conversation",
    useCaseMetadata: { conversationId: cId },
    fileObject,
  });
  assert.ok(up.isOk(), up.isErr() ? String(up.error) : "");
  const file = up.value;
  assert.match(file.sId, /^fil_/);
  assert.equal(file.status, "ready");
  assert.equal(file.fileName, "scores.csv");
  assert.equal(file.fileSize, content.length);

  const got = await api.getFileContent({ fileId: file.sId });
  assert.ok(got.isOk());
  assert.equal(await got.value.text(), content);

  const del = await api.deleteFile({ fileID: file.sId });
  assert.ok(del.isOk());
  const again = await api.getFileContent({ fileId: file.sId });
  // The SDK does not check the status here: it hands back the error body as the blob.
  assert.ok(again.isOk());
  assert.equal(JSON.parse(await again.value.text()).error.type, "file_not_found");
});

Deno.test("[sdk/files] uploadFile errors come back as Dust error types", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const api = sdkFor(server.url, alice.token, alice.workspace.sId);
  const exe = new File([new Uint8Array(4)], "a.exe", { type: "application/x-msdownload" });
  const bad = await api.uploadFile({
    // The request type only allows supported types; a client can still send anything.
    contentType: "application/x-msdownload" as "text/plain",
    fileName: "a.exe",
    fileSize: exe.size,
    useCase: "conversation",
    fileObject: exe,
  });
  assert.ok(bad.isErr());
  assert.equal((bad.error as { type: string }).type, "file_type_not_supported");
  const img = new File([new Uint8Array(8)], "big.png", { type: "image/png" });
  const big = await api.uploadFile({
    contentType: "image/png",
    fileName: "big.png",
    fileSize: 6 * 1024 * 1024,
    useCase: "conversation",
    fileObject: img,
  });
  assert.ok(big.isErr());
  assert.equal((big.error as { type: string }).type, "file_too_large");
});

Deno.test("[sdk/files] the high-level files API uploads and deletes with an API key", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const key = await createApiKey(server, alice.workspace);
  const api = new DustAPI({
    workspaceId: alice.workspace.sId,
    apiKey: key,
    baseUrl: server.url,
    logger: quiet,
  });
  const info = await api.files.upload(
    new File(["# Notes\n"], "notes.md", { type: "text/markdown" }),
  );
  assert.match(info.id, /^fil_/);
  assert.equal(info.name, "notes.md");
  assert.equal(info.contentType, "text/markdown");
  assert.equal(info.size, 8);
  assert.equal(typeof info.uploadedAt, "number");
  await api.files.delete(info.id);
  const row = await server.deps.db.get("SELECT 1 FROM files WHERE s_id = ?", info.id);
  assert.equal(row, undefined);
});

Deno.test("[sdk/data_sources] getDataSources parses and lists only readable data sources", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = actorOf(alice);
  await createFolder(server, a, await globalSpaceSId(server, alice.workspace), "Handbook");
  const pod = await createPod(server, a, "Private");
  await createFolder(server, a, pod, "Pod notes");
  const mine = await sdkFor(server.url, alice.token, alice.workspace.sId).getDataSources();
  assert.ok(mine.isOk(), mine.isErr() ? JSON.stringify(mine.error) : "");
  assert.deepEqual(mine.value.map((d) => d.name).sort(), ["Handbook", "Pod notes"]);
  const his = await sdkFor(server.url, bob.token, alice.workspace.sId).getDataSources();
  assert.ok(his.isOk());
  assert.deepEqual(his.value.map((d) => d.name), ["Handbook"]);
});
