import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  createPasswordUser,
  pageActorOf,
  type PasswordUser,
  pkcePair,
} from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { authorizeUrl, connect, obtainCode, postForm, register } from "../helpers/oauth_flow.ts";
import { REGISTRATION_LIMIT } from "../../src/oauth/register.ts";
import { type AuthMethod, createStaticClient, findClient } from "../../src/core/oauth_clients.ts";

const CURSOR = [
  "cursor://anysphere.cursor-mcp/oauth/callback",
  "https://www.cursor.com/agents/mcp/oauth/callback",
  "http://localhost:8787/callback",
];
const VSCODE = [
  "https://insiders.vscode.dev/redirect",
  "https://vscode.dev/redirect",
  "http://127.0.0.1/",
  "http://127.0.0.1:33418/",
];

Deno.test("[oauth] D1 registration returns 201 with client_id, issued_at and echoed metadata", async () => {
  await using server = await startTestServer();
  const r = await register(server.url, {
    client_name: "MCP CLI Client",
    redirect_uris: ["http://localhost:3334/oauth/callback"],
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    software_id: "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d",
  });
  assert.equal(r.status, 201);
  assert.ok(r.body.client_id);
  assert.equal(typeof r.body.client_id_issued_at, "number");
  assert.equal(r.body.client_name, "MCP CLI Client");
  assert.deepEqual(r.body.redirect_uris, ["http://localhost:3334/oauth/callback"]);
  assert.equal(r.body.client_secret, undefined, "public clients get no secret");
  assert.equal(r.body.software_id, "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d");
  const bad = await register(server.url, { redirect_uris: "nope" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, "invalid_redirect_uri");
  const badMeta = await register(server.url, {
    redirect_uris: ["http://127.0.0.1/cb"],
    token_endpoint_auth_method: "private_key_jwt",
  });
  assert.equal(badMeta.body.error, "invalid_client_metadata");
});

Deno.test("[oauth] D2 an omitted auth method gets a secret usable with Basic and with post", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const r = await register(server.url, {
    client_name: "legacy",
    redirect_uris: ["http://127.0.0.1:53682/callback"],
  });
  assert.equal(r.body.token_endpoint_auth_method, "client_secret_basic");
  assert.ok(r.body.client_secret);
  assert.equal(r.body.client_secret_expires_at, 0);
  for (const via of ["basic", "post"]) {
    const c = await obtainCode(server.url, alice, { clientId: r.body.client_id });
    const fields: Record<string, string> = {
      grant_type: "authorization_code",
      code: c.code,
      redirect_uri: c.redirectUri,
      code_verifier: c.verifier,
    };
    const headers: Record<string, string> = {};
    if (via === "basic") {
      headers.authorization = `Basic ${btoa(`${r.body.client_id}:${r.body.client_secret}`)}`;
    } else {Object.assign(fields, {
        client_id: r.body.client_id,
        client_secret: r.body.client_secret,
      });}
    const t = await postForm(`${server.url}/token`, fields, headers);
    assert.equal(t.status, 200, via);
  }
});

