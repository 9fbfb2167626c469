import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { issueAccessToken } from "../../src/auth/jwt.ts";
import { apiResourceUrl, mcpResourceUrl } from "../../src/config.ts";
import { issuePersonalToken, revokePersonalToken } from "../../src/core/personal_tokens.ts";

Deno.test("[api/me] a personal token returns the user and every workspace in Dust's shape", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const other = await createUserWithToken(server, { email: "bob@example.com", role: "admin" });
  await createUserWithToken(server, {
    email: "alice@example.com",
    role: "user",
    workspace: other.workspace,
  });
  const r = await apiJson(server, alice.token, "/api/v1/me");
  assert.equal(r.status, 200);
  const u = r.body.user;
  assert.equal(u.sId, alice.user.sId);
  assert.equal(u.email, "alice@example.com");
  assert.equal(typeof u.id, "number");
  assert.equal(typeof u.createdAt, "number");
  assert.equal(u.selectedWorkspace, alice.workspace.sId);
  assert.deepEqual(
    u.workspaces.map((w: { sId: string; role: string }) => `${w.sId}:${w.role}`).sort(),
    [`${alice.workspace.sId}:admin`, `${other.workspace.sId}:user`].sort(),
  );
});

Deno.test("[api/me] an OAuth access token for the API audience works; an /mcp one does not", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const issue = (audience: string) =>
    issueAccessToken(server.deps.keys, {
      issuer: server.config.publicUrl,
      userSId: alice.user.sId,
      workspaceSId: alice.workspace.sId,
      audience,
      scopes: ["read", "write"],
      clientId: "test-client",
      region: server.config.regionId,
      ttlSeconds: 60,
    });
  const ok = await apiJson(server, await issue(apiResourceUrl(server.config)), "/api/v1/me");
  assert.equal(ok.status, 200);
  assert.equal(ok.body.user.sId, alice.user.sId);
  const wrong = await apiJson(server, await issue(mcpResourceUrl(server.config)), "/api/v1/me");
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.type, "not_authenticated");
});

Deno.test("[api/me] an API key answers 401 user_not_found", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, await createApiKey(server, alice.workspace), "/api/v1/me");
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "user_not_found");
});

Deno.test("[api/me] no credentials answers 401 not_authenticated", async () => {
  await using server = await startTestServer();
  const r = await apiJson(server, null, "/api/v1/me");
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});

Deno.test("[api/me] revoked and expired personal tokens answer 401", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const db = server.deps.db;
  const t = await issuePersonalToken(db, {
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    name: "short",
    expiresInDays: 1,
  });
  assert.equal((await apiJson(server, t.secret, "/api/v1/me")).status, 200);
  await db.run("UPDATE personal_tokens SET expires_at = 1 WHERE s_id = ?", t.token.sId);
  assert.equal((await apiJson(server, t.secret, "/api/v1/me")).status, 401);
  await revokePersonalToken(db, {
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    tokenId: t.token.sId,
  });
  const revoked = await apiJson(server, t.secret, "/api/v1/me");
  assert.equal(revoked.status, 401);
  assert.ok(!JSON.stringify(revoked.body).includes(t.secret), "secrets are never echoed");
});

Deno.test("[api/me] a token whose user left the workspace answers 401 workspace_auth_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await server.deps.db.run("DELETE FROM memberships WHERE user_id = ?", alice.user.id);
  const r = await apiJson(server, alice.token, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[api/me] secrets are stored hashed, never in clear", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const key = await createApiKey(server, alice.workspace);
  const db = server.deps.db;
  const dump = JSON.stringify([
    await db.all("SELECT * FROM personal_tokens"),
    await db.all("SELECT * FROM api_keys"),
  ]);
  assert.ok(!dump.includes(alice.token));
  assert.ok(!dump.includes(key));
});
