import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser, pageActorOf, pkcePair } from "../helpers/oauth_client.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import {
  authorizeUrl,
  connect,
  exchange,
  obtainCode,
  registerPublicClient,
} from "../helpers/oauth_flow.ts";
import { createStaticClient } from "../../src/core/oauth_clients.ts";
import { isGrantActive } from "../../src/core/oauth_grants.ts";
import { verifyAccessToken } from "../../src/auth/jwt.ts";

const CB = "http://127.0.0.1:53682/callback";

async function signedIn() {
  const server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const clientId = await registerPublicClient(server.url, [CB]);
  return { server, alice, browser, clientId };
}

async function staticClient(
  server: Awaited<ReturnType<typeof signedIn>>["server"],
  alice: Awaited<ReturnType<typeof signedIn>>["alice"],
) {
  return (await createStaticClient(server.deps.db, await pageActorOf(server, alice), {
    name: "Static",
    redirectUris: [CB],
    authMethod: "none",
  })).client.clientId;
}

Deno.test("[oauth] F1 PKCE missing, plain, absent method or unknown method is refused", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const id = await staticClient(server, alice);
  const { challenge } = pkcePair();
  const cases = [
    { challenge: undefined },
    { challenge, method: "plain" },
    { challenge, method: null },
    { challenge, method: "S512" },
  ];
  for (const c of cases) {
    const r = await browser.get(authorizeUrl(server.url, { clientId: id, redirectUri: CB, ...c }));
    assert.equal(r.status, 302, JSON.stringify(c));
    const loc = new URL(r.location!);
    assert.equal(loc.searchParams.get("error"), "invalid_request");
    assert.equal(loc.searchParams.get("code"), null);
  }
  const noCode = await browser.get(
    authorizeUrl(server.url, { clientId: id, redirectUri: CB, challenge, responseType: "token" }),
  );
  assert.equal(new URL(noCode.location!).searchParams.get("error"), "unsupported_response_type");
});

Deno.test("[oauth] F2 unknown client or unregistered redirect: error page, never a redirect", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const { challenge } = pkcePair();
  const unknown = await browser.get(authorizeUrl(server.url, { clientId: "dcr_nope", challenge }));
  assert.equal(unknown.status, 400);
  assert.equal(unknown.location, null);
  assert.match(unknown.headers.get("content-type")!, /text\/html/);
  const wrong = await browser.get(
    authorizeUrl(server.url, {
      clientId,
      redirectUri: "https://evil.example.com/cb",
      challenge,
      method: "plain",
    }),
  );
  assert.equal(wrong.status, 400);
  assert.equal(wrong.location, null);
  assert.match(wrong.text, /redirect_uri is not registered/);
});

Deno.test("[oauth] F3 loopback redirects match on any port; hosts are not interchangeable", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const id = await registerPublicClient(server.url, [
    "http://127.0.0.1/callback",
    "http://localhost:33418/cb",
    "http://[::1]/cb",
  ]);
  const { challenge } = pkcePair();
  const ok = [
    "http://127.0.0.1:61234/callback",
    "http://localhost:50000/cb",
    "http://[::1]:4444/cb",
  ];
  for (const redirectUri of ok) {
    const r = await browser.get(authorizeUrl(server.url, { clientId: id, redirectUri, challenge }));
    assert.equal(r.status, 303, redirectUri);
    assert.match(r.location!, /^\/authorize\/consent\?request=/);
  }
  const bad = [
    "http://localhost:61234/callback",
    "http://127.0.0.1:5/cb",
    "http://127.0.0.1:7/callback/x",
  ];
  for (const redirectUri of bad) {
    const r = await browser.get(authorizeUrl(server.url, { clientId: id, redirectUri, challenge }));
    assert.equal(r.status, 400, redirectUri);
  }
  void alice;
});

Deno.test("[oauth] F4 an omitted resource defaults to the MCP URL; a foreign resource is invalid_target", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const c = await obtainCode(server.url, alice, { browser });
  const r = await exchange(server.url, c);
  const claims = await verifyAccessToken(
    server.deps.keys,
    server.deps.tokenCache,
    r.body.access_token,
    {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    },
  );
  assert.ok(claims, "aud = canonical MCP URL");
  const id = await staticClient(server, alice);
  const { challenge } = pkcePair();
  const foreign = await browser.get(
    authorizeUrl(server.url, {
      clientId: id,
      redirectUri: CB,
      challenge,
      resource: "https://evil.example.com/mcp",
    }),
  );
  assert.equal(new URL(foreign.location!).searchParams.get("error"), "invalid_target");
  const fragment = await browser.get(
    authorizeUrl(server.url, {
      clientId: id,
      redirectUri: CB,
      challenge,
      resource: `${server.config.publicUrl}/mcp#x`,
    }),
  );
  assert.equal(new URL(fragment.location!).searchParams.get("error"), "invalid_target");
});

