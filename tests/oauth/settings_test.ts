import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser, pageActorOf } from "../helpers/oauth_client.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { connect, register } from "../helpers/oauth_flow.ts";
import {
  checkClientAllowed,
  matchesRedirectPattern,
  validateAllowlist,
} from "../../src/core/workspace_settings.ts";
import { isGrantActive } from "../../src/core/oauth_grants.ts";
import { issueMcpToken, verifyMcpToken } from "../../src/core/mcp_tokens.ts";
import { verifyAccessToken } from "../../src/auth/jwt.ts";
import type { TestServer } from "../helpers/server.ts";
import { registerRelayServer } from "../../src/core/relay_registry.ts";

Deno.test("[settings] Dust's redirect patterns: *, scheme://host:*[/path], exact", () => {
  const yes: [string, string][] = [
    ["*", "cursor://anysphere.cursor-mcp/oauth/callback"],
    ["http://localhost:*", "http://localhost:33418/callback"],
    ["http://localhost:*", "http://localhost/callback"],
    ["HTTP://LocalHost:*", "http://localhost:1/x"],
    ["http://127.0.0.1:*/callback", "http://127.0.0.1:5555/callback"],
    ["https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback"],
    ["https://Claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback"],
  ];
  const no: [string, string][] = [
    ["http://localhost:*", "http://127.0.0.1:33418/callback"],
    ["http://localhost:*", "https://localhost:1/x"],
    ["http://127.0.0.1:*/callback", "http://127.0.0.1:5555/other"],
    ["https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback/x"],
    ["https://claude.ai/a", "https://evil.ai/a"],
  ];
  for (const [p, u] of yes) assert.equal(matchesRedirectPattern(p, u), true, `${p} ~ ${u}`);
  for (const [p, u] of no) assert.equal(matchesRedirectPattern(p, u), false, `${p} !~ ${u}`);
});

Deno.test("[settings] allowlist validation: scheme prefix required, no empty entries or duplicates", () => {
  assert.deepEqual(validateAllowlist(["cursor://x/cb", "*"]), ["cursor://x/cb", "*"]);
  assert.throws(() => validateAllowlist(["localhost:3000"]), /must start with a scheme/);
  assert.throws(() => validateAllowlist([" "]), /must not be empty/);
  assert.throws(() => validateAllowlist(["http://a", "http://a"]), /listed twice/);
});

async function admin() {
  const server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  return { server, alice, browser };
}

async function saveSettings(b: BrowserHttp, wId: string, fields: Record<string, string>) {
  const page = await b.get(`/w/${wId}/settings`);
  return await b.post(`/w/${wId}/settings`, { csrf: formValue(page.text, "csrf")!, ...fields });
}

function wsOf(_server: TestServer, id: number) {
  return { id };
}

Deno.test("[settings] allowlist mode refuses clients whose redirect URIs are not all allowed", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const r = await saveSettings(browser, alice.workspace.sId, {
    mcp_enabled: "1",
    allow_token_in_url: "1",
    redirect_policy: "allowlist",
    allowed_redirect_uris: "http://localhost:*\nhttp://127.0.0.1:*",
  });
  assert.equal(r.status, 200);
  assert.match(r.text, /Settings saved/);
  const loopback = await register(server.url, {
    client_name: "cli",
    redirect_uris: ["http://127.0.0.1:9/cb"],
    token_endpoint_auth_method: "none",
  });
  const cursor = await register(server.url, {
    client_name: "cursor",
    redirect_uris: [
      "cursor://anysphere.cursor-mcp/oauth/callback",
      "http://localhost:8787/callback",
    ],
    token_endpoint_auth_method: "none",
  });
  const ws = wsOf(server, alice.workspace.id);
  assert.deepEqual(await checkClientAllowed(server.deps.db, ws, loopback.body.client_id), {
    allowed: true,
  });
  assert.deepEqual(await checkClientAllowed(server.deps.db, ws, cursor.body.client_id), {
    allowed: false,
    error: "forbidden",
    description: "Connect application redirect URIs are not allowed for this workspace",
  });
  assert.deepEqual(
    await checkClientAllowed(server.deps.db, ws, null),
    { allowed: true },
    "MCP tokens",
  );
  // The consent page refuses too, instead of minting a token /mcp would refuse.
  await assert.rejects(
    connect(server.url, alice, {
      browser,
      clientId: cursor.body.client_id,
      redirectUri: "http://localhost:8787/callback",
    }),
    /403/,
  );
});

