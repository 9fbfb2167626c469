/**
 * Hostile input on the authorization server and the signed-in pages: `/token`, `/register`,
 * `/revoke` (RFC 6749 JSON errors), `/authorize` and the consent POST (HTML error pages or
 * redirects), sign-in, metadata, and every page form with a valid session + CSRF token and
 * hostile fields. Replays: an authorization code and a rotated refresh token used twice, in
 * sequence and concurrently.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type FuzzWorld, startFuzzWorld } from "../helpers/fuzz_world.ts";
import { hostileJson, hostileString, idValue } from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { authorizeUrl, exchange, obtainCode, postForm } from "../helpers/oauth_flow.ts";
import { type PasswordUser, pkcePair } from "../helpers/oauth_client.ts";

const FORM = "application/x-www-form-urlencoded";
const REDIRECT = "http://127.0.0.1:53682/callback";

/** client_id values: A's DCR client, CIMD URLs (answered in-process), garbage. */
function clientId(world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(world.a.oauth.clientId),
    fc.constant(world.b.oauth.clientId),
    fc.constantFrom(
      "https://cimd.fuzz/ok.json",
      "https://cimd.fuzz/wrong-id.json",
      "https://cimd.fuzz/huge.json",
      "https://cimd.fuzz/not-json.json",
      "https://cimd.fuzz/html.json",
      "https://cimd.fuzz/array.json",
      "https://cimd.fuzz/redirect.json",
      "https://cimd.fuzz/missing.json",
      "https://127.0.0.1/x.json",
      "http://cimd.fuzz/plain-http.json",
      "https://user:pw@cimd.fuzz/ok.json",
      "https://cimd.fuzz/ok.json#frag",
    ),
    hostileString(),
  );
}

function uriValue(world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      REDIRECT,
      "http://127.0.0.1:1/callback",
      "http://localhost:53682/callback",
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "https://evil.example/cb",
      "//evil.example",
      "http://[::1]:53682/callback",
      `${world.server.url}/mcp`,
      `${world.server.url}/api/v1`,
      `${world.server.url}/mcp#x`,
    ),
    hostileString(),
  );
}

/** Form fields: each key present with a hostile value or absent. */
function form(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<Record<string, string>> {
  return fc.record(fields, { requiredKeys: [] }).map((f) =>
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, (v ?? "").toWellFormed()]))
  );
}

/** `base`, or `base` with one field replaced by a hostile value or dropped. */
function oneMutation(
  base: Record<string, string>,
  fields: Record<string, fc.Arbitrary<string>>,
): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    fc.constant(base),
    fc.constantFrom(...Object.keys(fields)).chain((k) =>
      fields[k].map((v) => ({ ...base, [k]: v.toWellFormed() }))
    ),
    fc.constantFrom(...Object.keys(base)).map((k) => {
      const o = { ...base };
      delete o[k];
      return o;
    }),
  );
}

/** Start a new authorization request as A and return its pending request id. */
async function freshRequest(world: FuzzWorld, browser: BrowserHttp): Promise<string> {
  const { challenge } = pkcePair();
  const start = await browser.get(
    authorizeUrl(world.server.url, { clientId: world.a.oauth.clientId, challenge }),
  );
  const page = await browser.get(start.location!);
  return formValue(page.text, "request")!;
}

function postReq(path: string, fields: Record<string, string>, extra: Record<string, string>) {
  return {
    method: "POST",
    path,
    headers: { "Content-Type": FORM, ...extra },
    body: new URLSearchParams(fields).toString(),
    as: null,
  } satisfies FuzzRequest;
}

