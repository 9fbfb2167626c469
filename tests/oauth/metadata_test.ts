import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect } from "../helpers/oauth_flow.ts";
import { verifyAccessToken } from "../../src/auth/jwt.ts";
import { hasScope, type UserActor } from "../../src/auth/actor.ts";
import { canonicaliseResource } from "../../src/oauth/resource.ts";

async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text || "null") };
}

Deno.test("[oauth] A4 protected-resource metadata is served path-inserted and at the root", async () => {
  await using server = await startTestServer();
  const a = await getJson(`${server.url}/.well-known/oauth-protected-resource/mcp`);
  const b = await getJson(`${server.url}/.well-known/oauth-protected-resource`);
  for (const r of [a, b]) {
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type")!, /^application\/json/);
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
  }
  assert.deepEqual(a.body, b.body);
});

Deno.test("[oauth] A5 PRM resource is the canonical MCP URL and the issuer comes first", async () => {
  await using server = await startTestServer();
  const r = await getJson(`${server.url}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(r.body.resource, `${server.config.publicUrl}/mcp`);
  assert.equal(r.body.authorization_servers[0], server.config.publicUrl);
  const api = await getJson(`${server.url}/.well-known/oauth-protected-resource/api/v1`);
  assert.equal(api.body.resource, `${server.config.publicUrl}/api/v1`);
});

Deno.test("[oauth] A6 PRM scopes are the baseline without offline_access, header bearer only", async () => {
  await using server = await startTestServer();
  const r = await getJson(`${server.url}/.well-known/oauth-protected-resource/mcp`);
  assert.deepEqual(r.body.scopes_supported, ["read", "write"]);
  assert.ok(!r.body.scopes_supported.includes("offline_access"));
  assert.deepEqual(r.body.bearer_methods_supported, ["header"]);
});

Deno.test("[oauth] B1 RFC 8414 metadata is served at the root well-known as JSON", async () => {
  await using server = await startTestServer();
  const r = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type")!, /^application\/json/);
});

Deno.test("[oauth] B2 issuer is byte-identical to the public URL, the PRM entry and iss", async () => {
  await using server = await startTestServer();
  const as = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  const prm = await getJson(`${server.url}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(as.body.issuer, server.config.publicUrl);
  assert.ok(!as.body.issuer.endsWith("/"));
  assert.equal(prm.body.authorization_servers[0], as.body.issuer);
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice);
  assert.deepEqual(c.callback.searchParams.getAll("iss"), [as.body.issuer]);
});

Deno.test("[oauth] B3 core metadata fields: code, both grants, S256 only, none among auth methods", async () => {
  await using server = await startTestServer();
  const { body } = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  assert.equal(body.authorization_endpoint, `${server.config.publicUrl}/authorize`);
  assert.equal(body.token_endpoint, `${server.config.publicUrl}/token`);
  assert.deepEqual(body.response_types_supported, ["code"]);
  assert.deepEqual(body.grant_types_supported, ["authorization_code", "refresh_token"]);
  assert.deepEqual(body.code_challenge_methods_supported, ["S256"]);
  assert.ok(body.token_endpoint_auth_methods_supported.includes("none"));
});

Deno.test("[oauth] B4 client_id_metadata_document_supported is advertised", async () => {
  await using server = await startTestServer();
  const { body } = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  assert.equal(body.client_id_metadata_document_supported, true);
});

Deno.test("[oauth] B5 authorization_response_iss_parameter_supported is advertised", async () => {
  await using server = await startTestServer();
  const { body } = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  assert.equal(body.authorization_response_iss_parameter_supported, true);
});

Deno.test("[oauth] B6 registration and revocation endpoints; offline_access only in AS scopes", async () => {
  await using server = await startTestServer();
  const { body } = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  assert.equal(body.registration_endpoint, `${server.config.publicUrl}/register`);
  assert.equal(body.revocation_endpoint, `${server.config.publicUrl}/revoke`);
  assert.ok(body.scopes_supported.includes("offline_access"));
});

Deno.test("[oauth] B7 metadata advertises only implemented methods and endpoints that answer", async () => {
  await using server = await startTestServer();
  const { body } = await getJson(`${server.url}/.well-known/oauth-authorization-server`);
  assert.deepEqual(body.token_endpoint_auth_methods_supported.toSorted(), [
    "client_secret_basic",
    "client_secret_post",
    "none",
  ]);
  assert.ok(!JSON.stringify(body).includes("private_key_jwt"));
  assert.equal(body.request_parameter_supported, undefined);
  for (const key of ["token_endpoint", "registration_endpoint", "revocation_endpoint"]) {
    const res = await fetch(body[key], { method: "POST" });
    await res.body?.cancel();
    assert.notEqual(res.status, 404, key);
  }
  const jwks = await getJson(body.jwks_uri);
  assert.equal(jwks.status, 200);
  assert.equal(jwks.body.keys[0].kty, "OKP");
  assert.equal(jwks.body.keys[0].d, undefined, "no private key material");
});

