import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createPasswordUser, pkcePair } from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { authorizeUrl, connect, postForm, register } from "../helpers/oauth_flow.ts";
import {
  cimdDoc,
  type CimdFixture,
  PRIVATE_HOST,
  PUBLIC_HOST,
  startCimdFixture,
} from "../helpers/cimd_fixture.ts";
import { addressKey, FetchBudget, type FetchBudgetLimits } from "../../src/oauth/cimd_budget.ts";
import type { OAuthError } from "../../src/core/oauth_error.ts";
import {
  cacheLifetimeMs,
  CIMD_TIMEOUT_MS,
  CimdResolver,
  fetchMetadataDocument,
  isPublicAddress,
} from "../../src/oauth/cimd.ts";

const ID = (path: string) => `https://${PUBLIC_HOST}${path}`;
/** The requesting address the resolver tests fetch for. */
const ME = "127.0.0.1";

/** A resolver with its own budget (generous unless `limits` says otherwise). */
function newResolver(
  server: TestServer,
  fixture: CimdFixture,
  limits: FetchBudgetLimits = { perAddress: 1000, total: 1000 },
) {
  return new CimdResolver(server.deps.db, fixture.hooks, new FetchBudget(limits));
}

async function setup() {
  const fixture = startCimdFixture();
  const server = await startTestServer({ cimdFetch: fixture.hooks });
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  return { fixture, server, alice, browser };
}