Deno.test("[oauth] F5 unknown scopes are dropped and offline_access tolerated (narrowed, not refused)", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const c = await connect(server.url, alice, {
    browser,
    scope: "openid email read offline_access",
  });
  assert.equal(c.tokens.scope, "read");
});

Deno.test("[oauth] F6 the callback carries code, state and iss exactly once each", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const c = await obtainCode(server.url, alice, { browser });
  assert.deepEqual(c.callback.searchParams.getAll("code").length, 1);
  assert.deepEqual(c.callback.searchParams.getAll("state"), ["st-123"]);
  assert.deepEqual(c.callback.searchParams.getAll("iss"), [server.config.publicUrl]);
  assert.equal(c.callback.origin + c.callback.pathname, CB);
});

Deno.test("[oauth] F7 error redirects carry iss and state", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const id = await staticClient(server, alice);
  const r = await browser.get(
    authorizeUrl(server.url, { clientId: id, redirectUri: CB, state: "s1" }),
  );
  const loc = new URL(r.location!);
  assert.equal(loc.searchParams.get("iss"), server.config.publicUrl);
  assert.equal(loc.searchParams.get("state"), "s1");
  const { challenge } = pkcePair();
  const denied = await browser.approve(
    authorizeUrl(server.url, { clientId: id, redirectUri: CB, challenge, state: "s2" }),
    { decision: "deny" },
  );
  assert.equal(denied.searchParams.get("error"), "access_denied");
  assert.equal(denied.searchParams.get("iss"), server.config.publicUrl);
  assert.equal(denied.searchParams.get("state"), "s2");
});

Deno.test("[oauth] F8 consent is CSRF-protected, not frameable, no-referrer, 303, no CORS", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const { challenge } = pkcePair();
  const { url, page } = await browser.openConsent(
    authorizeUrl(server.url, { clientId, challenge }),
  );
  for (const h of [page.headers]) {
    assert.match(h.get("content-security-policy")!, /frame-ancestors 'none'/);
    assert.equal(h.get("x-frame-options"), "DENY");
    assert.equal(h.get("referrer-policy"), "no-referrer");
    assert.equal(h.get("access-control-allow-origin"), null);
  }
  const fields = {
    request: formValue(page.text, "request")!,
    workspace: formValue(page.text, "workspace")!,
    decision: "approve",
  };
  const missing = await browser.post("/authorize/consent", fields);
  assert.equal(missing.status, 403, "no CSRF token");
  const wrong = await browser.post("/authorize/consent", { ...fields, csrf: "x".repeat(43) });
  assert.equal(wrong.status, 403, "wrong CSRF token");
  const crossSite = await browser.post(
    "/authorize/consent",
    { ...fields, csrf: formValue(page.text, "csrf")! },
    "https://evil.example.com",
  );
  assert.equal(crossSite.status, 403, "foreign Origin");
  const ok = await browser.post("/authorize/consent", {
    ...fields,
    csrf: formValue(page.text, "csrf")!,
  });
  assert.equal(ok.status, 303);
  void url;
  const preflight = await fetch(`${server.url}/authorize`, {
    method: "OPTIONS",
    headers: { origin: "http://localhost:6274", "access-control-request-method": "GET" },
  });
  await preflight.body?.cancel();
  assert.equal(preflight.headers.get("access-control-allow-origin"), null);
  const crossOriginGet = await fetch(authorizeUrl(server.url, { clientId, challenge }), {
    headers: { origin: "http://localhost:6274" },
    redirect: "manual",
  });
  await crossOriginGet.body?.cancel();
  assert.equal(crossOriginGet.headers.get("access-control-allow-origin"), null);
});

Deno.test("[oauth] F9 errors for self-registered clients need a user click, no automatic redirect", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const r = await browser.get(
    authorizeUrl(server.url, { clientId, method: "plain", challenge: "x" }),
  );
  assert.equal(r.status, 400);
  assert.equal(r.location, null);
  assert.match(r.text, /Return to 127\.0\.0\.1:53682/);
  assert.match(r.text, /error=invalid_request/);
});

Deno.test("[oauth] F10 codes are single-use, short-lived and bound to the client", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const c = await obtainCode(server.url, alice, { browser });
  assert.ok(c.code.length >= 43, "256-bit code");
  const row = await server.deps.db.get(
    "SELECT max(expires_at - created_at) AS ttl FROM oauth_codes",
  ) as { ttl: number };
  assert.ok(row.ttl > 0 && row.ttl <= 10 * 60 * 1000, "lives at most 10 minutes");
  await server.deps.db.run("UPDATE oauth_codes SET expires_at = 1");
  const expired = await exchange(server.url, c);
  assert.equal(expired.body.error, "invalid_grant");
});

