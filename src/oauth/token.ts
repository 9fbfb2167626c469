/**
 * `POST /token` (checklist G1–G7, H1–H4): authorization_code and refresh_token grants,
 * form-encoded in, JSON out, `Cache-Control: no-store`. Access tokens are EdDSA JWTs bound to
 * one resource (audience), one workspace and one grant, valid 1 hour.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv, Deps } from "../deps.ts";
import { OAuthError } from "../core/oauth_error.ts";
import { redeemAuthorizationCode } from "../core/oauth_codes.ts";
import { type GrantTokens, refreshGrant } from "../core/oauth_grants.ts";
import { issueAccessToken } from "../auth/jwt.ts";
import type { Scope } from "../auth/actor.ts";
import { oauthCors } from "./metadata.ts";
import { onOAuthJsonError } from "./errors.ts";
import { authenticateClient } from "./client_auth.ts";
import { remoteIp } from "../auth/rate_limit.ts";
import type { CimdResolver } from "./cimd.ts";
import { parseResourceParam } from "./resource.ts";
import type { OAuthTracer } from "./trace.ts";

export const ACCESS_TOKEN_TTL_S = 3600;

/** Parse a `scope` parameter for refresh narrowing: null when absent. */
function parseScopeParam(raw: string | null): Scope[] | null {
  if (raw === null || raw.trim() === "") return null;
  const words = raw.split(" ").filter(Boolean);
  const known = words.filter((w): w is Scope => w === "read" || w === "write");
  const unknown = words.filter((w) => w !== "read" && w !== "write" && w !== "offline_access");
  if (unknown.length) throw new OAuthError("invalid_scope", `Unknown scope: ${unknown[0]}.`);
  return known;
}

async function tokenResponse(deps: Deps, t: GrantTokens) {
  const accessToken = await issueAccessToken(deps.keys, {
    issuer: deps.config.publicUrl,
    userSId: t.userSId,
    workspaceSId: t.workspaceSId,
    audience: t.resource,
    scopes: t.scopes,
    clientId: t.clientId,
    grantSId: t.grantSId,
    region: deps.config.regionId,
    ttlSeconds: ACCESS_TOKEN_TTL_S,
  });
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: ACCESS_TOKEN_TTL_S,
    scope: t.grantedScopes.join(" "),
    refresh_token: t.refreshToken,
  };
}

/** Form fields as strings; a repeated parameter is an error (RFC 6749 §3.2). */
async function readForm(req: Request): Promise<Record<string, string>> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers.get("content-type") ?? "")) {
    throw new OAuthError(
      "invalid_request",
      "The body must be application/x-www-form-urlencoded.",
    );
  }
  const params = new URLSearchParams(await req.text());
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (k in out) throw new OAuthError("invalid_request", `Parameter ${k} is repeated.`);
    out[k] = v;
  }
  return out;
}

export function tokenRoutes(cimd: CimdResolver, tracer: OAuthTracer): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/token", oauthCors);
  app.onError(onOAuthJsonError);
  app.post("/token", (c) =>
    tracer.run("token", async (note) => {
      const deps = c.get("deps");
      const form = await readForm(c.req.raw);
      const grantType = form.grant_type;
      note.clientId = form.client_id ?? "";
      note.detail = `grant_type=${String(grantType ?? "").slice(0, 40)} resource=${
        form.resource === undefined ? "(none)" : form.resource.slice(0, 200)
      }`;
      if (grantType !== "authorization_code" && grantType !== "refresh_token") {
        throw new OAuthError(
          grantType ? "unsupported_grant_type" : "invalid_request",
          grantType ? `grant_type ${grantType} is not supported.` : "grant_type is required.",
        );
      }
      const client = await authenticateClient(
        deps.db,
        cimd,
        c.req.header("authorization"),
        form,
        remoteIp(c.env),
      );
      note.clientId = client.clientId;
      note.clientKind = client.kind;
      note.clientName = client.name;
      const resource = parseResourceParam(deps.config, form.resource);
      let tokens: GrantTokens;
      if (grantType === "authorization_code") {
        if (!form.code) throw new OAuthError("invalid_request", "code is required.");
        tokens = await redeemAuthorizationCode(deps.db, client.clientId, {
          code: form.code,
          redirectUri: form.redirect_uri ?? null,
          codeVerifier: form.code_verifier ?? null,
          resource,
        });
      } else {
        if (!form.refresh_token) {
          throw new OAuthError("invalid_request", "refresh_token is required.");
        }
        tokens = await refreshGrant(deps.db, client.clientId, {
          refreshToken: form.refresh_token,
          scopes: parseScopeParam(form.scope ?? null),
          resource,
        });
      }
      note.workspaceSId = tokens.workspaceSId;
      note.grantSId = tokens.grantSId;
      c.header("Cache-Control", "no-store");
      c.header("Pragma", "no-cache");
      return c.json(await tokenResponse(deps, tokens));
    }, c.req.header("user-agent")));
  return app;
}