async function refused(p: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(p, (e: Error) => {
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("[oauth] C1 malformed CIMD client_ids get an error page; DCR ids are never https", async () => {
  const { fixture, server, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  const { challenge } = pkcePair();
  for (
    const clientId of [
      "https://client.example.com/a/../x",
      "https://user:pw@client.example.com/x",
      "https://client.example.com/x#frag",
      "https://client.example.com/",
      "https://client.example.com/%2e%2e/x",
    ]
  ) {
    const r = await browser.get(authorizeUrl(server.url, { clientId, challenge }));
    assert.equal(r.status, 400, clientId);
    assert.equal(r.location, null);
  }
  const dcr = await register(server.url, {
    client_name: "x",
    redirect_uris: ["http://127.0.0.1:1/cb"],
    token_endpoint_auth_method: "none",
  });
  assert.ok(!dcr.body.client_id.startsWith("https://"));
});

Deno.test("[oauth] C2 SSRF guard refuses loopback, private, link-local and special-use addresses", async () => {
  for (
    const ip of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "0.0.0.0",
      "100.64.0.1",
      "224.0.0.1",
      "::1",
      "fe80::1",
      "fc00::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "64:ff9b::a00:1",
      "2001:db8::1",
      "::",
    ]
  ) {
    assert.equal(isPublicAddress(ip), false, ip);
  }
  for (const ip of ["93.184.216.34", "8.8.8.8", "2606:4700::1111"]) {
    assert.equal(isPublicAddress(ip), true, ip);
  }
  // A real local HTTP server on loopback: the unhooked (production) guard refuses it.
  await using fixture = startCimdFixture();
  fixture.serveJson("/doc.json", cimdDoc("/doc.json"));
  const port = new URL(fixture.base).port;
  await refused(fetchMetadataDocument(`https://127.0.0.1:${port}/doc.json`), /port \(443\)/);
  await refused(fetchMetadataDocument("https://127.0.0.1/doc.json"), /public addresses only/);
  await refused(fetchMetadataDocument("https://[::1]/doc.json"), /public addresses only/);
  await refused(
    fetchMetadataDocument(`https://${PRIVATE_HOST}/doc.json`, fixture.hooks),
    /does not resolve to public addresses only/,
  );
  assert.equal(fixture.hits.get("/doc.json") ?? 0, 0, "nothing was fetched");
});

Deno.test("[oauth] C2 SSRF guard refuses redirects, oversize bodies, non-JSON and non-200", async () => {
  await using fixture = startCimdFixture();
  fixture.routes.set(
    "/redirect",
    () => new Response(null, { status: 302, headers: { location: "http://169.254.169.254/" } }),
  );
  fixture.routes.set(
    "/big",
    () =>
      new Response("x".repeat(10 * 1024 * 1024), {
        headers: { "content-type": "application/json" },
      }),
  );
  fixture.routes.set("/big-stream", () => {
    let n = 0;
    const body = new ReadableStream({
      pull(ctl) {
        if (n++ > 2000) ctl.close();
        else ctl.enqueue(new TextEncoder().encode(" ".repeat(1024)));
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  fixture.routes.set(
    "/html",
    () => new Response("<html></html>", { headers: { "content-type": "text/html" } }),
  );
  fixture.routes.set("/500", () => new Response("{}", { status: 500 }));
  await refused(fetchMetadataDocument(ID("/redirect"), fixture.hooks), /redirect/);
  await refused(fetchMetadataDocument(ID("/big"), fixture.hooks), /larger than 5120/);
  await refused(fetchMetadataDocument(ID("/big-stream"), fixture.hooks), /larger than 5120/);
  await refused(fetchMetadataDocument(ID("/html"), fixture.hooks), /not JSON/);
  await refused(fetchMetadataDocument(ID("/500"), fixture.hooks), /HTTP 500/);
});

Deno.test("[oauth] C2 a host that never answers is given up after the 5 s timeout", async () => {
  await using fixture = startCimdFixture();
  fixture.routes.set("/slow.json", (req) =>
    new Promise<Response>((resolve) => {
      // Answer only once the fetcher gave up (or after 15 s, so the test cannot hang).
      const done = () =>
        resolve(new Response("{}", { headers: { "content-type": "application/json" } }));
      const safety = setTimeout(done, 15_000);
      req.signal.addEventListener("abort", () => {
        clearTimeout(safety);
        done();
      });
    }));
  const started = Date.now();
  await refused(fetchMetadataDocument(ID("/slow.json"), fixture.hooks), /timeout/);
  const took = Date.now() - started;
  assert.ok(took >= CIMD_TIMEOUT_MS - 100 && took < CIMD_TIMEOUT_MS + 3_000, `${took} ms`);
});

Deno.test("[oauth] C3 the document must name its own URL, a client_name and redirect_uris, no secret", async () => {
  const { fixture, server, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  fixture.serveJson("/mismatch.json", cimdDoc("/other.json"));
  fixture.serveJson("/secret.json", cimdDoc("/secret.json", { client_secret: "s" }));
  fixture.serveJson("/noname.json", cimdDoc("/noname.json", { client_name: undefined }));
  fixture.serveJson("/noredirect.json", cimdDoc("/noredirect.json", { redirect_uris: [] }));
  fixture.serveJson(
    "/basic.json",
    cimdDoc("/basic.json", { token_endpoint_auth_method: "client_secret_basic" }),
  );
  const { challenge } = pkcePair();
  const expect = [
    ["/mismatch.json", /client_id is not the URL/],
    ["/secret.json", /client secret/],
    ["/noname.json", /client_name/],
    ["/noredirect.json", /redirect_uris/],
    ["/basic.json", /needs none/],
  ] as const;
  for (const [path, why] of expect) {
    const r = await browser.get(authorizeUrl(server.url, { clientId: ID(path), challenge }));
    assert.equal(r.status, 400, path);
    assert.match(r.text, why, path);
  }
});

Deno.test("[oauth] C3 a document's client_uri and logo_uri are kept only as https; about: and view-source: redirects are refused", async () => {
  const { fixture, server } = await setup();
  await using _f = fixture;
  await using _s = server;
  const resolver = newResolver(server, fixture);
  fixture.serveJson(
    "/js.json",
    cimdDoc("/js.json", { client_uri: "javascript:alert(1)", logo_uri: "javascript:alert(2)" }),
  );
  const js = await resolver.resolve(ID("/js.json"), ME);
  assert.equal(js.clientUri, null);
  assert.equal(js.logoUri, null);
  fixture.serveJson(
    "/ok-uris.json",
    cimdDoc("/ok-uris.json", {
      client_uri: "https://client.example.com/",
      logo_uri: "https://client.example.com/logo.png",
    }),
  );
  const ok = await resolver.resolve(ID("/ok-uris.json"), ME);
  assert.equal(ok.clientUri, "https://client.example.com/");
  assert.equal(ok.logoUri, "https://client.example.com/logo.png");
  for (const bad of ["about:blank", "view-source:https://client.example.com/"]) {
    const path = `/bad-${bad.slice(0, 5)}.json`;
    fixture.serveJson(path, cimdDoc(path, { redirect_uris: [bad] }));
    await assert.rejects(resolver.resolve(ID(path), ME), /scheme is not allowed/, bad);
  }
});

Deno.test("[oauth] C4 a ChatGPT-shaped document negotiates none and completes a public flow", async () => {
  const { fixture, server, alice, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  fixture.serveJson(
    "/oauth/abc/client.json",
    cimdDoc("/oauth/abc/client.json", {
      client_name: "ChatGPT",
      redirect_uris: ["https://chatgpt.com/connector/oauth/cb123"],
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_methods_supported: ["none", "private_key_jwt"],
      jwks_uri: "https://chatgpt.com/oauth/jwks.json",
      scope: "read write offline_access",
    }),
  );
  const c = await connect(server.url, alice, {
    browser,
    clientId: ID("/oauth/abc/client.json"),
    redirectUri: "https://chatgpt.com/connector/oauth/cb123",
    resource: `${server.config.publicUrl}/mcp`,
  });
  assert.ok(c.tokens.access_token);
  const refreshed = await postForm(`${server.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: c.tokens.refresh_token,
    client_id: ID("/oauth/abc/client.json"),
  });
  assert.equal(refreshed.status, 200);
});

Deno.test("[oauth] C5 a port-less loopback redirect in the document matches any port", async () => {
  const { fixture, server, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  fixture.serveJson(
    "/claude-code.json",
    cimdDoc("/claude-code.json", {
      client_name: "Claude Code",
      redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"],
    }),
  );
  const { challenge } = pkcePair();
  const ok = await browser.get(authorizeUrl(server.url, {
    clientId: ID("/claude-code.json"),
    redirectUri: "http://localhost:53211/callback",
    challenge,
  }));
  assert.equal(ok.status, 303);
  const bad = await browser.get(authorizeUrl(server.url, {
    clientId: ID("/claude-code.json"),
    redirectUri: "http://localhost:53211/other",
    challenge,
  }));
  assert.equal(bad.status, 400);
});

Deno.test("[oauth] C6 documents are cached by max-age (clamped), errors are not cached, fetches coalesce", async () => {
  assert.equal(cacheLifetimeMs("max-age=1"), 30_000);
  assert.equal(cacheLifetimeMs("public, max-age=60"), 60_000);
  assert.equal(cacheLifetimeMs("max-age=99999999"), 24 * 3600 * 1000);
  const { fixture, server } = await setup();
  await using _f = fixture;
  await using _s = server;
  const resolver = newResolver(server, fixture);
  let fail = true;
  let name = "Fixture Client";
  fixture.routes.set(
    "/flaky.json",
    () =>
      fail
        ? new Response("oops", { status: 503 })
        : new Response(JSON.stringify(cimdDoc("/flaky.json", { client_name: name })), {
          headers: { "content-type": "application/json", "cache-control": "max-age=60" },
        }),
  );
  await assert.rejects(resolver.resolve(ID("/flaky.json"), ME));
  fail = false;
  const [a, b] = await Promise.all([
    resolver.resolve(ID("/flaky.json"), ME),
    resolver.resolve(ID("/flaky.json"), ME),
  ]);
  assert.equal(a.name, "Fixture Client");
  assert.equal(b.name, "Fixture Client");
  assert.equal(fixture.hits.get("/flaky.json"), 2, "one failed fetch, then one shared fetch");
  name = "Renamed Client";
  assert.equal((await resolver.resolve(ID("/flaky.json"), ME)).name, "Fixture Client", "cached");
  assert.equal(fixture.hits.get("/flaky.json"), 2, "served from cache");
  const later = await resolver.resolve(ID("/flaky.json"), ME, Date.now() + 61_000);
  assert.equal(fixture.hits.get("/flaky.json"), 3, "re-fetched after max-age");
  assert.equal(later.name, "Renamed Client", "the changed document is picked up");
});

Deno.test("[oauth] C6 an invalid document is not cached: once fixed it is fetched again at once", async () => {
  const { fixture, server } = await setup();
  await using _f = fixture;
  await using _s = server;
  const resolver = newResolver(server, fixture);
  fixture.serveJson("/fixme.json", cimdDoc("/elsewhere.json"), { "cache-control": "max-age=600" });
  await assert.rejects(resolver.resolve(ID("/fixme.json"), ME), /client_id is not the URL/);
  fixture.serveJson("/fixme.json", cimdDoc("/fixme.json"), { "cache-control": "max-age=600" });
  const ok = await resolver.resolve(ID("/fixme.json"), ME);
  assert.equal(ok.clientId, ID("/fixme.json"));
  assert.equal(fixture.hits.get("/fixme.json"), 2);
});

Deno.test("[oauth] C7 consent shows the client_id host and the redirect host", async () => {
  const { fixture, server, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  fixture.serveJson("/c7.json", cimdDoc("/c7.json", { client_name: "Totally Claude" }));
  const { challenge } = pkcePair();
  const { page } = await browser.openConsent(
    authorizeUrl(server.url, { clientId: ID("/c7.json"), challenge }),
  );
  assert.equal(page.status, 200);
  assert.match(page.text, /client hosted at client\.example\.com/);
  assert.match(page.text, /127\.0\.0\.1:53682/);
  assert.match(page.text, /an application on this computer/);
});

Deno.test("[oauth] C8 a failing document gives an error page at /authorize and invalid_client at /token", async () => {
  const { fixture, server, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  fixture.routes.set("/down.json", () => new Response("down", { status: 500 }));
  const { challenge } = pkcePair();
  const r = await browser.get(authorizeUrl(server.url, { clientId: ID("/down.json"), challenge }));
  assert.equal(r.status, 400);
  assert.equal(r.location, null);
  assert.match(r.text, /HTTP 500/);
  const t = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code: "x",
    code_verifier: "y".repeat(43),
    client_id: ID("/down.json"),
  });
  assert.equal(t.status, 401);
  assert.equal(t.body.error, "invalid_client");
});

Deno.test("[oauth] C2 finding 10: error pages never reveal a resolved address; no address and an inward one read the same", async () => {
  const { fixture, server, browser } = await setup();
  await using _f = fixture;
  await using _s = server;
  const { challenge } = pkcePair();
  const texts: string[] = [];
  for (const host of [PRIVATE_HOST, "nowhere.example.com"]) {
    const r = await browser.get(
      authorizeUrl(server.url, { clientId: `https://${host}/client.json`, challenge }),
    );
    assert.equal(r.status, 400, host);
    assert.equal(r.location, null);
    assert.doesNotMatch(r.text, /10\.0\.0\.5/, "the resolved address is not shown");
    // Each page carries a fresh CSP nonce; the rest must be identical.
    texts.push(r.text.replaceAll(host, "HOST").replace(/nonce="[^"]+"/g, 'nonce=""'));
  }
  assert.equal(texts[0], texts[1], "private and unresolvable names give the same page");
  const t = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code: "x",
    code_verifier: "y".repeat(43),
    client_id: `https://${PRIVATE_HOST}/client.json`,
  });
  assert.equal(t.status, 401);
  assert.doesNotMatch(JSON.stringify(t.body), /10\.0\.0\.5/);
});

Deno.test("[oauth] C2 finding 10: only the https default port; another port is refused before any lookup or connection", async () => {
  await using fixture = startCimdFixture();
  let lookups = 0;
  const hooks = {
    resolveHost: (host: string) => {
      lookups++;
      return fixture.hooks.resolveHost!(host);
    },
    fetch: fixture.hooks.fetch,
  };
  await using server = await startTestServer({ cimdFetch: hooks });
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  fixture.serveJson("/x", cimdDoc("/x"));
  const { challenge } = pkcePair();
  for (
    const clientId of [
      `https://${PUBLIC_HOST}:6379/x`,
      "https://93.184.216.34:6379/x",
      `https://${PUBLIC_HOST}:8443/x`,
    ]
  ) {
    const r = await browser.get(authorizeUrl(server.url, { clientId, challenge }));
    assert.equal(r.status, 400, clientId);
    assert.match(r.text, /https default port \(443\)/, clientId);
    const t = await postForm(`${server.url}/token`, {
      grant_type: "authorization_code",
      code: "x",
      code_verifier: "y".repeat(43),
      client_id: clientId,
    });
    assert.equal(t.status, 401, clientId);
    assert.equal(t.body.error, "invalid_client");
  }
  assert.equal(lookups, 0, "no name was resolved");
  assert.equal(fixture.hits.get("/x") ?? 0, 0, "no connection was attempted");
  // The same document on the default port is fetched (the control).
  const ok = await browser.get(authorizeUrl(server.url, { clientId: ID("/x"), challenge }));
  assert.equal(ok.status, 303);
  assert.equal(fixture.hits.get("/x"), 1);
});

Deno.test("[oauth] C2 finding 10: fetches are budgeted per requesting address (429 + Retry-After); cached documents still resolve", async () => {
  await using fixture = startCimdFixture();
  await using server = await startTestServer({
    cimdFetch: fixture.hooks,
    flags: { "cimd-fetches-per-ip": "3", "cimd-fetches-total": "100" },
  });
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  fixture.serveJson("/ok.json", cimdDoc("/ok.json"));
  const { challenge } = pkcePair();
  const authorize = (path: string) =>
    browser.get(authorizeUrl(server.url, { clientId: ID(path), challenge }));
  assert.equal((await authorize("/ok.json")).status, 303, "fetch 1: a valid document");
  // Failures are never cached: each costs a fetch.
  assert.equal((await authorize("/down-1.json")).status, 400, "fetch 2");
  assert.equal((await authorize("/down-2.json")).status, 400, "fetch 3");
  const over = await authorize("/down-3.json");
  assert.equal(over.status, 429);
  assert.match(over.text, /Too many client metadata document fetches from your address/);
  const wait = Number(over.headers.get("retry-after"));
  assert.ok(wait > 0 && wait <= 600, `Retry-After ${wait}`);
  assert.equal(fixture.hits.get("/down-3.json") ?? 0, 0, "no fetch past the budget");
  const token = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code: "x",
    code_verifier: "y".repeat(43),
    client_id: ID("/down-4.json"),
  });
  assert.equal(token.status, 429, JSON.stringify(token.body));
  assert.equal(token.body.error, "temporarily_unavailable", "not invalid_client: no re-register");
  assert.ok(token.headers.get("retry-after"));
  assert.equal((await authorize("/ok.json")).status, 303, "a cached document costs nothing");
  assert.equal(fixture.hits.get("/ok.json"), 1);
});

Deno.test("[oauth] C2 finding 10: a server-wide budget caps fetches across addresses; an IPv6 /64 is one address", async () => {
  const { fixture, server } = await setup();
  await using _f = fixture;
  await using _s = server;
  const wide = newResolver(server, fixture, { perAddress: 10, total: 3 });
  for (const [i, ip] of ["198.51.100.1", "198.51.100.2", "2001:db8:1:2::1"].entries()) {
    await assert.rejects(wide.resolve(ID(`/gone-${i}.json`), ip), /HTTP 404/);
  }
  await assert.rejects(wide.resolve(ID("/gone-3.json"), "198.51.100.4"), (e: OAuthError) => {
    assert.equal(e.status, 429);
    assert.match(e.description, /on this server/);
    return true;
  });
  assert.equal(fixture.hits.get("/gone-3.json") ?? 0, 0);
  const perHost = newResolver(server, fixture, { perAddress: 2, total: 100 });
  await assert.rejects(perHost.resolve(ID("/v6-a.json"), "2001:db8:1:2::1"), /HTTP 404/);
  await assert.rejects(perHost.resolve(ID("/v6-b.json"), "2001:db8:1:2:ffff::9"), /HTTP 404/);
  await assert.rejects(perHost.resolve(ID("/v6-c.json"), "[2001:db8:1:2::abcd]"), /Too many/);
  await assert.rejects(perHost.resolve(ID("/v6-d.json"), "2001:db8:1:3::1"), /HTTP 404/);
  assert.equal(addressKey("2001:0db8:0001:0002:0:0:0:1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("::ffff:198.51.100.7"), "198.51.100.7");
});
