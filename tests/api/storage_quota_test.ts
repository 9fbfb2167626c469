/**
 * Storage quotas (issue 10, finding 11: a `user` uploaded 250 MB in 2.5 s with no bound), over
 * the real server with small quotas: REST uploads, MCP `files_create`, content fragments and
 * document upserts are refused past the member's or the workspace's quota with a 413 (an
 * `isError` result on MCP); concurrent uploads cannot overshoot; deletes and cut uploads give
 * the bytes back; usage is visible to admins only.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  apiJson,
  bearer,
  createApiKey,
  createUserWithToken,
  type UserWithToken,
} from "../helpers/fixtures.ts";
import {
  actorOf,
  createEmptyConversation,
  createFolder,
  globalSpaceSId,
} from "../helpers/knowledge.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { connectV1, createMcpUser, errorOf, payloadOf } from "../mcp/helpers.ts";
import { readStorageCounters, sumStorageFromRows } from "../../src/core/storage_quota.ts";

const KiB = 1024;
const MiB = 1024 * 1024;
const BOUNDARY = "quotaBoundary5e1c";
const encoder = new TextEncoder();

/** A server whose quotas are small enough to reach in a test. */
function quotaServer(member: string, workspace: string) {
  return startTestServer({
    flags: { "storage-quota-member": member, "storage-quota-workspace": workspace },
  });
}

/** Members of one workspace: alice (admin), bob and carol (`user`). */
async function team(server: TestServer) {
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const member = (email: string) =>
    createUserWithToken(server, { email, role: "user", workspace: alice.workspace });
  return { alice, bob: await member("bob@example.com"), carol: await member("carol@example.com") };
}

