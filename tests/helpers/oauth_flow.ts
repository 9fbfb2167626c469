/**
 * Raw OAuth steps over HTTP for the authorization-server tests: register (DCR), build an
 * authorize URL, exchange a code, refresh, revoke — and `connect()`, the whole flow for a
 * signed-in {@link BrowserHttp}. Every response body is consumed.
 */
import assert from "node:assert/strict";
import { BrowserHttp } from "./browser_http.ts";
import { type PasswordUser, pkcePair } from "./oauth_client.ts";

export interface JsonResponse {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

async function asJson(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

/** POST JSON to /register. */
export async function register(base: string, metadata: Record<string, unknown>) {
  return await asJson(
    await fetch(`${base}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(metadata),
    }),
  );
}

/** Register a public client (none) and return its client_id. */
export async function registerPublicClient(
  base: string,
  redirectUris: string[] = ["http://127.0.0.1:53682/callback"],
): Promise<string> {
  const r = await register(base, {
    client_name: "Test client",
    redirect_uris: redirectUris,
    token_endpoint_auth_method: "none",
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.client_id;
}

/** A form POST to a token-like endpoint, with optional extra headers. */
export async function postForm(
  url: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  return await asJson(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields),
    }),
  );
}

export interface AuthorizeParams {
  clientId: string;
  redirectUri?: string;
  challenge?: string;
  method?: string | null;
  state?: string;
  resource?: string;
  scope?: string;
  responseType?: string;
}

/** Build an /authorize URL (parameters left out when undefined / null). */
export function authorizeUrl(base: string, p: AuthorizeParams): string {
  const u = new URL(`${base}/authorize`);
  const set = (k: string, v: string | null | undefined) => {
    if (v !== undefined && v !== null) u.searchParams.set(k, v);
  };
  set("response_type", p.responseType ?? "code");
  set("client_id", p.clientId);
  set("redirect_uri", p.redirectUri ?? "http://127.0.0.1:53682/callback");
  set("code_challenge", p.challenge);
  set("code_challenge_method", p.method === undefined ? "S256" : p.method);
  set("state", p.state ?? "st-123");
  set("resource", p.resource);
  set("scope", p.scope);
  return u.href;
}

export interface Connected {
  clientId: string;
  code: string;
  verifier: string;
  redirectUri: string;
  callback: URL;
}

/** Sign-in (if needed) + authorize + consent: returns a fresh, unexchanged code. */
export async function obtainCode(
  base: string,
  user: PasswordUser,
  options: {
    browser?: BrowserHttp;
    clientId?: string;
    redirectUri?: string;
    resource?: string;
    scope?: string;
    readOnly?: boolean;
  } = {},
): Promise<Connected> {
  const redirectUri = options.redirectUri ?? "http://127.0.0.1:53682/callback";
  const clientId = options.clientId ?? await registerPublicClient(base, [redirectUri]);
  const browser = options.browser ?? new BrowserHttp(base);
  if (!options.browser) await browser.signIn(user.email, user.password);
  const { verifier, challenge } = pkcePair();
  const callback = await browser.approve(
    authorizeUrl(base, {
      clientId,
      redirectUri,
      challenge,
      resource: options.resource,
      scope: options.scope,
    }),
    { readOnly: options.readOnly, workspace: user.workspace.sId },
  );
  const code = callback.searchParams.get("code");
  assert.ok(code, `no code in ${callback}`);
  return { clientId, code, verifier, redirectUri, callback };
}

/** Exchange a code at /token (public client). */
export function exchange(base: string, c: Connected, extra: Record<string, string> = {}) {
  return postForm(`${base}/token`, {
    grant_type: "authorization_code",
    code: c.code,
    redirect_uri: c.redirectUri,
    code_verifier: c.verifier,
    client_id: c.clientId,
    ...extra,
  });
}

/** Whole flow for a public client: returns the token response body and the client id. */
export async function connect(
  base: string,
  user: PasswordUser,
  options: Parameters<typeof obtainCode>[2] = {},
) {
  const c = await obtainCode(base, user, options);
  const r = await exchange(base, c, options.resource ? { resource: options.resource } : {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { ...c, tokens: r.body as { access_token: string; refresh_token: string; scope: string } };
}
