import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { authenticateWorkspaceRequest } from "../../src/auth/bearer.ts";
import type { UserActor } from "../../src/auth/actor.ts";
import { createMcpToken } from "../../src/core/mcp_tokens.ts";
import { issueAccessToken } from "../../src/auth/jwt.ts";
import { apiResourceUrl } from "../../src/config.ts";

Deno.test("[auth] no Authorization header answers 401 not_authenticated", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, null, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});

Deno.test("[auth] an unknown workspace answers 404 workspace_not_found", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, alice.token, `/api/v1/w/nosuchwork/spaces`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "workspace_not_found");
});

Deno.test("[auth] an API key of another workspace answers 401 workspace_auth_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, { email: "bob@example.com", role: "admin" });
  const key = createApiKey(server, bob.workspace);
  const r = await apiJson(server, key, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[auth] a personal token of another workspace answers 401 workspace_auth_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, { email: "bob@example.com", role: "admin" });
  const r = await apiJson(server, bob.token, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[auth] an unknown API key answers 401 invalid_api_key_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, "sk-not-a-real-key", `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "invalid_api_key_error");
  assert.ok(!JSON.stringify(r.body).includes("sk-not-a-real-key"));
});

Deno.test("[auth] a garbage bearer token answers 401 not_authenticated", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, "garbage", `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});

Deno.test("[auth] an MCP token is refused on the REST API (401)", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const actor = await authenticateWorkspaceRequest(
    server.deps,
    `Bearer ${alice.token}`,
    alice.workspace.sId,
  );
  const { token } = createMcpToken(server.deps.db, actor as UserActor);
  const r = await apiJson(server, token, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});

Deno.test("[auth] a malformed Authorization header answers 401 not_authenticated", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, null, `/api/v1/w/${alice.workspace.sId}/spaces`, {
    headers: { Authorization: `Basic ${alice.token}` },
  });
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});

Deno.test("[auth] with a peer region configured, an unknown workspace still answers 404 workspace_not_found (as Dust's public API)", async () => {
  await using server = await startTestServer({ flags: { "peer-url": "http://127.0.0.1:9" } });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, alice.token, `/api/v1/w/elsewhere1/spaces`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "workspace_not_found");
});

Deno.test("[auth] an OAuth token whose grant is gone (revoked or deleted) answers 401", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const token = await issueAccessToken(server.deps.keys, {
    issuer: server.config.publicUrl,
    userSId: alice.user.sId,
    workspaceSId: alice.workspace.sId,
    audience: apiResourceUrl(server.config),
    scopes: ["read"],
    clientId: "c",
    grantSId: "gnt_missing",
    region: server.config.regionId,
    ttlSeconds: 60,
  });
  const r = await apiJson(server, token, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
});

Deno.test("[auth] a read-only OAuth token reads but cannot write", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const token = await issueAccessToken(server.deps.keys, {
    issuer: server.config.publicUrl,
    userSId: alice.user.sId,
    workspaceSId: alice.workspace.sId,
    audience: apiResourceUrl(server.config),
    scopes: ["read"],
    clientId: "c",
    region: server.config.regionId,
    ttlSeconds: 60,
  });
  const base = `/api/v1/w/${alice.workspace.sId}`;
  assert.equal((await apiJson(server, token, `${base}/spaces`)).status, 200);
  const w = await apiJson(server, token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "P" },
  });
  assert.equal(w.status, 403);
  assert.match(w.body.error.message, /write/);
});