Deno.test("[oauth] J1 a signed-in user still sees the consent page for every new request", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  await connect(server.url, alice, { browser });
  const clientId = await registerPublicClient(server.url, [CB]);
  const { challenge } = pkcePair();
  const { page } = await browser.openConsent(authorizeUrl(server.url, { clientId, challenge }));
  assert.equal(page.status, 200);
  assert.match(page.text, /Allow “Test client”/);
});

Deno.test("[oauth] C9 grants of one client from two loopback ports both survive", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const clientId = await registerPublicClient(server.url, ["http://127.0.0.1/callback"]);
  const a = await connect(server.url, alice, {
    browser,
    clientId,
    redirectUri: "http://127.0.0.1:40001/callback",
  });
  const b = await connect(server.url, alice, {
    browser,
    clientId,
    redirectUri: "http://127.0.0.1:40002/callback",
  });
  const gid = async (t: string) =>
    (await verifyAccessToken(server.deps.keys, server.deps.tokenCache, t, {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    }))!.gid!;
  assert.ok(await isGrantActive(server.deps.db, await gid(a.tokens.access_token)));
  assert.ok(await isGrantActive(server.deps.db, await gid(b.tokens.access_token)));
});

Deno.test("[oauth] consent expires after 10 minutes with a start-again page", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const { challenge } = pkcePair();
  const { url, page } = await browser.openConsent(
    authorizeUrl(server.url, { clientId, challenge }),
  );
  const row = await server.deps.db.get(
    "SELECT expires_at - created_at AS ttl FROM oauth_auth_requests",
  ) as { ttl: number };
  assert.equal(row.ttl, 10 * 60 * 1000);
  await server.deps.db.run("UPDATE oauth_auth_requests SET expires_at = 1");
  const again = await browser.get(url);
  assert.equal(again.status, 410);
  assert.match(again.text, /Authorization session expired/);
  assert.match(again.text, /Start again from your client/);
  const post = await browser.post("/authorize/consent", {
    request: formValue(page.text, "request")!,
    csrf: formValue(page.text, "csrf")!,
    workspace: formValue(page.text, "workspace")!,
    decision: "approve",
  });
  assert.equal(post.status, 410);
});

Deno.test("[oauth] without a session the consent page says Sign in to continue and comes back", async () => {
  const { server, alice, clientId } = await signedIn();
  await using _ = server;
  const fresh = new BrowserHttp(server.url);
  const { challenge } = pkcePair();
  const { url, page } = await fresh.openConsent(authorizeUrl(server.url, { clientId, challenge }));
  assert.equal(page.status, 401);
  assert.match(page.text, /Sign in to continue/);
  const next = /href="(\/login\?next=[^"]+)"/.exec(page.text)![1].replace(/&amp;/g, "&");
  assert.equal(new URL(next, server.url).searchParams.get("next"), url);
  const r = await fresh.post("/login", { email: alice.email, password: alice.password, next: url });
  assert.equal(r.status, 303);
  assert.equal(r.location, url);
  assert.equal((await fresh.get(url)).status, 200);
});

Deno.test("[oauth] consent shows client name, client host, redirect host and exact scopes", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const { challenge } = pkcePair();
  const { page } = await browser.openConsent(authorizeUrl(server.url, { clientId, challenge }));
  assert.match(page.text, /Test client/);
  assert.match(page.text, /127\.0\.0\.1:53682/);
  assert.match(page.text, /data-scope="read"/);
  assert.match(page.text, /data-scope="write"/);
});

Deno.test("[oauth] the read-only checkbox narrows the grant to read", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const c = await connect(server.url, alice, { browser, readOnly: true });
  assert.equal(c.tokens.scope, "read");
});

Deno.test("[oauth] the token is bound to the workspace picked on the consent page", async () => {
  const { server, alice, browser } = await signedIn();
  await using _ = server;
  const { createWorkspace } = await import("../../src/core/workspaces.ts");
  const second = await createWorkspace(server.deps.db, {
    name: "Second",
    adminUserId: alice.user.id,
  });
  const c = await connect(server.url, { ...alice, workspace: second }, { browser });
  const claims = await verifyAccessToken(
    server.deps.keys,
    server.deps.tokenCache,
    c.tokens.access_token,
    {
      issuer: server.config.publicUrl,
      audience: `${server.config.publicUrl}/mcp`,
    },
  );
  assert.equal(claims!.wid, second.sId);
});