Deno.test("[fuzz/oauth] /token, /revoke and /register answer RFC 6749 errors to hostile input", async () => {
  await using world = await startFuzzWorld();
  const str = () => fc.oneof(hostileString(), fc.string({ maxLength: 20 }));
  const tokenForm = form({
    grant_type: fc.oneof(
      fc.constantFrom("authorization_code", "refresh_token", "client_credentials", "password"),
      str(),
    ),
    code: str(),
    redirect_uri: uriValue(world),
    code_verifier: str(),
    client_id: clientId(world),
    client_secret: str(),
    refresh_token: fc.oneof(fc.constant("drt_" + "x".repeat(43)), str()),
    resource: uriValue(world),
    scope: fc.oneof(fc.constantFrom("read", "write", "read write", "admin", ""), str()),
  });
  const headers = fc.record({
    "Content-Type": fc.constantFrom(FORM, FORM, "application/json", "text/plain", ""),
    Authorization: fc.constantFrom(
      "",
      "Basic Zm9vOmJhcg==",
      "Basic !!!",
      "Basic " + btoa("a:" + "b".repeat(500)),
      "Bearer x",
    ),
  }).map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== "")));
  await checkProperty(world, "/token", fc.tuple(tokenForm, headers), async ([f, h]) => {
    const req = { ...postReq("/token", f, {}), headers: h };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_json");
  }, 120);

  const revokeForm = form({
    token: fc.oneof(fc.constant(world.b.oauth.refresh), str()),
    token_type_hint: fc.oneof(fc.constantFrom("access_token", "refresh_token"), str()),
    client_id: clientId(world),
  });
  await checkProperty(world, "/revoke", revokeForm, async (f) => {
    const req = postReq("/revoke", f, {});
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_json");
  }, 60);

  const metadata = fc.record({
    client_name: fc.oneof(str(), hostileJson(1)),
    redirect_uris: fc.oneof(fc.array(uriValue(world), { maxLength: 25 }), hostileJson(1)),
    grant_types: fc.oneof(
      fc.array(fc.constantFrom("authorization_code", "refresh_token", "implicit", ""), {
        maxLength: 3,
      }),
      hostileJson(1),
    ),
    response_types: fc.oneof(fc.constant(["code"]), hostileJson(1)),
    token_endpoint_auth_method: fc.oneof(
      fc.constantFrom("none", "client_secret_basic", "client_secret_post", "private_key_jwt"),
      hostileJson(0),
    ),
    client_uri: fc.oneof(uriValue(world), hostileJson(0)),
    logo_uri: fc.oneof(uriValue(world), hostileJson(0)),
    scope: fc.oneof(str(), hostileJson(0)),
    application_type: fc.oneof(fc.constantFrom("native", "web"), hostileJson(0)),
    software_statement: str(),
    jwks_uri: uriValue(world),
  }, { requiredKeys: [] });
  const body = fc.oneof(
    { weight: 6, arbitrary: metadata.map((m) => JSON.stringify(m)) },
    { weight: 1, arbitrary: hostileJson(2).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom("{", "", "[]", "x".repeat(3 * 1024 * 1024)) },
  );
  await checkProperty(world, "/register", body, async (b) => {
    const req: FuzzRequest = {
      method: "POST",
      path: "/register",
      headers: { "Content-Type": "application/json" },
      body: b,
      as: null,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_json");
  }, 30);
});

