/**
 * Hostile input on the authorization server: `/token`, `/register`, `/revoke` (RFC 6749 JSON
 * errors), `/authorize` and the consent POST (HTML error pages or redirects), sign-in and the
 * metadata documents, signed in or not, with forged cookies.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { startFuzzWorld } from "../helpers/fuzz_world.ts";
import { hostileString, idValue } from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { authorizeUrl } from "../helpers/oauth_flow.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import {
  assertNoOffsiteRedirect,
  clientId,
  form,
  freshRequest,
  oneMutation,
  postReq,
  REDIRECT,
  registerBody,
  revokeForm,
  tokenRequest,
  uriValue,
} from "../helpers/fuzz_oauth.ts";

Deno.test("[fuzz/oauth] /token, /revoke and /register answer RFC 6749 errors to hostile input", async () => {
  await using world = await startFuzzWorld();
  await checkProperty(world, "/token", tokenRequest(world), async ([f, h]) => {
    const req = { ...postReq("/token", f, {}), headers: h };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_json");
  }, 120);
  await checkProperty(world, "/revoke", revokeForm(world), async (f) => {
    const req = postReq("/revoke", f, {});
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_json");
  }, 60);
  await checkProperty(world, "/register", registerBody(world), async (b) => {
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
