/**
 * The OAuth flow with a real browser: Debian's chromium driven by playwright-core (in a
 * subprocess, see tests/helpers/chromium_consent.ts) signs in,
 * reads the consent page and approves; the MCP SDK client (v1, and separately v2) does
 * discovery, registration, the code exchange and then lists tools on /mcp.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser, MemoryOAuthProvider } from "../helpers/oauth_client.ts";
import {
  auth,
  Client,
  type OAuthClientProvider,
  StreamableHTTPClientTransport,
} from "../helpers/sdk_v1.ts";
import {
  auth as authV2,
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from "@modelcontextprotocol/client";

/** A loopback listener standing in for the client's redirect URI. */
function startCallbackListener() {
  const seen: URL[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(new URL(req.url));
    return new Response("<html><body>You can close this window.</body></html>", {
      headers: { "content-type": "text/html" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/callback`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** Sign-in and consent in chromium; returns what the page showed and the callback URL. */
async function consentInChromium(authorizeUrl: string, email: string, password: string, cb: {
  url: string;
  seen: URL[];
}) {
  const driver = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../helpers/chromium_consent.ts", import.meta.url).pathname,
      authorizeUrl,
      email,
      password,
      cb.url,
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  });
  const out = await driver.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
  const seen = JSON.parse(stdout.trim().split("\n").pop()!);
  const callback = cb.seen.find((u) => u.searchParams.has("code"))!;
  assert.ok(callback, "the browser reached the client's redirect URI with a code");
  return { seen, callback };
}

Deno.test("[oauth] real browser (chromium): sign in, consent, SDK v1 exchange, tools/list", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  await using callback = startCallbackListener();
  const provider = new MemoryOAuthProvider(callback.url, { clientName: "Browser test client" });
  const p = provider as unknown as OAuthClientProvider;
  const serverUrl = `${server.url}/mcp`;
  assert.equal(await auth(p, { serverUrl }), "REDIRECT");
  const { seen, callback: cb } = await consentInChromium(
    provider.authorizationUrl!.href,
    alice.email,
    alice.password,
    callback,
  );
  assert.equal(seen.heading, "Sign in to continue");
  assert.equal(seen.title, "Allow “Browser test client” to access your workspace?");
  assert.deepEqual(seen.scopes, ["read", "write"]);
  assert.equal(cb.searchParams.get("iss"), server.config.publicUrl);
  assert.equal(
    await auth(p, { serverUrl, authorizationCode: cb.searchParams.get("code")! }),
    "AUTHORIZED",
  );
  const client = new Client({ name: "browser-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: p }));
  const tools = await client.listTools();
  assert.ok(tools.tools.length > 0);
  await client.close();
});

Deno.test("[oauth] real browser (chromium): sign in, consent, SDK v2 exchange (iss checked), tools/list", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  await using callback = startCallbackListener();
  const provider = new MemoryOAuthProvider(callback.url, { clientName: "Browser v2 client" });
  // deno-lint-ignore no-explicit-any
  const p = provider as any;
  const serverUrl = `${server.url}/mcp`;
  assert.equal(await authV2(p, { serverUrl }), "REDIRECT");
  const { seen, callback: cb } = await consentInChromium(
    provider.authorizationUrl!.href,
    alice.email,
    alice.password,
    callback,
  );
  assert.equal(seen.title, "Allow “Browser v2 client” to access your workspace?");
  const result = await authV2(p, {
    serverUrl,
    authorizationCode: cb.searchParams.get("code")!,
    iss: cb.searchParams.get("iss")!,
  });
  assert.equal(result, "AUTHORIZED");
  const client = new ClientV2({ name: "browser-v2", version: "1.0.0" }, {
    versionNegotiation: { mode: "auto" },
  });
  await client.connect(new TransportV2(new URL(serverUrl), { authProvider: p }));
  assert.ok((await client.listTools()).tools.some((t) => t.name === "identity"));
  await client.close();
});
