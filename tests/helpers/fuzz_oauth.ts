/**
 * Arbitraries and checks shared by the authorization-server fuzz tests: client ids (DCR, CIMD
 * URLs answered in-process, garbage), redirect/resource URIs, form bodies with one mutation,
 * the /token, /revoke and /register inputs, and the no-offsite-redirect rule.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { FuzzWorld } from "./fuzz_world.ts";
import { hostileJson, hostileString, idValue } from "./fuzz_arbs.ts";
import type { FuzzRequest } from "./fuzz_check.ts";
import { BrowserHttp, formValue } from "./browser_http.ts";
import { authorizeUrl } from "./oauth_flow.ts";
import { pkcePair } from "./oauth_client.ts";

export const FORM = "application/x-www-form-urlencoded";
export const REDIRECT = "http://127.0.0.1:53682/callback";

/** client_id values: A's DCR client, CIMD URLs (answered in-process), garbage. */
export function clientId(world: FuzzWorld): fc.Arbitrary<string> {
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

export function uriValue(world: FuzzWorld): fc.Arbitrary<string> {
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
export function form(
  fields: Record<string, fc.Arbitrary<string>>,
): fc.Arbitrary<Record<string, string>> {
  return fc.record(fields, { requiredKeys: [] }).map((f) =>
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, (v ?? "").toWellFormed()]))
  );
}

/** `base`, or `base` with one field replaced by a hostile value or dropped. */
export function oneMutation(
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
export async function freshRequest(world: FuzzWorld, browser: BrowserHttp): Promise<string> {
  const { challenge } = pkcePair();
  const start = await browser.get(
    authorizeUrl(world.server.url, { clientId: world.a.oauth.clientId, challenge }),
  );
  const page = await browser.get(start.location!);
  return formValue(page.text, "request")!;
}

export function postReq(
  path: string,
  fields: Record<string, string>,
  extra: Record<string, string>,
) {
  return {
    method: "POST",
    path,
    headers: { "Content-Type": FORM, ...extra },
    body: new URLSearchParams(fields).toString(),
    as: null,
  } satisfies FuzzRequest;
}

/** A redirect goes to this server or to the redirect URI the request named, nowhere else. */
export function assertNoOffsiteRedirect(
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

const str = () => fc.oneof(hostileString(), fc.string({ maxLength: 20 }));

/** A /token form and its headers (content types, Basic credentials). */
export function tokenRequest(
  world: FuzzWorld,
): fc.Arbitrary<[Record<string, string>, Record<string, string>]> {
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
  return fc.tuple(tokenForm, headers);
}

/** A /revoke form (B's real refresh token among the values). */
export function revokeForm(world: FuzzWorld): fc.Arbitrary<Record<string, string>> {
  return form({
    token: fc.oneof(fc.constant(world.b.oauth.refresh), str()),
    token_type_hint: fc.oneof(fc.constantFrom("access_token", "refresh_token"), str()),
    client_id: clientId(world),
  });
}

/** A /register body: client metadata with hostile fields, any JSON, broken or oversized. */
export function registerBody(world: FuzzWorld): fc.Arbitrary<string> {
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
  return fc.oneof(
    { weight: 6, arbitrary: metadata.map((m) => JSON.stringify(m)) },
    { weight: 1, arbitrary: hostileJson(2).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom("{", "", "[]", "x".repeat(3 * 1024 * 1024)) },
  );
}

/** A browser signed in as A, and its cookie header. */
export async function signedIn(
  world: FuzzWorld,
): Promise<{ browser: BrowserHttp; cookie: string }> {
  const browser = new BrowserHttp(world.server.url);
  await browser.signIn(world.a.email, world.a.password);
  return { browser, cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
}

/** /authorize queries: all-hostile, or a valid request of A's client with one mutation. */
export function authorizeQuery(
  world: FuzzWorld,
  challenge: string,
): fc.Arbitrary<Record<string, string>> {
  const fields = {
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
  const valid = {
    response_type: "code",
    client_id: world.a.oauth.clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st",
    resource: `${world.server.url}/mcp`,
  };
  return fc.oneof(form(fields), oneMutation(valid, fields));
}

/** Stands for a new pending request in a consent form (an approved one cannot be reused). */
export const FRESH = "$fresh";

/** Consent forms: all-hostile, or an approval of a fresh request with one mutation. */
export function consentForm(
  world: FuzzWorld,
  requestId: string,
  csrf: string,
): fc.Arbitrary<Record<string, string>> {
  const fields = {
    request: fc.oneof(fc.constant(requestId), str()),
    csrf: fc.oneof(fc.constant(csrf), str()),
    workspace: idValue(world, "wId"),
    decision: fc.oneof(fc.constantFrom("approve", "deny"), str()),
    read_only: fc.oneof(fc.constant("1"), str()),
  };
  const valid = { request: FRESH, csrf, workspace: world.a.ids.wId, decision: "approve" };
  return fc.oneof(form(fields), oneMutation(valid, fields));
}

/** Sign-in forms: all-hostile, or A's real credentials with one mutation. */
export function loginForm(world: FuzzWorld): fc.Arbitrary<Record<string, string>> {
  const fields = { email: str(), password: str(), next: fc.oneof(uriValue(world), str()) };
  const valid = { email: world.a.email, password: world.a.password, next: "/account" };
  return fc.oneof(form(fields), oneMutation(valid, fields));
}

/** The Origin of a form POST: mostly this server's, sometimes foreign or absent. */
export function origin(world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(world.server.url) },
    { weight: 1, arbitrary: fc.constantFrom("http://evil.example", "null", "") },
  );
}

/**
 * A GET of a metadata document or page (A's and B's workspace pages among them) with a
 * hostile query key/value and a session cookie jar: A's, forged, truncated or foreign.
 */
export function pageGet(
  world: FuzzWorld,
  cookie: string,
): fc.Arbitrary<[string, string, string, string]> {
  const a = world.a.ids.wId;
  const paths = fc.constantFrom(
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
    `/w/${a}/settings`,
    `/w/${a}/integrations`,
    `/w/${a}/connected`,
    `/w/${a}/audit`,
    `/w/${a}/audit/export.jsonl`,
    `/w/${world.b.ids.wId}/settings`,
    `/w/${world.b.ids.wId}/audit/export.jsonl`,
    "/admin/model",
    "/api/v1/reference",
  );
  const cookies = fc.constantFrom(
    "",
    cookie,
    cookie.slice(0, -3),
    cookie.replace(/=.*/, "=../../etc/passwd"),
    cookie.replace(/=.*/, "=" + "A".repeat(4000)),
    "session=; session=x",
    "a=b; " + cookie,
  );
  const wellFormed = () => str().map((x) => x.toWellFormed());
  return fc.tuple(paths, wellFormed(), wellFormed(), cookies);
}
