import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser, MemoryOAuthProvider } from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import {
  auth as authV1,
  Client as ClientV1,
  type OAuthClientProvider,
  StreamableHTTPClientTransport as TransportV1,
} from "../helpers/sdk_v1.ts";
import {
  auth as authV2,
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from "@modelcontextprotocol/client";
import { verifyAccessToken } from "../../src/auth/jwt.ts";

const CALLBACK = "http://127.0.0.1:53682/callback";

Deno.test("[oauth] MCP SDK v1 auth(): discovery, DCR, sign-in + consent over HTTP, tokens, refresh", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const provider = new MemoryOAuthProvider(CALLBACK, { clientName: "sdk v1" });
  const p = provider as unknown as OAuthClientProvider;
  const serverUrl = `${server.url}/mcp`;
  assert.equal(await authV1(p, { serverUrl }), "REDIRECT");
  const authUrl = provider.authorizationUrl!;
  assert.equal(authUrl.searchParams.get("resource"), `${server.config.publicUrl}/mcp`);
  assert.equal(authUrl.searchParams.get("code_challenge_method"), "S256");
  const cb = await browser.approve(authUrl.href);
  assert.equal(cb.searchParams.get("iss"), server.config.publicUrl);
  assert.equal(
    await authV1(p, { serverUrl, authorizationCode: cb.searchParams.get("code")! }),
    "AUTHORIZED",
  );
  const claims = await verifyAccessToken(
    server.deps.keys,
    server.deps.tokenCache,
    provider.savedTokens!.access_token,
    {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    },
  );
  assert.equal(claims?.sub, alice.user.sId);
  assert.equal(claims?.wid, alice.workspace.sId);
  // The SDK refreshes with the stored refresh token.
  const first = provider.savedTokens!.refresh_token;
  provider.savedTokens = { ...provider.savedTokens!, access_token: "expired" };
  assert.equal(await authV1(p, { serverUrl }), "AUTHORIZED");
  assert.notEqual(provider.savedTokens!.refresh_token, first, "rotated");
  // The token works on /mcp with the SDK's own client.
  const client = new ClientV1({ name: "v1", version: "1.0.0" });
  await client.connect(new TransportV1(new URL(serverUrl), { authProvider: p }));
  const tools = await client.listTools();
  assert.ok(tools.tools.some((t) => t.name === "identity"));
  await client.close();
});

Deno.test("[oauth] MCP SDK v2 auth(): issuer and iss validated, DCR, consent over HTTP, tools/list", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const provider = new MemoryOAuthProvider(CALLBACK, { clientName: "sdk v2" });
  // deno-lint-ignore no-explicit-any
  const p = provider as any;
  const serverUrl = `${server.url}/mcp`;
  assert.equal(await authV2(p, { serverUrl }), "REDIRECT");
  const cb = await browser.approve(provider.authorizationUrl!.href);
  const result = await authV2(p, {
    serverUrl,
    authorizationCode: cb.searchParams.get("code")!,
    iss: cb.searchParams.get("iss")!,
  });
  assert.equal(result, "AUTHORIZED");
  assert.ok(provider.savedTokens?.access_token);
  const client = new ClientV2({ name: "v2", version: "1.0.0" }, {
    versionNegotiation: { mode: "auto" },
  });
  await client.connect(new TransportV2(new URL(serverUrl), { authProvider: p }));
  const tools = await client.listTools();
  assert.ok(tools.tools.some((t) => t.name === "identity"));
  await client.close();
});