Deno.test("[fuzz/oauth] /authorize, consent, sign-in and metadata survive hostile parameters", async () => {
  await using world = await startFuzzWorld();
  const browser = new BrowserHttp(world.server.url);
  await browser.signIn(world.a.email, world.a.password);
  const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  // A live consent request and the session's CSRF token, so consent POSTs get past the checks.
  const { challenge } = pkcePair();
  const start = await browser.get(
    authorizeUrl(world.server.url, { clientId: world.a.oauth.clientId, challenge }),
  );
  assert.equal(start.status, 303, start.text.slice(0, 200));
  const consent = await browser.get(start.location!);
  const requestId = formValue(consent.text, "request")!;
  const csrf = formValue(consent.text, "csrf")!;
  assert.ok(requestId && csrf);

  const str = () => fc.oneof(hostileString(), fc.string({ maxLength: 20 }));
  const authorizeFields = {
    response_type: fc.oneof(fc.constantFrom("code", "token", "code id_token"), str()),
    client_id: clientId(world),
    redirect_uri: uriValue(world),
    code_challenge: fc.oneof(fc.constant(challenge), str()),
    code_challenge_method: fc.oneof(fc.constantFrom("S256", "plain"), str()),
    state: str(),
    resource: uriValue(world),
    scope: fc.oneof(fc.constantFrom("read", "read write", "openid"), str()),
    prompt: str(),
    request_uri: uriValue(world),
  };
  const validAuthorize = {
    response_type: "code",
    client_id: world.a.oauth.clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st",
    resource: `${world.server.url}/mcp`,
  };
  const authorizeQuery = fc.oneof(
    form(authorizeFields),
    oneMutation(validAuthorize, authorizeFields),
  );
  const signedIn = fc.boolean();
  await checkProperty(world, "/authorize", fc.tuple(authorizeQuery, signedIn), async ([q, s]) => {
    const req: FuzzRequest = {
      method: "GET",
      path: `/authorize?${new URLSearchParams(q)}`.slice(0, 6000),
      headers: s ? { cookie } : {},
      as: s ? world.a : null,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_page");
    assertNoOffsiteRedirect(world, res.headers.get("location"), q.redirect_uri);
  }, 100);

  // "$fresh" stands for a new pending request (an approved one cannot be approved again).
  const consentFields = {
    request: fc.oneof(fc.constant(requestId), str()),
    csrf: fc.oneof(fc.constant(csrf), str()),
    workspace: idValue(world, "wId"),
    decision: fc.oneof(fc.constantFrom("approve", "deny"), str()),
    read_only: fc.oneof(fc.constant("1"), str()),
  };
  const validConsent = { request: "$fresh", csrf, workspace: world.a.ids.wId, decision: "approve" };
  const consentForm = fc.oneof(form(consentFields), oneMutation(validConsent, consentFields));
  const origin = fc.oneof(
    { weight: 4, arbitrary: fc.constant(world.server.url) },
    { weight: 1, arbitrary: fc.constantFrom("http://evil.example", "null", "") },
  );
  await checkProperty(world, "consent", fc.tuple(consentForm, origin), async ([f, o]) => {
    if (f.request === "$fresh") f = { ...f, request: await freshRequest(world, browser) };
    const req = postReq("/authorize/consent", f, { cookie, ...(o ? { Origin: o } : {}) });
    const res = await send(world, { ...req, as: world.a });
    checkResponse(world, { ...req, as: world.a }, res, "oauth_page");
    const location = res.headers.get("location") ?? "";
    assertNoOffsiteRedirect(world, location, null);
    // A code is only ever issued for a workspace A belongs to.
    if (location.includes("code=")) assert.equal(f.workspace, world.a.ids.wId, location);
  }, 60);

  const loginFields = { email: str(), password: str(), next: fc.oneof(uriValue(world), str()) };
  const validLogin = { email: world.a.email, password: world.a.password, next: "/account" };
  const loginForm = fc.oneof(form(loginFields), oneMutation(validLogin, loginFields));
  await checkProperty(world, "login", fc.tuple(loginForm, origin), async ([f, o]) => {
    const req = postReq("/login", f, o ? { Origin: o } : {});
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_page");
    assertNoOffsiteRedirect(world, res.headers.get("location"), null);
  }, 60);

  const getPaths = fc.constantFrom(
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource/api/v1",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/login",
    "/authorize/consent",
    "/setup",
    "/account",
    `/w/${world.a.ids.wId}/settings`,
    `/w/${world.a.ids.wId}/integrations`,
    `/w/${world.a.ids.wId}/connected`,
    `/w/${world.a.ids.wId}/audit`,
    `/w/${world.a.ids.wId}/audit/export.jsonl`,
    `/w/${world.b.ids.wId}/settings`,
    `/w/${world.b.ids.wId}/audit/export.jsonl`,
    "/admin/model",
    "/api/v1/reference",
  );
  // Forged, truncated and foreign session cookies next to hostile query strings.
  const cookies = fc.constantFrom(
    "",
    cookie,
    cookie.slice(0, -3),
    cookie.replace(/=.*/, "=../../etc/passwd"),
    cookie.replace(/=.*/, "=" + "A".repeat(4000)),
    "session=; session=x",
    "a=b; " + cookie,
  );
  const arb = fc.tuple(getPaths, str(), str(), cookies);
  await checkProperty(world, "metadata + pages GET", arb, async ([p, k, v, jar]) => {
    const q = new URLSearchParams({ [k.toWellFormed()]: v.toWellFormed() });
    q.set("next", v.toWellFormed());
    const req: FuzzRequest = {
      method: "GET",
      path: `${p}?${q}`.slice(0, 6000),
      headers: jar ? { cookie: jar } : {},
      as: jar.includes(cookie) ? world.a : null,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_page");
    assertNoOffsiteRedirect(world, res.headers.get("location"), null);
  }, 60);
});

/** A redirect goes to this server or to the redirect URI the request named, nowhere else. */
function assertNoOffsiteRedirect(
  world: FuzzWorld,
  location: string | null,
  allowed: string | null,
) {
  if (!location) return;
  const target = new URL(location, world.server.url);
  if (target.origin === new URL(world.server.url).origin) return;
  const registered = target.href.startsWith(REDIRECT) ||
    (allowed !== null && allowed !== "" && target.href.startsWith(new URL(allowed).href));
  assert.ok(registered, `redirect to ${location}`);
}

Deno.test("[fuzz/oauth] signed-in page forms with a valid CSRF token and hostile fields", async () => {
  await using world = await startFuzzWorld();
  const browser = new BrowserHttp(world.server.url);
  await browser.signIn(world.a.email, world.a.password);
  const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  const account = await browser.get("/account");
  const csrf = formValue(account.text, "csrf")!;
  assert.ok(csrf, "no csrf on /account");
  const str = () => fc.oneof(hostileString(), fc.string({ maxLength: 20 }));
  const wId = fc.oneof(fc.constant(world.a.ids.wId), idValue(world, "wId"));
  const route = fc.constantFrom(
    "/w/:w/settings",
    "/w/:w/settings/clients",
    "/w/:w/settings/clients/delete",
    "/w/:w/integrations/token",
    "/w/:w/connected/revoke",
    "/account/password",
    "/logout",
  );
  const fields = form({
    csrf: fc.oneof(fc.constant(csrf), fc.constant(csrf), str()),
    mcp_enabled: fc.constantFrom("1", "0", ""),
    allow_token_in_url: fc.constantFrom("1", "0"),
    redirect_policy: fc.oneof(fc.constantFrom("all", "allowlist"), str()),
    allowed_redirect_uris: fc.oneof(uriValue(world), str()),
    name: str(),
    redirect_uris: fc.oneof(uriValue(world), str()),
    auth_method: fc.oneof(
      fc.constantFrom("none", "client_secret_basic", "client_secret_post"),
      str(),
    ),
    client_id: fc.oneof(fc.constant(world.b.oauth.clientId), clientId(world)),
    kind: fc.oneof(fc.constantFrom("grant", "relay", "mcp_token"), str()),
    id: fc.oneof(idValue(world, "serverId"), str()),
    current: str(),
    next: str(),
  });
  const arb = fc.tuple(route, wId, fields);
  await checkProperty(world, "page forms", arb, async ([r, w, f]) => {
    // Keep MCP on for A and never sign the fuzzer out: other runs need the session.
    if (r === "/logout") f = { ...f, csrf: "wrong" };
    const path = r.replace(":w", encodeURIComponent(w.toWellFormed().slice(0, 4000)));
    const req = { ...postReq(path, f, { cookie, Origin: world.server.url }), as: world.a };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_page");
    const page: FuzzRequest = {
      method: "GET",
      path: path.replace(/\/(token|revoke|delete|clients)$/, ""),
      headers: { cookie },
      as: world.a,
    };
    checkResponse(world, page, await send(world, page), "oauth_page");
  }, 80);
});

Deno.test("[fuzz/oauth] replayed codes and refresh tokens are refused, also when raced", async () => {
  await using world = await startFuzzWorld();
  const base = world.server.url;
  // obtainCode reads only the email, the password and the workspace id.
  const pu = {
    email: world.a.email,
    password: world.a.password,
    workspace: { sId: world.a.ids.wId },
  } as unknown as PasswordUser;
  const check = (path: string, r: { status: number; headers: Headers; body: unknown }) => {
    const req: FuzzRequest = { method: "POST", path, as: null };
    const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
    checkResponse(
      world,
      req,
      { status: r.status, headers: r.headers, text, truncated: false },
      "oauth_json",
    );
  };

  // A code used twice: the second exchange fails and revokes the grant the first one created.
  const c1 = await obtainCode(base, pu);
  const first = await exchange(base, c1);
  assert.equal(first.status, 200);
  const replay = await exchange(base, c1);
  check("/token", replay);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, "invalid_grant");
  const refresh = (token: string, clientId: string) =>
    postForm(`${base}/token`, {
      grant_type: "refresh_token",
      refresh_token: token,
      client_id: clientId,
    });
  const revoked = await refresh(first.body.refresh_token, c1.clientId);
  check("/token", revoked);
  assert.equal(revoked.status, 400);

  // A code raced five times: exactly one exchange wins (and the losers' replays revoke it).
  const c2 = await obtainCode(base, pu);
  const raced = await Promise.all([1, 2, 3, 4, 5].map(() => exchange(base, c2)));
  for (const r of raced) check("/token", r);
  assert.equal(raced.filter((r) => r.status === 200).length, 1);

  // A rotated refresh token used again: refused, and reuse revokes the newer one too.
  const c3 = await obtainCode(base, pu);
  const t3 = await exchange(base, c3);
  assert.equal(t3.status, 200);
  const rotated = await refresh(t3.body.refresh_token, c3.clientId);
  assert.equal(rotated.status, 200);
  const reused = await refresh(t3.body.refresh_token, c3.clientId);
  check("/token", reused);
  assert.equal(reused.status, 400);
  const afterReuse = await refresh(rotated.body.refresh_token, c3.clientId);
  check("/token", afterReuse);
  assert.equal(afterReuse.status, 400);

  // A refresh token raced five times: at most one rotation succeeds.
  const c4 = await obtainCode(base, pu);
  const t4 = (await exchange(base, c4)).body;
  const racedRefresh = await Promise.all(
    [1, 2, 3, 4, 5].map(() => refresh(t4.refresh_token, c4.clientId)),
  );
  for (const r of racedRefresh) check("/token", r);
  assert.ok(racedRefresh.filter((r) => r.status === 200).length <= 1);
});
