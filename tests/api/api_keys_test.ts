import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

Deno.test("[api/api_keys] admins create a key shown once, list it without the secret, revoke it", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const base = `/api/v1/w/${admin.workspace.sId}/api_keys`;
  const created = await apiJson(server, admin.token, base, {
    method: "POST",
    body: { name: "ci" },
  });
  assert.equal(created.status, 200);
  const secret = created.body.secret as string;
  assert.match(secret, /^sk-/);
  assert.equal(created.headers.get("cache-control"), "no-store");
  const spaces = await apiJson(server, secret, `/api/v1/w/${admin.workspace.sId}/spaces`);
  assert.equal(spaces.status, 200);

  const list = await apiJson(server, admin.token, base);
  assert.equal(list.status, 200);
  assert.equal(list.body.keys.length, 1);
  assert.equal(list.body.keys[0].name, "ci");
  assert.equal(list.body.keys[0].createdBy, "admin@example.com");
  assert.ok(!JSON.stringify(list.body).includes(secret));
  assert.ok(secret.startsWith(list.body.keys[0].prefix));

  const revoked = await apiJson(server, admin.token, `${base}/${created.body.key.sId}`, {
    method: "DELETE",
  });
  assert.equal(revoked.status, 200);
  assert.equal(typeof revoked.body.key.revokedAt, "number");
  const after = await apiJson(server, secret, `/api/v1/w/${admin.workspace.sId}/spaces`);
  assert.equal(after.status, 401);
  assert.equal(after.body.error.type, "invalid_api_key_error");
});

Deno.test("[api/api_keys] builders, users and API keys cannot manage keys (403)", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const builder = await createUserWithToken(server, {
    email: "builder@example.com",
    role: "builder",
    workspace: admin.workspace,
  });
  const base = `/api/v1/w/${admin.workspace.sId}/api_keys`;
  for (const token of [builder.token, await createApiKey(server, admin.workspace)]) {
    const r = await apiJson(server, token, base, { method: "POST", body: { name: "x" } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.type, "workspace_auth_error");
    assert.equal((await apiJson(server, token, base)).status, 403);
  }
});

Deno.test("[api/api_keys] revoking another workspace's key answers 404", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const other = await createUserWithToken(server, { email: "other@example.com", role: "admin" });
  const created = await apiJson(server, other.token, `/api/v1/w/${other.workspace.sId}/api_keys`, {
    method: "POST",
    body: { name: "theirs" },
  });
  const r = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${admin.workspace.sId}/api_keys/${created.body.key.sId}`,
    { method: "DELETE" },
  );
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "api_key_not_found");
  const still = await apiJson(
    server,
    created.body.secret,
    `/api/v1/w/${other.workspace.sId}/spaces`,
  );
  assert.equal(still.status, 200);
});

Deno.test("[api/api_keys] an empty name and a bad limit answer 400 naming the field", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const base = `/api/v1/w/${admin.workspace.sId}/api_keys`;
  const r = await apiJson(server, admin.token, base, { method: "POST", body: { name: "  " } });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /^name:/);
  const q = await apiJson(server, admin.token, `${base}?limit=0`);
  assert.equal(q.status, 400);
  assert.match(q.body.error.message, /^limit:/);
});

Deno.test("[api/api_keys] listing pages with a cursor", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const base = `/api/v1/w/${admin.workspace.sId}/api_keys`;
  for (let i = 0; i < 3; i++) await createApiKey(server, admin.workspace, `k${i}`);
  const p1 = await apiJson(server, admin.token, `${base}?limit=2`);
  assert.deepEqual(p1.body.keys.map((k: { name: string }) => k.name), ["k2", "k1"]);
  const p2 = await apiJson(server, admin.token, `${base}?limit=2&cursor=${p1.body.nextCursor}`);
  assert.deepEqual(p2.body.keys.map((k: { name: string }) => k.name), ["k0"]);
  assert.equal(p2.body.nextCursor, null);
});
