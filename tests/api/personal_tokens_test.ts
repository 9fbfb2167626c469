import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { issueAccessToken } from "../../src/auth/jwt.ts";
import { apiResourceUrl } from "../../src/config.ts";

Deno.test("[api/personal_tokens] a user creates a token shown once, lists it without the secret, revokes it and it stops at once", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const base = `/api/v1/w/${alice.workspace.sId}/personal_tokens`;
  const created = await apiJson(server, alice.token, base, {
    method: "POST",
    body: { name: "laptop", expiresInDays: 30 },
  });
  assert.equal(created.status, 200);
  assert.equal(created.headers.get("cache-control"), "no-store");
  const { token, secret } = created.body;
  assert.match(secret, /^pat_/);
  assert.equal(token.name, "laptop");
  assert.ok(secret.startsWith(token.prefix));
  assert.ok(Math.abs(token.expiresAt - (Date.now() + 30 * 86_400_000)) < 60_000);
  const me = await apiJson(server, secret, "/api/v1/me");
  assert.equal(me.status, 200, "the new token acts as its user");
  assert.equal(me.body.user.sId, alice.user.sId);

  const list = await apiJson(server, alice.token, base);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.tokens.map((t: { name: string }) => t.name), ["laptop", "test token"]);
  assert.ok(!JSON.stringify(list.body).includes(secret), "the list never shows a secret");
  const stored = await server.deps.db.get(
    "SELECT token_hash FROM personal_tokens WHERE s_id = ?",
    token.sId,
  ) as { token_hash: string };
  assert.notEqual(stored.token_hash, secret, "stored hashed");

  const revoked = await apiJson(server, alice.token, `${base}/${token.sId}`, { method: "DELETE" });
  assert.equal(revoked.status, 200);
  assert.equal(typeof revoked.body.token.revokedAt, "number");
  const after = await apiJson(server, secret, "/api/v1/me");
  assert.equal(after.status, 401);
  assert.equal(after.body.error.type, "not_authenticated");
  const again = await apiJson(server, alice.token, `${base}/${token.sId}`, { method: "DELETE" });
  assert.equal(again.status, 200, "revoking is idempotent");
  assert.equal(again.body.token.revokedAt, revoked.body.token.revokedAt);
});

Deno.test("[api/personal_tokens] API keys get 401 user_not_found; a read-only OAuth token lists but cannot create", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const base = `/api/v1/w/${alice.workspace.sId}/personal_tokens`;
  const key = await createApiKey(server, alice.workspace);
  for (const method of ["GET", "POST"]) {
    const r = await apiJson(server, key, base, {
      method,
      ...(method === "POST" ? { body: { name: "x" } } : {}),
    });
    assert.equal(r.status, 401, method);
    assert.equal(r.body.error.type, "user_not_found", method);
  }
  const readOnly = await issueAccessToken(server.deps.keys, {
    issuer: server.config.publicUrl,
    userSId: alice.user.sId,
    workspaceSId: alice.workspace.sId,
    audience: apiResourceUrl(server.config),
    scopes: ["read"],
    clientId: "c",
    region: server.config.regionId,
    ttlSeconds: 60,
  });
  assert.equal((await apiJson(server, readOnly, base)).status, 200);
  const denied = await apiJson(server, readOnly, base, { method: "POST", body: { name: "x" } });
  assert.equal(denied.status, 403);
  assert.match(denied.body.error.message, /write/);
});

Deno.test("[api/personal_tokens] another user's token id answers 404 and the token keeps working", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const base = `/api/v1/w/${alice.workspace.sId}/personal_tokens`;
  const bobs = await apiJson(server, bob.token, base);
  const bobTokenId = bobs.body.tokens[0].sId;
  const r = await apiJson(server, alice.token, `${base}/${bobTokenId}`, { method: "DELETE" });
  assert.equal(r.status, 404, "an admin cannot revoke another user's token either");
  assert.equal(r.body.error.type, "key_not_found");
  assert.equal((await apiJson(server, bob.token, "/api/v1/me")).status, 200);
  const aliceList = await apiJson(server, alice.token, base);
  assert.ok(!aliceList.body.tokens.some((t: { sId: string }) => t.sId === bobTokenId));
});

Deno.test("[api/personal_tokens] bad bodies and queries answer 400 naming the field", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const base = `/api/v1/w/${alice.workspace.sId}/personal_tokens`;
  const cases: [unknown, RegExp][] = [
    [{}, /^name: /],
    [{ name: "  " }, /^name: /],
    [{ name: "x".repeat(256) }, /^name: /],
    [{ name: "x", expiresInDays: 0 }, /^expiresInDays: /],
    [{ name: "x", expiresInDays: 4000 }, /^expiresInDays: /],
    [{ name: "x", expiresInDays: 1.5 }, /^expiresInDays: /],
  ];
  for (const [body, message] of cases) {
    const r = await apiJson(server, alice.token, base, { method: "POST", body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.type, "invalid_request_error");
    assert.match(r.body.error.message, message, JSON.stringify(body));
  }
  const badLimit = await apiJson(server, alice.token, `${base}?limit=0`);
  assert.equal(badLimit.status, 400);
  assert.match(badLimit.body.error.message, /^limit: /);
  const badCursor = await apiJson(server, alice.token, `${base}?cursor=pat_nope`);
  assert.equal(badCursor.status, 400);
  assert.match(badCursor.body.error.message, /^cursor: /);
  const count = await server.deps.db.get("SELECT count(*) AS n FROM personal_tokens") as {
    n: number;
  };
  assert.equal(count.n, 1, "nothing was created");
});

Deno.test("[api/personal_tokens] listing pages with a cursor, newest first", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const base = `/api/v1/w/${alice.workspace.sId}/personal_tokens`;
  for (const name of ["a", "b", "c"]) {
    await apiJson(server, alice.token, base, { method: "POST", body: { name } });
  }
  const first = await apiJson(server, alice.token, `${base}?limit=2`);
  assert.deepEqual(first.body.tokens.map((t: { name: string }) => t.name), ["c", "b"]);
  const second = await apiJson(
    server,
    alice.token,
    `${base}?limit=2&cursor=${first.body.nextCursor}`,
  );
  assert.deepEqual(second.body.tokens.map((t: { name: string }) => t.name), ["a", "test token"]);
  assert.equal(second.body.nextCursor, null);
});
