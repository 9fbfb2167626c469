/**
 * Arbitraries and checks shared by the authorization-server fuzz tests: client ids (DCR, CIMD
 * URLs answered in-process, garbage), redirect/resource URIs, form bodies with one mutation,
 * the /token, /revoke and /register inputs, and the no-offsite-redirect rule.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { FuzzWorld } from "./fuzz_world.ts";
import { hostileJson, hostileString } from "./fuzz_arbs.ts";
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