Deno.test("[oauth] B8 no OIDC discovery document is served (RFC 8414 only)", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/.well-known/openid-configuration`);
  await res.body?.cancel();
  assert.equal(res.status, 404);
});

Deno.test("[oauth] B9 metadata answers a CORS preflight from a browser origin", async () => {
  await using server = await startTestServer();
  for (const path of ["oauth-authorization-server", "oauth-protected-resource/mcp"]) {
    const res = await fetch(`${server.url}/.well-known/${path}`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:6274",
        "access-control-request-method": "GET",
        "access-control-request-headers": "mcp-protocol-version",
      },
    });
    await res.body?.cancel();
    assert.ok(res.status === 204 || res.status === 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
  }
});

Deno.test("[oauth] K1 spoofed Host / X-Forwarded-Host do not change the metadata", async () => {
  await using server = await startTestServer({ publicUrl: "https://mcp.example.com" });
  const r = await getJson(`${server.url}/.well-known/oauth-authorization-server`, {
    "x-forwarded-host": "evil.example.net",
    "x-forwarded-proto": "http",
  });
  assert.equal(r.body.issuer, "https://mcp.example.com");
  assert.equal(r.body.token_endpoint, "https://mcp.example.com/token");
  const prm = await getJson(`${server.url}/.well-known/oauth-protected-resource/mcp`, {
    "x-forwarded-host": "evil.example.net",
  });
  assert.equal(prm.body.resource, "https://mcp.example.com/mcp");
});

Deno.test("[oauth] A14 resource is compared canonically (case, trailing slash, bare origin)", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const upper = server.config.publicUrl.replace("http://", "HTTP://").replace(
    "127.0.0.1",
    "127.0.0.1",
  );
  for (
    const resource of [
      `${upper}/mcp/`,
      `${server.config.publicUrl}/`,
      `${server.config.publicUrl}/mcp`,
    ]
  ) {
    const c = await connect(server.url, alice, { resource });
    const claims = await verifyAccessToken(
      server.deps.keys,
      server.deps.tokenCache,
      c.tokens.access_token,
      {
        issuer: server.config.publicUrl,
        audience: `${server.config.publicUrl}/mcp`,
      },
    );
    assert.ok(claims, resource);
  }
});

Deno.test("[oauth] A8 a token minted for the API resource is not valid for the MCP audience", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice, { resource: `${server.config.publicUrl}/api/v1` });
  const expected = { issuer: server.config.publicUrl, audience: `${server.config.publicUrl}/mcp` };
  const keys = server.deps.keys, cache = server.deps.tokenCache;
  assert.equal(await verifyAccessToken(keys, cache, c.tokens.access_token, expected), null);
  const api = { ...expected, audience: `${server.config.publicUrl}/api/v1` };
  assert.ok(await verifyAccessToken(keys, cache, c.tokens.access_token, api));
});

Deno.test("[oauth] A10 the write scope satisfies read (scope hierarchy)", () => {
  const actor = { kind: "user", scopes: new Set(["write"]) } as unknown as UserActor;
  assert.equal(hasScope(actor, "read"), true);
  const readOnly = { kind: "user", scopes: new Set(["read"]) } as unknown as UserActor;
  assert.equal(hasScope(readOnly, "write"), false);
});

Deno.test("[oauth] A14 host case, the default port and a trailing slash are canonicalised", async () => {
  await using server = await startTestServer({ publicUrl: "https://mcp.example.com" });
  const mcp = "https://mcp.example.com/mcp";
  for (
    const raw of [
      "HTTPS://MCP.EXAMPLE.COM/mcp",
      "https://Mcp.Example.Com:443/mcp/",
      "https://mcp.example.com/",
      "https://mcp.example.com",
    ]
  ) {
    assert.equal(canonicaliseResource(server.config, raw), mcp, raw);
  }
  for (
    const raw of [
      "https://mcp.example.com/MCP",
      "https://mcp.example.com:8443/mcp",
      "http://mcp.example.com/mcp",
      "https://mcp.example.com/mcp?x=1",
      "https://mcp.example.com.evil.net/mcp",
    ]
  ) {
    assert.equal(canonicaliseResource(server.config, raw), null, raw);
  }
});
