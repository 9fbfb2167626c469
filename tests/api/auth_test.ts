import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { authenticateWorkspaceRequest } from "../../src/auth/bearer.ts";
import type { UserActor } from "../../src/auth/actor.ts";
import { createMcpToken } from "../../src/core/mcp_tokens.ts";
import * as jose from "jose";
import { issueAccessToken, VerifiedTokenCache } from "../../src/auth/jwt.ts";
import { apiResourceUrl, mcpResourceUrl } from "../../src/config.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect, postForm } from "../helpers/oauth_flow.ts";

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
  const key = await createApiKey(server, bob.workspace);
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
  const { token } = await createMcpToken(server.deps.db, actor as UserActor);
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

Deno.test("[auth] a REST OAuth token is verified once, then cached; revoking its grant refuses it at once", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const { tokens, clientId } = await connect(server.url, alice, {
    resource: apiResourceUrl(server.config),
  });
  const url = `/api/v1/w/${alice.workspace.sId}/spaces`;
  const cache = server.deps.tokenCache;
  const nowS = () => Math.floor(Date.now() / 1000);
  assert.equal((await apiJson(server, tokens.access_token, url)).status, 200);
  const cached = cache.get(tokens.access_token, nowS());
  assert.ok(cached, "the verified claims are memoised");
  assert.equal(cached.aud, apiResourceUrl(server.config));
  assert.equal((await apiJson(server, tokens.access_token, url)).status, 200, "served from cache");
  const posted = await apiJson(
    server,
    tokens.access_token,
    `/api/v1/w/${alice.workspace.sId}/assistant/conversations`,
    { method: "POST", body: { title: "from an OAuth app", visibility: "unlisted" } },
  );
  assert.equal(posted.status, 200, "a write with the token's write scope");
  const revoked = await postForm(`${server.url}/revoke`, {
    token: tokens.refresh_token,
    client_id: clientId,
  });
  assert.equal(revoked.status, 200);
  // One instance (SQLite): still cached, the grant check is what refuses. Several (PostgreSQL):
  // the revocation note may already have dropped it; the refusal must not depend on which.
  if (server.deps.db.engine === "sqlite") {
    assert.ok(
      cache.get(tokens.access_token, nowS()),
      "still cached: the grant check is what refuses",
    );
  }
  const after = await apiJson(server, tokens.access_token, url);
  assert.equal(after.status, 401);
  assert.equal(after.body.error.type, "not_authenticated");
});

Deno.test("[auth] a cached user token stops working at once when its user leaves the workspace", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const token = await issueAccessToken(server.deps.keys, {
    issuer: server.config.publicUrl,
    userSId: alice.user.sId,
    workspaceSId: alice.workspace.sId,
    audience: apiResourceUrl(server.config),
    scopes: ["read", "write"],
    clientId: "c",
    region: server.config.regionId,
    ttlSeconds: 600,
  });
  const url = `/api/v1/w/${alice.workspace.sId}/spaces`;
  assert.equal((await apiJson(server, token, url)).status, 200);
  await server.deps.db.run("DELETE FROM memberships WHERE user_id = ?", alice.user.id);
  const r = await apiJson(server, token, url);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[auth] expired, foreign-signed and /mcp-audience user tokens answer 401 on REST", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const url = `/api/v1/w/${alice.workspace.sId}/spaces`;
  const claims = {
    wid: alice.workspace.sId,
    scope: "read write",
    client_id: "c",
    region: server.config.regionId,
  };
  const sign = (key: CryptoKey, kid: string, exp: number, aud = apiResourceUrl(server.config)) =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid, typ: "at+jwt" })
      .setIssuer(server.config.publicUrl).setSubject(alice.user.sId).setAudience(aud)
      .setIssuedAt().setJti(crypto.randomUUID()).setExpirationTime(exp).sign(key);
  const { current } = server.deps.keys;
  const hour = Math.floor(Date.now() / 1000) + 3600;
  const good = await sign(current.privateKey, current.kid, hour);
  assert.equal((await apiJson(server, good, url)).status, 200, "the control token works");
  const expired = await sign(current.privateKey, current.kid, Math.floor(Date.now() / 1000) - 60);
  const other = await jose.generateKeyPair("EdDSA", { crv: "Ed25519" });
  const foreign = await sign(other.privateKey as CryptoKey, current.kid, hour);
  const mcp = await sign(current.privateKey, current.kid, hour, mcpResourceUrl(server.config));
  for (const [name, token] of [["expired", expired], ["foreign", foreign], ["mcp", mcp]]) {
    const r = await apiJson(server, token, url);
    assert.equal(r.status, 401, name);
    assert.equal(r.body.error.type, "not_authenticated", name);
  }
});

Deno.test("[auth] the verified-token cache drops a token at its expiry and stays bounded", () => {
  const cache = new VerifiedTokenCache(2);
  const claims = (exp: number) => ({
    iss: "i",
    sub: "s",
    aud: "a",
    wid: "w",
    scope: "read",
    client_id: "c",
    jti: "j",
    iat: 0,
    exp,
    region: "r",
  });
  cache.set("t1", claims(100));
  assert.ok(cache.get("t1", 99));
  assert.equal(cache.get("t1", 100), undefined, "gone at exp");
  cache.set("a", claims(1e12));
  cache.set("b", claims(1e12));
  cache.set("c", claims(1e12));
  assert.equal(cache.get("a", 0), undefined, "oldest evicted past the bound");
  assert.ok(cache.get("b", 0) && cache.get("c", 0));
});

Deno.test("[auth] a personal access token is REST-only: /mcp refuses it", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  assert.equal(
    (await apiJson(server, alice.token, `/api/v1/w/${alice.workspace.sId}/spaces`)).status,
    200,
  );
  const res = await fetch(`${server.url}/mcp`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${alice.token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  const body = await res.json();
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /);
  assert.equal(body.error, "invalid_token");
  assert.equal(body.error_description, "Token does not have required MCP access");
  assert.ok(!JSON.stringify(body).includes(alice.token), "the token is not echoed");
});