Deno.test("[oauth] D3 Cursor's and VS Code's redirect sets pass; javascript:, data:, file: are refused", async () => {
  await using server = await startTestServer();
  for (const uris of [CURSOR, VSCODE, ["windsurf://codeium.windsurf/oauth/callback"]]) {
    const r = await register(server.url, {
      client_name: "c",
      redirect_uris: uris,
      token_endpoint_auth_method: "none",
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.redirect_uris, uris);
  }
  for (
    const bad of [
      "javascript:alert(1)",
      "JavaScript://x/%0aalert(1)",
      "data:text/html,x",
      "vbscript:x",
      "file:///etc/passwd",
      "blob:https://x/y",
      "http://evil.example.com/cb",
      "https://x.example.com/cb#frag",
    ]
  ) {
    const r = await register(server.url, {
      client_name: "c",
      redirect_uris: ["http://127.0.0.1/cb", bad],
      token_endpoint_auth_method: "none",
    });
    assert.equal(r.status, 400, bad);
    assert.equal(r.body.error, "invalid_redirect_uri", bad);
  }
});

/** The redirect URIs real clients use (mcp-auth.md §4), RFC 8252's example and IPv6 loopback. */
const REAL_CLIENT_REDIRECTS = [
  "https://claude.ai/api/mcp/auth_callback",
  "https://claude.com/api/mcp/auth_callback",
  "claude://claude.ai/api/mcp/auth_callback",
  "http://localhost:53211/callback",
  "http://127.0.0.1/callback",
  "https://chatgpt.com/connector/oauth/cb123",
  "https://chatgpt.com/connector_platform_oauth_redirect",
  ...CURSOR,
  "cursor://anysphere.cursor-retrieval/oauth/user-callback",
  ...VSCODE,
  "vscode://vscode.github-authentication/did-authenticate",
  "vscode-insiders://vscode.github-authentication/did-authenticate",
  "windsurf://codeium.windsurf/oauth/callback",
  "http://localhost:3335/oauth/callback",
  "http://localhost:6274/oauth/callback",
  "http://localhost:6274/oauth/callback/debug",
  "http://127.0.0.1:6276/oauth/callback",
  "com.example.app:/oauth2redirect/example-provider",
  "dev.opencode.app://oauth/callback",
  "http://[::1]:8080/cb",
];

Deno.test("[oauth] D3 redirect schemes: https, loopback http, reverse-domain or known client schemes; about:, view-source:, feed: are refused", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const { challenge } = pkcePair();
  // Two registrations (at most 20 URIs each; registration is all-or-nothing), then each URI
  // at /authorize (D5), within the per-IP registration budget.
  for (const uris of [REAL_CLIENT_REDIRECTS.slice(0, 12), REAL_CLIENT_REDIRECTS.slice(12)]) {
    const r = await register(server.url, {
      client_name: "real",
      redirect_uris: uris,
      token_endpoint_auth_method: "none",
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    for (const uri of uris) {
      const page = await browser.get(
        authorizeUrl(server.url, { clientId: r.body.client_id, redirectUri: uri, challenge }),
      );
      assert.equal(page.status, 303, `authorize ${uri}: ${page.text.slice(0, 200)}`);
    }
  }
  for (
    const bad of [
      "about:blank",
      "view-source:https://example.com/",
      "feed:https://example.com/rss",
      "feed://example.com/rss",
      "ms-settings:privacy",
      "chrome://settings/",
      "mailto:a@example.com",
      "ftp://example.com/cb",
      "ws://127.0.0.1:1/cb",
      "myapp:/callback",
    ]
  ) {
    const r = await register(server.url, {
      client_name: "c",
      redirect_uris: ["http://127.0.0.1/cb", bad],
      token_endpoint_auth_method: "none",
    });
    assert.equal(r.status, 400, bad);
    assert.equal(r.body.error, "invalid_redirect_uri", bad);
    assert.match(r.body.error_description, /scheme is not allowed/, bad);
  }
});

Deno.test("[oauth] D3 a client registered before the scheme rule cannot be sent to a refused scheme at /authorize", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const r = await register(server.url, {
    client_name: "old",
    redirect_uris: ["http://127.0.0.1/cb"],
    token_endpoint_auth_method: "none",
  });
  // The row as an older server stored it, when view-source: and feed: still registered.
  const legacy = ["view-source:https://example.com/", "feed://example.com/rss"];
  await server.deps.db.run(
    "UPDATE oauth_clients SET redirect_uris = ? WHERE client_id = ?",
    JSON.stringify(legacy),
    r.body.client_id,
  );
  const { challenge } = pkcePair();
  for (const redirectUri of legacy) {
    const page = await browser.get(
      authorizeUrl(server.url, { clientId: r.body.client_id, redirectUri, challenge }),
    );
    assert.equal(page.status, 400, redirectUri);
    assert.equal(page.location, null);
    assert.match(page.text, /scheme is not allowed/);
  }
});

Deno.test("[oauth] D1 client_uri and logo_uri are kept only as https URLs (javascript: and http: are dropped)", async () => {
  await using server = await startTestServer();
  const base = {
    client_name: "c",
    redirect_uris: ["http://127.0.0.1/cb"],
    token_endpoint_auth_method: "none",
  };
  const good = await register(server.url, {
    ...base,
    client_uri: "https://example.com/app",
    logo_uri: "https://example.com/logo.png",
  });
  assert.equal(good.status, 201);
  assert.equal(good.body.client_uri, "https://example.com/app");
  assert.equal(good.body.logo_uri, "https://example.com/logo.png");
  for (
    const bad of [
      "javascript:alert(document.cookie)",
      "JAVASCRIPT:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "http://example.com/app",
      "https://user:pw@example.com/",
      "//example.com/x",
    ]
  ) {
    const r = await register(server.url, { ...base, client_uri: bad, logo_uri: bad });
    assert.equal(r.status, 201, bad);
    assert.equal(r.body.client_uri, undefined, `client_uri ${bad}`);
    assert.equal(r.body.logo_uri, undefined, `logo_uri ${bad}`);
    assert.equal((await findClient(server.deps.db, r.body.client_id))!.clientUri, null, bad);
  }
  // A row stored by an older server is cleaned when read.
  await server.deps.db.run(
    "UPDATE oauth_clients SET client_uri = ?, logo_uri = ? WHERE client_id = ?",
    "javascript:alert(1)",
    "javascript:alert(2)",
    good.body.client_id,
  );
  const read = (await findClient(server.deps.db, good.body.client_id))!;
  assert.equal(read.clientUri, null);
  assert.equal(read.logoUri, null);
});

Deno.test("[oauth] D4 application_type web with a loopback redirect is accepted", async () => {
  await using server = await startTestServer();
  for (const t of ["web", "native"]) {
    const r = await register(server.url, {
      client_name: "c",
      application_type: t,
      redirect_uris: ["http://127.0.0.1:6274/oauth/callback"],
      token_endpoint_auth_method: "none",
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.application_type, t);
  }
});

Deno.test("[oauth] D5 every URI /register accepted is accepted by /authorize", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const r = await register(server.url, {
    client_name: "Cursor",
    redirect_uris: CURSOR,
    token_endpoint_auth_method: "none",
  });
  const { challenge } = pkcePair();
  for (const redirectUri of CURSOR) {
    const res = await browser.get(
      authorizeUrl(server.url, { clientId: r.body.client_id, redirectUri, challenge }),
    );
    assert.equal(res.status, 303, redirectUri);
  }
  const cb = await browser.approve(
    authorizeUrl(server.url, { clientId: r.body.client_id, redirectUri: CURSOR[0], challenge }),
  );
  assert.equal(cb.protocol, "cursor:");
  assert.ok(cb.searchParams.get("code"));
});

Deno.test("[oauth] D6 registrations are rate-limited per IP; unused DCR clients expire", async () => {
  await using server = await startTestServer();
  const body = {
    client_name: "c",
    redirect_uris: ["http://127.0.0.1/cb"],
    token_endpoint_auth_method: "none",
  };
  let last;
  for (let i = 0; i <= REGISTRATION_LIMIT.count; i++) last = await register(server.url, body);
  assert.equal(last!.status, 429);
  assert.ok(Number(last!.headers.get("retry-after")) > 0);
  const row = await server.deps.db.get(
    "SELECT expires_at - created_at AS ttl FROM oauth_clients WHERE kind = 'dcr' LIMIT 1",
  ) as { ttl: number };
  assert.equal(row.ttl, 30 * 24 * 3600 * 1000);
});

Deno.test("[oauth] D6 a DCR client in use stays registered: refreshing extends its 30-day expiry", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice);
  const db = server.deps.db;
  // About to expire: the last code exchange was almost 30 days ago.
  await db.run(
    "UPDATE oauth_clients SET expires_at = ? WHERE client_id = ?",
    Date.now() + 60_000,
    c.clientId,
  );
  const r = await postForm(`${server.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: c.tokens.refresh_token,
    client_id: c.clientId,
  });
  assert.equal(r.status, 200);
  const row = await db.get(
    "SELECT expires_at FROM oauth_clients WHERE client_id = ?",
    c.clientId,
  ) as { expires_at: number };
  assert.ok(row.expires_at > Date.now() + 29 * 24 * 3600 * 1000, "a refresh counts as a use");
});

Deno.test("[oauth] D6 expired unused DCR clients are swept when others register", async () => {
  await using server = await startTestServer();
  const stale = await register(server.url, {
    client_name: "stale",
    redirect_uris: ["http://127.0.0.1/cb"],
    token_endpoint_auth_method: "none",
  });
  const db = server.deps.db;
  await db.run("UPDATE oauth_clients SET expires_at = 1 WHERE client_id = ?", stale.body.client_id);
  await register(server.url, {
    client_name: "fresh",
    redirect_uris: ["http://127.0.0.1/cb"],
    token_endpoint_auth_method: "none",
  });
  const gone = await db.get(
    "SELECT 1 FROM oauth_clients WHERE client_id = ?",
    stale.body.client_id,
  );
  assert.equal(gone, undefined);
});

Deno.test("[oauth] D7 a deleted or expired client gets 401 invalid_client at /token", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice);
  await server.deps.db.run(
    "UPDATE oauth_clients SET expires_at = 1 WHERE client_id = ?",
    c.clientId,
  );
  const r = await postForm(`${server.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: c.tokens.refresh_token,
    client_id: c.clientId,
  });
  assert.equal(r.status, 401);
  assert.equal(r.body.error, "invalid_client");
  const gone = await server.deps.db.get(
    "SELECT 1 FROM oauth_clients WHERE client_id = ?",
    c.clientId,
  );
  assert.equal(gone, undefined, "expired client deleted lazily");
});