function createFileRecord(server: TestServer, u: UserWithToken, size: number) {
  return apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/files`, {
    method: "POST",
    body: { contentType: "text/plain", fileName: "q.txt", fileSize: size, useCase: "conversation" },
  });
}

async function uploadBytes(url: string, token: string, size: number) {
  const form = new FormData();
  form.append("file", new File([new Uint8Array(size).fill(97)], "q.txt"));
  const res = await fetch(url, { method: "POST", headers: bearer(token), body: form });
  return { status: res.status, body: await res.json() };
}

/** Create a file record of `size` bytes and upload it; the upload's answer. */
async function storeFile(server: TestServer, u: UserWithToken, size: number) {
  const created = await createFileRecord(server, u, size);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const up = await uploadBytes(created.body.file.uploadUrl, u.token, size);
  return { ...up, url: created.body.file.uploadUrl as string };
}

function usage(server: TestServer, admin: UserWithToken) {
  return apiJson(server, admin.token, `/api/v1/w/${admin.workspace.sId}/storage`);
}

/** The counters equal the sums over the rows, and stay within the quotas. */
async function assertCountersExact(server: TestServer, u: UserWithToken) {
  const db = server.deps.db;
  assert.deepEqual(
    await readStorageCounters(db, u.workspace.id),
    await sumStorageFromRows(db, u.workspace.id),
  );
}

function assertQuotaError(
  r: { status: number; body: { error: { type: string; message: string; quota?: unknown } } },
  type: string,
  scope: "member" | "workspace",
) {
  assert.equal(r.status, 413, JSON.stringify(r.body).slice(0, 300));
  assert.equal(r.body.error.type, type);
  assert.match(r.body.error.message, /^Storage quota exceeded: /);
  assert.equal((r.body.error.quota as { scope: string }).scope, scope);
}

Deno.test("[quota] a member past the member quota gets 413 file_too_large on REST; another member still uploads up to the workspace quota, then everyone is refused", async () => {
  await using server = await quotaServer("1MiB", "2.5MiB");
  const { alice, bob, carol } = await team(server);
  for (let i = 0; i < 2; i++) assert.equal((await storeFile(server, bob, 400 * KiB)).status, 200);
  // Declared past the quota: refused before a byte is sent.
  assertQuotaError(await createFileRecord(server, bob, 400 * KiB), "file_too_large", "member");
  // A record created while there was room: its upload is refused once the room is gone.
  const early = await createFileRecord(server, bob, 200 * KiB);
  assert.equal((await storeFile(server, bob, 200 * KiB)).status, 200);
  assertQuotaError(
    await uploadBytes(early.body.file.uploadUrl, bob.token, 200 * KiB),
    "file_too_large",
    "member",
  );
  // Bob's quota is his: Carol has her own 1 MiB.
  assert.equal((await storeFile(server, carol, 900 * KiB)).status, 200);
  assert.equal((await storeFile(server, alice, 500 * KiB)).status, 200);
  // 1000 + 900 + 500 KiB stored: 160 KiB left in the workspace, though Alice has 524 left.
  assertQuotaError(await createFileRecord(server, alice, 200 * KiB), "file_too_large", "workspace");
  const key = await createApiKey(server, alice.workspace);
  assertQuotaError(
    await createFileRecord(server, { ...alice, token: key }, 200 * KiB),
    "file_too_large",
    "workspace",
  );
  assert.equal((await storeFile(server, alice, 150 * KiB)).status, 200);
  const u = await usage(server, alice);
  assert.equal(u.body.workspace.usedBytes, 2550 * KiB);
  assert.ok(u.body.workspace.usedBytes <= 2.5 * MiB);
  await assertCountersExact(server, alice);
});

Deno.test("[quota] MCP files_create past the member quota answers an isError result that names the quota, and writes nothing", async () => {
  await using server = await quotaServer("120KiB", "10MiB");
  const bob = await createMcpUser(server, { email: "bob@example.com", role: "user" });
  const cId = await createEmptyConversation(server, actorOf(bob));
  const scope = { type: "conversation", conversation_id: cId };
  await using client = await connectV1(server, bob.mcpToken);
  const write = (name: string, kb: number) =>
    client.callTool({
      name: "files_create",
      arguments: {
        scope,
        path: `conversation-${cId}/${name}`,
        content: "x".repeat(kb * KiB),
        content_type: "text/plain",
      },
    });
  payloadOf(await write("a.txt", 50));
  payloadOf(await write("b.txt", 50));
  const refused = errorOf(await write("c.txt", 40));
  assert.match(
    refused,
    /Storage quota exceeded: this write needs 40\.0 KiB but you have 20\.0 KiB left of the 120\.0 KiB each member may store/,
  );
  const listing = payloadOf<{ text: string }>(
    await client.callTool({ name: "files_list", arguments: { scope } }),
  );
  assert.doesNotMatch(listing.text, /c\.txt/);
  // Overwriting with less frees space; overwriting with the same size fits exactly.
  payloadOf(await write("a.txt", 10));
  payloadOf(await write("c.txt", 40));
  assert.equal(errorOf(await write("d.txt", 21)).startsWith("Storage quota exceeded"), true);
  await assertCountersExact(server, bob);
  assert.deepEqual(
    await readStorageCounters(server.deps.db, bob.workspace.id),
    [{ userId: bob.user.id, fileBytes: 100 * KiB, documentBytes: 0 }],
  );
});

Deno.test("[quota] concurrent uploads by one member cannot take it past its quota (bytes are reserved before they stream)", async () => {
  await using server = await quotaServer("1MiB", "10MiB");
  const { alice, bob } = await team(server);
  // Eight records fit one at a time (nothing is stored yet); together they are 2.4 MiB.
  const urls: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await createFileRecord(server, bob, 300 * KiB);
    assert.equal(r.status, 200);
    urls.push(r.body.file.uploadUrl);
  }
  const results = await Promise.all(urls.map((u) => uploadBytes(u, bob.token, 300 * KiB)));
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 413).length;
  assert.equal(ok, 3, JSON.stringify(results.map((r) => r.status)));
  assert.equal(refused, 5);
  const u = await usage(server, alice);
  assert.equal(u.body.workspace.usedBytes, 900 * KiB);
  assert.equal(u.body.workspace.reservedBytes, 0);
  await assertCountersExact(server, bob);
});

Deno.test("[quota] deleting a file or a document gives its bytes back", async () => {
  await using server = await quotaServer("1MiB", "10MiB");
  const { alice, bob } = await team(server);
  const first = await storeFile(server, bob, 700 * KiB);
  assert.equal(first.status, 200);
  assertQuotaError(await createFileRecord(server, bob, 400 * KiB), "file_too_large", "member");
  const del = await fetch(first.url, { method: "DELETE", headers: bearer(bob.token) });
  assert.equal(del.status, 204);
  await del.body?.cancel();
  assert.equal((await storeFile(server, bob, 400 * KiB)).status, 200);

  const spaceId = await globalSpaceSId(server, alice.workspace);
  const ds = await createFolder(server, actorOf(alice), spaceId, "handbook");
  const doc = (id: string) =>
    `/api/v1/w/${alice.workspace.sId}/spaces/${spaceId}/data_sources/${ds}/documents/${id}`;
  const put = (id: string, kb: number) =>
    apiJson(server, alice.token, doc(id), { method: "POST", body: { text: "d".repeat(kb * KiB) } });
  assert.equal((await put("big", 900)).status, 200);
  assertQuotaError(await put("more", 200), "data_source_quota_error", "member");
  const gone = await apiJson(server, alice.token, doc("big"), { method: "DELETE" });
  assert.equal(gone.status, 200);
  assert.equal((await put("more", 200)).status, 200);
  await assertCountersExact(server, alice);
});

Deno.test("[quota] document upserts count for their last writer: replacing with less is allowed, another member's replacement moves the bytes", async () => {
  await using server = await quotaServer("100KiB", "150KiB");
  const { alice } = await team(server);
  // Members write into the global space's folders as builders (access.ts, canWriteSpace).
  const bob = await createUserWithToken(server, {
    email: "bea@example.com",
    role: "builder",
    workspace: alice.workspace,
  });
  const spaceId = await globalSpaceSId(server, alice.workspace);
  const ds = await createFolder(server, actorOf(alice), spaceId, "notes");
  const put = (u: UserWithToken, id: string, kb: number, section = false) =>
    apiJson(
      server,
      u.token,
      `/api/v1/w/${u.workspace.sId}/spaces/${spaceId}/data_sources/${ds}/documents/${id}`,
      {
        method: "POST",
        body: section
          ? { section: { prefix: null, content: "s".repeat(kb * KiB), sections: [] } }
          : { text: "t".repeat(kb * KiB) },
      },
    );
  assert.equal((await put(alice, "a", 90)).status, 200);
  assertQuotaError(await put(alice, "b", 20), "data_source_quota_error", "member");
  assertQuotaError(await put(alice, "a", 101, true), "data_source_quota_error", "member");
  assert.equal((await put(alice, "a", 100)).status, 200, "a replacement counts only its growth");
  assert.equal((await put(alice, "a", 30)).status, 200);
  // Bob replaces Alice's 30 KiB with 60: the bytes become his; the workspace grows by 30.
  assert.equal((await put(bob, "a", 60)).status, 200);
  assert.deepEqual(
    await readStorageCounters(server.deps.db, alice.workspace.id),
    [{ userId: bob.user.id, fileBytes: 0, documentBytes: 60 * KiB }],
    "Alice's bytes are freed",
  );
  assert.equal((await put(alice, "b", 90)).status, 200);
  assertQuotaError(await put(alice, "c", 1), "data_source_quota_error", "workspace");
  await assertCountersExact(server, alice);
});

Deno.test("[quota] an inline content fragment past the quota is refused with 413 and leaves no conversation, file or blob", async () => {
  await using server = await quotaServer("600KiB", "10MiB");
  const { bob } = await team(server);
  assert.equal((await storeFile(server, bob, 300 * KiB)).status, 200);
  const post = (kb: number) =>
    apiJson(server, bob.token, `/api/v1/w/${bob.workspace.sId}/assistant/conversations`, {
      method: "POST",
      body: {
        title: "q",
        contentFragment: {
          title: "notes.txt",
          content: "f".repeat(kb * KiB),
          contentType: "text/plain",
        },
      },
    });
  assertQuotaError(await post(400), "file_too_large", "member");
  assert.equal((await post(200)).status, 200);
  assertQuotaError(await post(200), "file_too_large", "member");
  const convs = await server.deps.db.get("SELECT count(*) AS n FROM conversations") as {
    n: number;
  };
  assert.equal(convs.n, 1);
  const blobs = (await server.deps.files.listKeys()).keys.length;
  const rows = await server.deps.db.get(
    "SELECT count(*) AS n FROM files WHERE storage_key IS NOT NULL",
  ) as { n: number };
  assert.equal(blobs, rows.n, "every blob has its row");
  await assertCountersExact(server, bob);
});

/** A multipart upload body that sends `sent` bytes and then waits until `cut` is aborted. */
function stalledUpload(sent: number, cut: AbortSignal): ReadableStream<Uint8Array> {
  const head = encoder.encode(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="q.txt"\r\n` +
      "Content-Type: text/plain\r\n\r\n",
  );
  return new ReadableStream({
    start(controller) {
      controller.enqueue(head);
      controller.enqueue(new Uint8Array(sent).fill(97));
      cut.addEventListener("abort", () => controller.error(new Error("cut")), { once: true });
    },
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const v = await probe();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("[quota] an upload holds its bytes while it streams, and a cut upload gives them back", async () => {
  await using server = await quotaServer("1MiB", "10MiB");
  const { alice, bob } = await team(server);
  const held = await createFileRecord(server, bob, 800 * KiB);
  const other = await createFileRecord(server, bob, 300 * KiB);
  const cut = new AbortController();
  const pending = fetch(held.body.file.uploadUrl, {
    method: "POST",
    headers: { ...bearer(bob.token), "Content-Type": `multipart/form-data; boundary=${BOUNDARY}` },
    body: stalledUpload(100 * KiB, cut.signal),
    signal: cut.signal,
  }).then(async (r) => {
    await r.body?.cancel();
    return r.status;
  }, () => "cut");
  await waitFor(
    "the reservation",
    () => usage(server, alice),
    (u) => u.body.workspace.reservedBytes === 800 * KiB,
  );
  // While it streams, the reserved bytes count: a second upload that needs them is refused.
  assertQuotaError(
    await uploadBytes(other.body.file.uploadUrl, bob.token, 300 * KiB),
    "file_too_large",
    "member",
  );
  cut.abort();
  assert.equal(await pending, "cut");
  await waitFor(
    "the release",
    () => usage(server, alice),
    (u) => u.body.workspace.reservedBytes === 0,
  );
  assert.equal((await uploadBytes(other.body.file.uploadUrl, bob.token, 300 * KiB)).status, 200);
  const again = await uploadBytes(held.body.file.uploadUrl, bob.token, 800 * KiB);
  assertQuotaError(again, "file_too_large", "member");
  const ready = await storeFile(server, bob, 700 * KiB);
  assert.equal(ready.status, 200);
  await assertCountersExact(server, bob);
});

Deno.test("[quota] the usage endpoint answers workspace admins only, with the figures of the rows", async () => {
  await using server = await quotaServer("1MiB", "10MiB");
  const { alice, bob } = await team(server);
  const builder = await createUserWithToken(server, {
    email: "bea@example.com",
    role: "builder",
    workspace: alice.workspace,
  });
  const other = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  assert.equal((await storeFile(server, bob, 300 * KiB)).status, 200);
  assert.equal((await storeFile(server, alice, 100 * KiB)).status, 200);
  const path = `/api/v1/w/${alice.workspace.sId}/storage`;
  for (const token of [bob.token, builder.token, await createApiKey(server, alice.workspace)]) {
    const r = await apiJson(server, token, path);
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal(r.body.error.type, "workspace_auth_error");
  }
  assert.equal((await apiJson(server, other.token, path)).status, 401);
  const r = await apiJson(server, alice.token, path);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.quota, { memberBytes: MiB, workspaceBytes: 10 * MiB });
  assert.deepEqual(r.body.workspace, {
    fileBytes: 400 * KiB,
    documentBytes: 0,
    reservedBytes: 0,
    usedBytes: 400 * KiB,
  });
  assert.deepEqual(
    r.body.members.map((m: { user: { sId: string }; usedBytes: number }) => [
      m.user.sId,
      m.usedBytes,
    ]),
    [[bob.user.sId, 300 * KiB], [alice.user.sId, 100 * KiB]],
  );
  const page = await apiJson(server, alice.token, `${path}?limit=1`);
  assert.equal(page.body.members.length, 1);
  const next = await apiJson(server, alice.token, `${path}?limit=1&cursor=${page.body.nextCursor}`);
  assert.equal(next.body.members[0].user.sId, alice.user.sId);
  assert.equal(next.body.nextCursor, null);
});

Deno.test("[quota] the admin settings page shows the workspace's usage against its quotas; members are refused the page", async () => {
  await using server = await quotaServer("1MiB", "10MiB");
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const bob = await createPasswordUser(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const bobToken = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  assert.equal((await storeFile(server, bobToken, 512 * KiB)).status, 200);
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const page = await browser.get(`/w/${alice.workspace.sId}/settings`);
  assert.equal(page.status, 200);
  const used = /<p id="storage-used">([\s\S]*?)<\/p>/.exec(page.text)?.[1].replace(/\s+/g, " ");
  assert.match(used ?? "", /^512\.0 KiB used of 10\.0 MiB \(files 512\.0 KiB, documents 0 B/);
  assert.match(used ?? "", /Each member may store 1\.0 MiB\./);
  assert.match(page.text, /bob@example\.com/);
  const member = new BrowserHttp(server.url);
  await member.signIn(bob.email, bob.password);
  assert.equal((await member.get(`/w/${alice.workspace.sId}/settings`)).status, 403);
});