Deno.test("[oauth] a workspace a user does not belong to cannot be picked", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const bob = await createPasswordUser(server, { email: "bob@example.com" });
  const { challenge } = pkcePair();
  const { page } = await browser.openConsent(authorizeUrl(server.url, { clientId, challenge }));
  const r = await browser.post("/authorize/consent", {
    request: formValue(page.text, "request")!,
    csrf: formValue(page.text, "csrf")!,
    workspace: bob.workspace.sId,
    decision: "approve",
  });
  assert.equal(r.status, 400);
  assert.match(r.text, /Pick one of your workspaces/);
});

Deno.test("[oauth] L2.1 sign-in never redirects off-origin (no open redirector)", async () => {
  const { server, alice } = await signedIn();
  await using _ = server;
  for (const next of ["https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com"]) {
    const b = new BrowserHttp(server.url);
    const r = await b.post("/login", { email: alice.email, password: alice.password, next });
    assert.equal(r.status, 303);
    assert.equal(r.location, "/", next);
  }
});

Deno.test("[oauth] L4.16 every page carries anti-framing and no-referrer headers", async () => {
  const { server, browser, clientId } = await signedIn();
  await using _ = server;
  const { challenge } = pkcePair();
  const pages = [
    "/login",
    "/authorize?client_id=nope",
    authorizeUrl(server.url, { clientId, challenge }),
  ];
  for (const p of pages) {
    const r = await browser.get(p);
    assert.equal(r.headers.get("x-frame-options"), "DENY", p);
    assert.match(r.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, p);
    assert.equal(r.headers.get("referrer-policy"), "no-referrer", p);
  }
});

Deno.test("[oauth] sign-in: a wrong password says so; failures are rate-limited per email and IP", async () => {
  const { server, alice } = await signedIn();
  await using _ = server;
  const b = new BrowserHttp(server.url);
  const wrong = await b.post("/login", { email: alice.email, password: "nope-nope" });
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /Wrong email or password/);
  for (let i = 0; i < 4; i++) await b.post("/login", { email: alice.email, password: "nope-nope" });
  const limited = await b.post("/login", { email: alice.email, password: alice.password });
  assert.equal(limited.status, 429);
  assert.ok(limited.headers.get("retry-after"));
  const other = await b.post("/login", { email: "bob@example.com", password: "whatever1" });
  assert.equal(other.status, 401, "another email is not limited");
});

Deno.test("[oauth] sign-in and sign-out refuse cross-site form posts (login CSRF)", async () => {
  const { server, alice } = await signedIn();
  await using _ = server;
  const fields = { email: alice.email, password: alice.password };
  for (const origin of ["https://evil.example.com", null]) {
    const b = new BrowserHttp(server.url);
    const r = await b.post("/login", fields, origin);
    assert.equal(r.status, 403, String(origin));
    assert.equal(b.cookies.size, 0, "no session was started");
  }
  const b = new BrowserHttp(server.url);
  await b.signIn(alice.email, alice.password);
  const out = await b.post("/logout", {}, "https://evil.example.com");
  assert.equal(out.status, 403);
  assert.equal((await b.get("/account")).status, 200, "still signed in");
});

Deno.test("[oauth] regions: an email unknown here is sent to the peer region's sign-in", async () => {
  await using eu = await startTestServer({ flags: { region: "eu" } });
  await using us = await startTestServer({ flags: { "peer-url": eu.config.publicUrl } });
  const b = new BrowserHttp(us.url);
  const r = await b.post("/login", { email: "eve@example.com", password: "whatever1" });
  assert.equal(r.status, 303);
  const loc = new URL(r.location!);
  assert.equal(loc.origin, eu.config.publicUrl);
  assert.equal(loc.searchParams.get("email"), "eve@example.com");
  assert.equal(loc.searchParams.get("password"), null);
  const page = await new BrowserHttp(eu.url).get(r.location!);
  assert.match(page.text, /value="eve@example.com"/);
  const back = await new BrowserHttp(eu.url).post("/login", {
    email: "eve@example.com",
    password: "whatever1",
    from_peer: "1",
  });
  assert.equal(back.status, 401, "no ping-pong");
  // A member of a workspace in the EU region signs in there after the hand-off.
  const eve = await createPasswordUser(eu, { email: "eve@example.com" });
  const handedOff = await b.post("/login", { email: eve.email, password: "anything" });
  assert.equal(new URL(handedOff.location!).origin, eu.config.publicUrl);
  const euBrowser = new BrowserHttp(eu.url);
  const form = await euBrowser.get(handedOff.location!);
  assert.match(form.text, /Your account lives in this region/);
  const signedIn = await euBrowser.post("/login", {
    email: eve.email,
    password: eve.password,
    from_peer: "1",
  });
  assert.equal(signedIn.status, 303);
  assert.equal((await euBrowser.get("/account")).status, 200, "signed in in the EU region");
});