Deno.test("[settings] MCP off: checkClientAllowed says the server is disabled, consent refuses", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  await saveSettings(browser, alice.workspace.sId, {
    redirect_policy: "all",
    allowed_redirect_uris: "http://localhost:*",
  });
  assert.deepEqual(
    await checkClientAllowed(server.deps.db, wsOf(server, alice.workspace.id), null),
    {
      allowed: false,
      error: "forbidden",
      description: "MCP server is disabled for this workspace",
    },
  );
  await assert.rejects(connect(server.url, alice, { browser }), /403/);
  const page = await browser.get(`/w/${alice.workspace.sId}/integrations`);
  assert.match(page.text, /turned off for this workspace/);
});

Deno.test("[settings] bad settings are refused with a clear message; non-admins get 403", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const bad = await saveSettings(browser, alice.workspace.sId, {
    mcp_enabled: "1",
    redirect_policy: "allowlist",
    allowed_redirect_uris: "localhost:3000",
  });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /must start with a scheme/);
  const bob = await createPasswordUser(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const b2 = new BrowserHttp(server.url);
  await b2.signIn(bob.email, bob.password);
  assert.equal((await b2.get(`/w/${alice.workspace.sId}/settings`)).status, 403);
  const csrf = formValue((await b2.get(`/w/${alice.workspace.sId}/integrations`)).text, "csrf")!;
  const post = await b2.post(`/w/${alice.workspace.sId}/settings`, {
    csrf,
    redirect_policy: "all",
  });
  assert.equal(post.status, 403);
});

Deno.test("[settings] static clients: created with a secret shown once, deleted with their grants", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const page = await browser.get(`/w/${alice.workspace.sId}/settings`);
  const csrf = formValue(page.text, "csrf")!;
  const created = await browser.post(`/w/${alice.workspace.sId}/settings/clients`, {
    csrf,
    name: "Our Claude",
    redirect_uris: "http://127.0.0.1:53682/callback",
    auth_method: "client_secret_post",
  });
  const clientId = /id="new-client-id">([^<]+)</.exec(created.text)![1];
  const secret = /id="new-client-secret">([^<]+)</.exec(created.text)![1];
  assert.ok(secret.startsWith("dcs_"));
  assert.ok(!(await browser.get(`/w/${alice.workspace.sId}/settings`)).text.includes(secret));
  const none = await browser.post(`/w/${alice.workspace.sId}/settings/clients`, {
    csrf,
    name: "Public",
    redirect_uris: "http://127.0.0.1:53682/callback",
    auth_method: "none",
  });
  assert.ok(!/new-client-secret/.test(none.text), "public clients have no secret");
  const publicId = /id="new-client-id">([^<]+)</.exec(none.text)![1];
  const c = await connect(server.url, alice, { browser, clientId: publicId });
  const claims = await verifyAccessToken(
    server.deps.keys,
    server.deps.tokenCache,
    c.tokens.access_token,
    {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    },
  );
  const del = await browser.post(`/w/${alice.workspace.sId}/settings/clients/delete`, {
    csrf,
    client_id: publicId,
  });
  assert.match(del.text, /Client deleted/);
  assert.equal(await isGrantActive(server.deps.db, claims!.gid!), false);
  void clientId;
});

