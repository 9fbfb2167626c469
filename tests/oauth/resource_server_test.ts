import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect } from "../helpers/oauth_flow.ts";
import { issueAccessToken, VerifiedTokenCache, verifyAccessToken } from "../../src/auth/jwt.ts";

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "a12", version: "1" },
  },
};

async function post(url: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  return res;
}

Deno.test("[oauth] A12 /mcp hands out no session id: the bearer authenticates every request", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice);
  const url = `${server.url}/mcp`;
  const init = await post(url, INIT, { authorization: `Bearer ${c.tokens.access_token}` });
  assert.equal(init.status, 200);
  assert.equal(init.headers.get("mcp-session-id"), null);
  const noBearer = await post(
    url,
    { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
    { "mcp-session-id": "anything", "mcp-protocol-version": "2025-06-18" },
  );
  assert.equal(noBearer.status, 401, "a session id alone never authenticates");
});

async function mcpStatus(base: string, token: string): Promise<number> {
  const res = await post(
    `${base}/mcp`,
    { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
    { authorization: `Bearer ${token}`, "mcp-protocol-version": "2025-06-18" },
  );
  return res.status;
}

Deno.test("[oauth] A8 an expired access token is refused at /mcp, also after it was memoised", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const base = {
    issuer: server.config.publicUrl,
    userSId: alice.user.sId,
    workspaceSId: alice.workspace.sId,
    audience: `${server.config.publicUrl}/mcp`,
    scopes: ["read", "write"] as const,
    clientId: "https://client.example/metadata.json",
    region: server.config.regionId,
  };
  const expired = await issueAccessToken(server.deps.keys, { ...base, ttlSeconds: -60 });
  assert.equal(await mcpStatus(server.url, expired), 401);
  // A memoised token is dropped at its exp: the cache never outlives the token.
  const cache = new VerifiedTokenCache();
  const live = await issueAccessToken(server.deps.keys, { ...base, ttlSeconds: 30 });
  const expected = { issuer: base.issuer, audience: base.audience };
  assert.equal(await mcpStatus(server.url, live), 200, "control: the same token, not expired");
  const claims = await verifyAccessToken(server.deps.keys, cache, live, expected);
  assert.ok(claims);
  assert.ok(cache.get(live, claims.exp - 1));
  assert.equal(cache.get(live, claims.exp), undefined);
});

Deno.test("[oauth] regions: a token issued by the other region's instance is refused here (audience per region)", async () => {
  await using eu = await startTestServer({ flags: { region: "eu" } });
  await using us = await startTestServer({ flags: { "peer-url": eu.config.publicUrl } });
  const eve = await createPasswordUser(eu, { email: "eve@example.com" });
  const c = await connect(eu.url, eve);
  const claims = await verifyAccessToken(eu.deps.keys, eu.deps.tokenCache, c.tokens.access_token, {
    issuer: eu.config.publicUrl,
    audience: `${eu.config.publicUrl}/mcp`,
  });
  assert.equal(claims?.region, "europe-west1");
  assert.equal(claims?.aud, `${eu.config.publicUrl}/mcp`);
  assert.equal(await mcpStatus(eu.url, c.tokens.access_token), 200);
  assert.equal(await mcpStatus(us.url, c.tokens.access_token), 401, "not valid in us-central1");
  // Even a token forged with this region's audience but the other region's key is refused.
  const forged = await issueAccessToken(eu.deps.keys, {
    issuer: us.config.publicUrl,
    userSId: eve.user.sId,
    workspaceSId: eve.workspace.sId,
    audience: `${us.config.publicUrl}/mcp`,
    scopes: ["read"],
    clientId: c.clientId,
    region: "us-central1",
    ttlSeconds: 600,
  });
  assert.equal(await mcpStatus(us.url, forged), 401);
});