async function staticFlow(server: TestServer, alice: PasswordUser, method: AuthMethod) {
  const { client, secret } = await createStaticClient(
    server.deps.db,
    await pageActorOf(server, alice),
    {
      name: `static ${method}`,
      redirectUris: ["http://127.0.0.1:53682/callback"],
      authMethod: method,
    },
  );
  const c = await obtainCode(server.url, alice, { clientId: client.clientId });
  const base = {
    grant_type: "authorization_code",
    code: c.code,
    redirect_uri: c.redirectUri,
    code_verifier: c.verifier,
  };
  return { client, secret, base };
}

Deno.test("[oauth] E1 an admin-created static client (with a secret) completes the flow over Basic", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const { client, secret, base } = await staticFlow(server, alice, "client_secret_basic");
  assert.ok(secret?.startsWith("dcs_"));
  const wrong = await postForm(`${server.url}/token`, base, {
    authorization: `Basic ${btoa(`${client.clientId}:nope`)}`,
  });
  assert.equal(wrong.status, 401);
  const ok = await postForm(`${server.url}/token`, base, {
    authorization: `Basic ${btoa(`${client.clientId}:${secret}`)}`,
  });
  assert.equal(ok.status, 200);
  const stored = await server.deps.db.get(
    "SELECT secret_hash FROM oauth_clients WHERE client_id = ?",
    client.clientId,
  ) as { secret_hash: string };
  assert.notEqual(stored.secret_hash, secret, "stored hashed");
});