Deno.test("[connected] admins see and revoke everyone's access; users only their own", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const bob = await createPasswordUser(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const bobBrowser = new BrowserHttp(server.url);
  await bobBrowser.signIn(bob.email, bob.password);
  const bobGrant = await connect(server.url, bob, { browser: bobBrowser });
  const aliceGrant = await connect(server.url, alice, { browser });
  const bobToken = await issueMcpToken(server.deps.db, {
    userId: bob.user.id,
    workspaceId: bob.workspace.id,
  });
  const gid = async (t: string) =>
    (await verifyAccessToken(server.deps.keys, server.deps.tokenCache, t, {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    }))!.gid!;
  const aliceGid = await gid(aliceGrant.tokens.access_token);
  const bobGid = await gid(bobGrant.tokens.access_token);

  const path = `/w/${alice.workspace.sId}/connected`;
  const bobView = await bobBrowser.get(path);
  assert.ok(bobView.text.includes(bobGid));
  assert.ok(!bobView.text.includes(aliceGid), "a user sees only their own grants");
  const bobCsrf = formValue(bobView.text, "csrf")!;
  const steal = await bobBrowser.post(`${path}/revoke`, {
    csrf: bobCsrf,
    kind: "grant",
    id: aliceGid,
  });
  assert.equal(steal.status, 404);
  assert.ok(await isGrantActive(server.deps.db, aliceGid));

  const adminView = await browser.get(path);
  assert.ok(adminView.text.includes(aliceGid) && adminView.text.includes(bobGid));
  assert.ok(adminView.text.includes(bobToken.sId));
  const csrf = formValue(adminView.text, "csrf")!;
  assert.equal(
    (await browser.post(`${path}/revoke`, { csrf, kind: "grant", id: bobGid })).status,
    200,
  );
  assert.equal(await isGrantActive(server.deps.db, bobGid), false);
  await browser.post(`${path}/revoke`, { csrf, kind: "token", id: bobToken.sId });
  assert.deepEqual(await verifyMcpToken(server.deps.db, bobToken.token), {
    ok: false,
    reason: "revoked",
  });
  const noCsrf = await browser.post(`${path}/revoke`, { kind: "grant", id: aliceGid });
  assert.equal(noCsrf.status, 403);
});

Deno.test("[account] changing the password revokes every grant and MCP token and other sessions", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const c = await connect(server.url, alice, { browser });
  const token = await issueMcpToken(server.deps.db, {
    userId: alice.user.id,
    workspaceId: alice.workspace.id,
  });
  const other = new BrowserHttp(server.url);
  await other.signIn(alice.email, alice.password);
  const page = await browser.get("/account");
  const csrf = formValue(page.text, "csrf")!;
  const wrong = await browser.post("/account/password", {
    csrf,
    current: "nope-nope",
    next: "new password 1",
  });
  assert.equal(wrong.status, 400);
  assert.match(wrong.text, /current password is wrong/);
  const r = await browser.post("/account/password", {
    csrf,
    current: alice.password,
    next: "new password 1",
  });
  assert.equal(r.status, 200);
  assert.match(
    r.text,
    /1 OAuth grant\(s\), 1 MCP token\(s\) and 0 personal access token\(s\) revoked/,
  );
  const claims = await verifyAccessToken(
    server.deps.keys,
    server.deps.tokenCache,
    c.tokens.access_token,
    {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    },
  );
  assert.equal(await isGrantActive(server.deps.db, claims!.gid!), false);
  assert.equal((await verifyMcpToken(server.deps.db, token.token)).ok, false);
  assert.equal((await other.get("/account")).status, 303, "the other session ended");
  assert.equal((await browser.get("/account")).status, 200, "this session stays");
});

Deno.test("[settings] a new workspace: MCP on, accept all, allowlist prefilled with Dust's loopback defaults, token in URL allowed", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const page = await browser.get(`/w/${alice.workspace.sId}/settings`);
  assert.equal(page.status, 200);
  assert.match(page.text, /name="mcp_enabled" value="1" checked/);
  assert.match(page.text, /name="allow_token_in_url" value="1" checked/);
  assert.match(page.text, /<option value="all" selected/);
  const allowlist = /<textarea id="allowlist"[^>]*>([^<]*)<\/textarea>/.exec(page.text)![1];
  assert.deepEqual(allowlist.trim().split("\n"), ["http://localhost:*", "http://127.0.0.1:*"]);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
});

