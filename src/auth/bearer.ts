/**
 * REST authentication: `Authorization: Bearer <credential>` → one {@link Actor} in
 * `c.var.actor`. Three credentials are accepted on `/api/v1`:
 * - workspace API keys `sk-…` (act as the workspace, no user);
 * - personal access tokens `pat_…` (act as their user in their workspace; REST only);
 * - OAuth access tokens (JWT) whose audience is the REST resource (`apiResourceUrl`).
 * MCP tokens and `/mcp`-audience access tokens are refused here.
 *
 * Errors follow Dust: no credentials → 401 `not_authenticated`; unknown workspace → 404
 * `workspace_not_found` (also when `--peer-url` is set: Dust's public API does not redirect
 * between regions, it answers 404 for a workspace it does not hold, and so do we); a key of
 * another workspace or a user who is not a member → 401 `workspace_auth_error`.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv, Deps } from "../deps.ts";
import type { Actor, UserActor } from "./actor.ts";
import { ALL_SCOPES } from "./actor.ts";
import { AppError, unauthenticated } from "../errors.ts";
import { apiResourceUrl } from "../config.ts";
import { looksLikeJwt, verifyAccessToken } from "./jwt.ts";
import { actorFromAccessClaims, resolveUserActor } from "./user_actor.ts";
import { isGrantActive } from "../core/oauth_grants.ts";
import { API_KEY_PREFIX, findActiveApiKey } from "../core/api_keys.ts";
import { findActivePersonalToken, PERSONAL_TOKEN_PREFIX } from "../core/personal_tokens.ts";
import { findWorkspaceById, findWorkspaceBySId, toWorkspaceRef } from "../core/workspaces.ts";
import { findUserById } from "../core/users.ts";

const INVALID_TOKEN = "The access token is invalid, expired or revoked.";

/** The bearer credential of a request, or null when there is none. */
export function readBearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) {
    throw new AppError(
      401,
      "not_authenticated",
      "The Authorization header must be: Bearer <token>.",
    );
  }
  return m[1];
}

function workspaceAuthError(message: string): AppError {
  return new AppError(401, "workspace_auth_error", message);
}

/** A personal access token → its user actor (null when unknown, expired or revoked). */
async function actorFromPersonalToken(deps: Deps, secret: string): Promise<UserActor | null> {
  const pat = await findActivePersonalToken(deps.db, secret);
  if (!pat) return null;
  const user = await findUserById(deps.db, pat.userId);
  const ws = await findWorkspaceById(deps.db, pat.workspaceId);
  if (!user || !ws) return null;
  const actor = await resolveUserActor(deps, {
    userSId: user.sId,
    workspaceSId: ws.sId,
    scopes: new Set(ALL_SCOPES),
    credential: { kind: "personal_token", id: pat.sId },
  });
  if (!actor) throw workspaceAuthError("The user is no longer a member of this workspace.");
  return actor;
}

/** An OAuth access token for the REST audience → its user actor (null when invalid). */
async function actorFromOAuthToken(deps: Deps, token: string): Promise<UserActor | null> {
  const claims = await verifyAccessToken(deps.keys, deps.tokenCache, token, {
    issuer: deps.config.publicUrl,
    audience: apiResourceUrl(deps.config),
  });
  if (!claims) return null;
  if (claims.gid && !await isGrantActive(deps.db, claims.gid)) return null;
  const actor = await actorFromAccessClaims(deps, claims);
  if (!actor) throw workspaceAuthError("The user is no longer a member of this workspace.");
  return actor;
}

/** A user credential (PAT or OAuth) → user actor; throws 401 when it is not valid. */
async function authenticateUserToken(deps: Deps, token: string): Promise<UserActor> {
  const actor = token.startsWith(PERSONAL_TOKEN_PREFIX)
    ? await actorFromPersonalToken(deps, token)
    : looksLikeJwt(token)
    ? await actorFromOAuthToken(deps, token)
    : null;
  if (!actor) throw unauthenticated(INVALID_TOKEN);
  return actor;
}

/**
 * Authenticate a bearer credential for workspace `wId` (no HTTP: usable by any surface that
 * serves `/api/v1/w/{wId}/…`, e.g. the relay's SSE route).
 */
export async function authenticateWorkspaceRequest(
  deps: Deps,
  authorization: string | undefined,
  wId: string,
): Promise<Actor> {
  const token = readBearer(authorization);
  if (!token) {
    throw unauthenticated("Requests must carry an Authorization: Bearer <token> header.");
  }
  const ws = await findWorkspaceBySId(deps.db, wId);
  if (!ws) throw new AppError(404, "workspace_not_found", "The workspace was not found.");
  if (token.startsWith(API_KEY_PREFIX)) {
    const key = await findActiveApiKey(deps.db, token);
    if (!key) {
      throw new AppError(
        401,
        "invalid_api_key_error",
        "The API key provided is invalid or disabled.",
      );
    }
    if (key.workspaceId !== ws.id) {
      throw workspaceAuthError("The API key does not belong to this workspace.");
    }
    return {
      kind: "api_key",
      workspace: toWorkspaceRef(ws),
      credential: { kind: "api_key", id: key.sId },
    };
  }
  const actor = await authenticateUserToken(deps, token);
  if (actor.workspace.id !== ws.id) {
    throw workspaceAuthError("This token is for another workspace.");
  }
  return actor;
}

/**
 * Hono middleware for `/api/v1/w/:wId/*`: sets `c.var.actor` or throws. Idempotent, so a
 * router may apply it even though `app.ts` already does for every workspace route.
 */
export function requireAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!c.get("actor")) {
      const wId = c.req.param("wId");
      if (!wId) throw new AppError(404, "workspace_not_found", "The workspace was not found.");
      c.set(
        "actor",
        await authenticateWorkspaceRequest(c.var.deps, c.req.header("Authorization"), wId),
      );
    }
    await next();
  };
}

/**
 * Hono middleware for `/api/v1/me`: user credentials only. An API key answers 401
 * `user_not_found`, as Dust does (a key has no user).
 */
export function requireUserAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!c.get("actor")) {
      const token = readBearer(c.req.header("Authorization"));
      if (!token) {
        throw unauthenticated("Requests must carry an Authorization: Bearer <token> header.");
      }
      if (token.startsWith(API_KEY_PREFIX)) {
        throw new AppError(
          401,
          "user_not_found",
          "This endpoint needs a user token, not an API key.",
        );
      }
      c.set("actor", await authenticateUserToken(c.var.deps, token));
    }
    await next();
  };
}

/** The authenticated actor of a request (routers call this; 401 if auth did not run). */
export function getActor(c: Context<AppEnv>): Actor {
  const actor = c.get("actor");
  if (!actor) throw unauthenticated();
  return actor;
}