Deno.test("[oauth] E2 the registered method is enforced exactly (none, basic, post)", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const post = await staticFlow(server, alice, "client_secret_post");
  const viaBasic = await postForm(`${server.url}/token`, post.base, {
    authorization: `Basic ${btoa(`${post.client.clientId}:${post.secret}`)}`,
  });
  assert.equal(viaBasic.status, 401, "post client may not use Basic");
  const viaPost = await postForm(`${server.url}/token`, {
    ...post.base,
    client_id: post.client.clientId,
    client_secret: post.secret!,
  });
  assert.equal(viaPost.status, 200);

  const basic = await staticFlow(server, alice, "client_secret_basic");
  const basicViaPost = await postForm(`${server.url}/token`, {
    ...basic.base,
    client_id: basic.client.clientId,
    client_secret: basic.secret!,
  });
  assert.equal(basicViaPost.status, 401, "basic client may not use post");

  const none = await staticFlow(server, alice, "none");
  const noneWithSecret = await postForm(`${server.url}/token`, {
    ...none.base,
    client_id: none.client.clientId,
    client_secret: "invented",
  });
  assert.equal(noneWithSecret.status, 401);
  const noneOk = await postForm(`${server.url}/token`, {
    ...none.base,
    client_id: none.client.clientId,
  });
  assert.equal(noneOk.status, 200);
});
