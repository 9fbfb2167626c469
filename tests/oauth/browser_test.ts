/**
 * The OAuth flow with a real browser: Debian's chromium driven by playwright-core signs in,
 * reads the consent page and approves; the MCP SDK v1 client does discovery, registration,
 * the code exchange and then lists tools on /mcp.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser, MemoryOAuthProvider } from "../helpers/oauth_client.ts";
import {
  auth,
  Client,
  type OAuthClientProvider,
  StreamableHTTPClientTransport,
} from "../helpers/sdk_v1.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

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

Deno.test("[oauth] real browser (chromium): sign in, consent, SDK v1 exchange, tools/list", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  await using callback = startCallbackListener();
  const provider = new MemoryOAuthProvider(callback.url, { clientName: "Browser test client" });
  const p = provider as unknown as OAuthClientProvider;
  const serverUrl = `${server.url}/mcp`;
  assert.equal(await auth(p, { serverUrl }), "REDIRECT");

  const profile = await Deno.makeTempDir({ prefix: "dust-mcp-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(provider.authorizationUrl!.href);
    assert.equal(await page.locator("h1").textContent(), "Sign in to continue");
    await page.click("text=Open dust-mcp sign-in");
    await page.fill("#email", alice.email);
    await page.fill("#password", alice.password);
    await page.click("button[type=submit]");
    await page.waitForSelector("text=Allow “Browser test client”");
    const scopes = await page.locator("li[data-scope]").allTextContents();
    assert.equal(scopes.length, 2);
    await page.click("button[value=approve]");
    await page.waitForURL((u) => u.href.startsWith(callback.url));
  } finally {
    await context.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
  const cb = callback.seen.find((u) => u.searchParams.has("code"))!;
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