Deno.test("[connected] the page lists each grant's client, user, scopes, created and last used, MCP tokens and registered clients", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const c = await connect(server.url, alice, { browser, readOnly: true });
  const token = await issueMcpToken(server.deps.db, {
    userId: alice.user.id,
    workspaceId: alice.workspace.id,
  });
  const page = await browser.get(`/w/${alice.workspace.sId}/connected`);
  assert.equal(page.status, 200);
  const grantRow = /<tr data-grant="[^"]+">([\s\S]*?)<\/tr>/.exec(page.text)![1];
  const cells = [...grantRow.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
  assert.equal(cells[0], "Test client");
  assert.equal(cells[1], alice.email);
  assert.equal(cells[2], "read");
  assert.match(cells[3], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, "created");
  assert.match(cells[4], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, "last used");
  assert.match(page.text, new RegExp(`data-token="${token.sId}"`));
  assert.ok(!page.text.includes(token.token), "never the token itself");
  assert.match(page.text, /<h2>Registered clients<\/h2>/);
  assert.ok(page.text.includes(c.clientId), "the DCR client is listed");
});

Deno.test("[connected] client-side MCP server registrations: listed, revocable by their user or an admin only", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const bob = await createPasswordUser(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });

  const mine = await registerRelayServer(server.deps, await pageActorOf(server, alice), {
    serverName: "Alice Tools",
  });
  const bobs = await registerRelayServer(server.deps, await pageActorOf(server, bob), {
    serverName: "Bob Tools",
  });
  const path = `/w/${alice.workspace.sId}/connected`;
  const bobBrowser = new BrowserHttp(server.url);
  await bobBrowser.signIn(bob.email, bob.password);
  const bobView = await bobBrowser.get(path);
  assert.ok(bobView.text.includes(`data-relay="${bobs.serverId}"`));
  assert.ok(!bobView.text.includes(mine.serverId), "a user sees only their own servers");
  const steal = await bobBrowser.post(`${path}/revoke`, {
    csrf: formValue(bobView.text, "csrf")!,
    kind: "relay",
    id: mine.serverId,
  });
  assert.equal(steal.status, 404);
  const adminView = await browser.get(path);
  assert.ok(adminView.text.includes(mine.serverId) && adminView.text.includes(bobs.serverId));
  const r = await browser.post(`${path}/revoke`, {
    csrf: formValue(adminView.text, "csrf")!,
    kind: "relay",
    id: bobs.serverId,
  });
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes(bobs.serverId), "gone from the list");
  const left = await server.deps.db.all("SELECT server_id FROM relay_registrations") as {
    server_id: string;
  }[];
  assert.deepEqual(left.map((x) => x.server_id), [mine.serverId]);
});

Deno.test("[settings] every settings and account form refuses a POST with a missing or wrong CSRF token", async () => {
  const { server, alice, browser } = await admin();
  await using _ = server;
  const ws = `/w/${alice.workspace.sId}`;
  const posts: [string, Record<string, string>][] = [
    [`${ws}/settings`, { redirect_policy: "all", allowed_redirect_uris: "http://localhost:*" }],
    [`${ws}/settings/clients`, {
      name: "x",
      redirect_uris: "http://127.0.0.1:1/cb",
      auth_method: "none",
    }],
    [`${ws}/settings/clients/delete`, { client_id: "x" }],
    ["/account/password", { current: alice.password, next: "new password 1" }],
  ];
  for (const [path, fields] of posts) {
    for (const csrf of [{}, { csrf: "x".repeat(43) }] as Record<string, string>[]) {
      const r = await browser.post(path, { ...fields, ...csrf });
      assert.equal(r.status, 403, `${path} ${JSON.stringify(csrf)}`);
    }
  }
  const settings = await server.deps.db.get(
    "SELECT mcp_enabled FROM workspaces WHERE id = ?",
    alice.workspace.id,
  ) as { mcp_enabled: number };
  assert.equal(settings.mcp_enabled, 1, "MCP was not turned off");
  const statics = await server.deps.db.get("SELECT count(*) AS n FROM oauth_clients") as {
    n: number;
  };
  assert.equal(statics.n, 0, "no client was created");
  await browser.post("/logout", { csrf: "x".repeat(43) });
  assert.equal((await browser.get("/account")).status, 200, "a forged logout does nothing");
  const other = new BrowserHttp(server.url);
  await other.signIn(alice.email, alice.password);
  assert.equal((await other.get("/account")).status, 200, "the password did not change");
});
