/**
 * Hostile input on the authorization server: `/token`, `/register`, `/revoke` (RFC 6749 JSON
 * errors), `/authorize` and the consent POST (HTML error pages or redirects), sign-in and the
 * metadata documents, signed in or not, with forged cookies.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { startFuzzWorld } from "../helpers/fuzz_world.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";
import { formValue } from "../helpers/browser_http.ts";
import { authorizeUrl } from "../helpers/oauth_flow.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import {
  assertNoOffsiteRedirect,
  authorizeQuery,
  consentForm,
  FRESH,
  freshRequest,
  loginForm,
  origin,
  pageGet,
  postReq,
  registerBody,
  revokeForm,
  signedIn,
  tokenRequest,
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

Deno.test("[fuzz/oauth] /authorize and the consent POST survive hostile parameters", async () => {
  await using world = await startFuzzWorld();
  const { browser, cookie } = await signedIn(world);
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

  const authorize = fc.tuple(authorizeQuery(world, challenge), fc.boolean());
  await checkProperty(world, "/authorize", authorize, async ([q, s]) => {
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

  const consentArb = fc.tuple(consentForm(world, requestId, csrf), origin(world));
  await checkProperty(world, "consent", consentArb, async ([f, o]) => {
    if (f.request === FRESH) f = { ...f, request: await freshRequest(world, browser) };
    const req = postReq("/authorize/consent", f, { cookie, ...(o ? { Origin: o } : {}) });
    const res = await send(world, { ...req, as: world.a });
    checkResponse(world, { ...req, as: world.a }, res, "oauth_page");
    const location = res.headers.get("location") ?? "";
    assertNoOffsiteRedirect(world, location, null);
    // A code is only ever issued for a workspace A belongs to.
    if (location.includes("code=")) assert.equal(f.workspace, world.a.ids.wId, location);
  }, 60);
});

Deno.test("[fuzz/oauth] sign-in, metadata and signed-in pages with hostile queries and forged cookies", async () => {
  await using world = await startFuzzWorld();
  const { cookie } = await signedIn(world);
  await checkProperty(world, "login", fc.tuple(loginForm(world), origin(world)), async ([f, o]) => {
    const req = postReq("/login", f, o ? { Origin: o } : {});
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_page");
    assertNoOffsiteRedirect(world, res.headers.get("location"), null);
  }, 60);

  await checkProperty(world, "metadata + pages GET", pageGet(world, cookie), async (
    [p, k, v, jar],
  ) => {
    const q = new URLSearchParams({ [k]: v });
    q.set("next", v);
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
