/**
 * Authentication for `/mcp`, run on every request before the MCP layer sees it.
 *
 * Accepted credentials:
 * - an OAuth access token (JWT) in the `Authorization` header, verified for signature,
 *   expiry, issuer and audience = this instance's `/mcp` URL, with its grant still active;
 * - an MCP API token (`dmcp_…`) in the header, or in the URL (`?token=`) when the
 *   workspace allows it. OAuth tokens are never accepted from the URL (mcp-auth.md A7).
 *
 * Refusals follow Dust's hosted server (dust.md §2.3–2.4): 401 `{"error":…}` with a
 * `WWW-Authenticate: Bearer` challenge naming the absolute, path-inserted protected-resource
 * metadata URL and the baseline scope; 403 `{"error":"forbidden","error_description":…}`
 * (no challenge) when the workspace turned MCP off or refuses the client.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { UserActor } from "../auth/actor.ts";
import { ALL_SCOPES } from "../auth/actor.ts";
import { looksLikeJwt, verifyAccessToken } from "../auth/jwt.ts";
import { actorFromAccessClaims, resolveUserActor } from "../auth/user_actor.ts";
import { looksLikeMcpToken, verifyMcpToken } from "../core/mcp_tokens.ts";
import { findWorkspaceById } from "../core/workspaces.ts";
import { mcpResourceUrl } from "../config.ts";

/** The scopes a client should ask for (PRM `scopes_supported`, the 401 challenge). */
export const BASELINE_SCOPE = ALL_SCOPES.join(" ");

/** Absolute, path-inserted RFC 9728 metadata URL of the `/mcp` resource. */
export function resourceMetadataUrl(deps: Deps): string {
  return `${deps.config.publicUrl}/.well-known/oauth-protected-resource/mcp`;
}

export type McpAuthResult =
  | { ok: true; actor: UserActor; clientId: string; token: string }
  | { ok: false; response: Response };

const WRONG_KIND = "Token does not have required MCP access";
const INVALID_API_TOKEN = "Invalid API token";

/** Quote a value for an RFC 6750 auth-param (no `"` or `\` survive). */
function quote(v: string): string {
  return `"${v.replace(/["\\]/g, "'")}"`;
}

/** The 401 with Dust's body and the Bearer challenge (A1–A3). */
export function unauthorizedResponse(deps: Deps, description: string): Response {
  const challenge = [
    `Bearer error="invalid_token"`,
    `error_description=${quote(description)}`,
    `resource_metadata=${quote(resourceMetadataUrl(deps))}`,
    `scope=${quote(BASELINE_SCOPE)}`,
  ].join(", ");
  return Response.json({ error: "invalid_token", error_description: description }, {
    status: 401,
    headers: { "WWW-Authenticate": challenge, "Cache-Control": "no-store" },
  });
}

/** The terminal 403 (MCP disabled, client refused): no challenge, so clients do not retry. */
export function forbiddenResponse(description: string): Response {
  return Response.json({ error: "forbidden", error_description: description }, {
    status: 403,
    headers: { "Cache-Control": "no-store" },
  });
}

/** Where the token came from; the URL form is only for MCP tokens. */
function extractToken(
  req: Request,
): { token: string; fromUrl: boolean } | { error: string } | null {
  const h = req.headers.get("authorization");
  if (h !== null) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
    if (!m) return { error: "Authorization header must be 'Bearer <token>'" };
    return { token: m[1], fromUrl: false };
  }
  const url = new URL(req.url);
  const t = url.searchParams.get("token");
  if (t) return { token: t, fromUrl: true };
  if (url.searchParams.has("access_token")) {
    return { error: "Access tokens are accepted only in the Authorization header" };
  }
  return null;
}

/** Authenticate one `/mcp` request: the actor, or the ready-made refusal. */
export async function authenticateMcpRequest(deps: Deps, req: Request): Promise<McpAuthResult> {
  const found = extractToken(req);
  if (found === null) return fail401(deps, "Authorization needed");
  if ("error" in found) return fail401(deps, found.error);
  const { token, fromUrl } = found;
  if (token.startsWith("sk-")) return fail401(deps, WRONG_KIND);

  let actor: UserActor | null = null;
  let clientId: string;
  if (looksLikeMcpToken(token)) {
    const check = verifyMcpToken(deps.db, token);
    if (!check.ok) return fail401(deps, INVALID_API_TOKEN);
    actor = resolveUserActor(deps, {
      userSId: check.userSId,
      workspaceSId: check.workspaceSId,
      scopes: new Set(ALL_SCOPES),
      credential: { kind: "mcp_token", id: check.tokenSId },
    });
    if (!actor) return fail401(deps, INVALID_API_TOKEN);
    // A token client has no OAuth client id: the token itself is the client for limits/audit.
    clientId = `mcp_token:${check.tokenSId}`;
  } else if (looksLikeJwt(token)) {
    if (fromUrl) {
      return fail401(deps, "Access tokens are accepted only in the Authorization header");
    }
    const claims = await verifyAccessToken(deps.keys, deps.tokenCache, token, {
      issuer: deps.config.publicUrl,
      audience: mcpResourceUrl(deps.config),
    });
    if (!claims) return fail401(deps, "Access token validation failed");
    actor = actorFromAccessClaims(deps, claims);
    if (!actor) return fail401(deps, "Access token is no longer valid for this workspace");
    clientId = claims.client_id;
  } else {
    return fail401(deps, INVALID_API_TOKEN);
  }

  const ws = findWorkspaceById(deps.db, actor.workspace.id);
  if (!ws || !ws.mcpEnabled) {
    return { ok: false, response: forbiddenResponse("MCP server is disabled for this workspace") };
  }
  if (fromUrl && !ws.allowTokenInUrl) {
    return fail401(
      deps,
      "This workspace does not accept tokens in the URL; send it in the Authorization header",
    );
  }
  return { ok: true, actor, clientId, token };
}

function fail401(deps: Deps, description: string): McpAuthResult {
  return { ok: false, response: unauthorizedResponse(deps, description) };
}
