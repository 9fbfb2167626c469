/**
 * Build a user {@link Actor} from verified token claims: the user must exist and still be a
 * member of the token's workspace, and an OAuth token's grant must still be active.
 * Used by REST (API audience) and `/mcp` (MCP audience) alike.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Credential, Scope, UserActor } from "./actor.ts";
import { ALL_SCOPES } from "./actor.ts";
import type { AccessClaims } from "./jwt.ts";
import { findUserBySId, toUserRef } from "../core/users.ts";
import { findWorkspaceBySId, getRole, toWorkspaceRef } from "../core/workspaces.ts";
import { applyGrantAccess, loadGrantAccess } from "../core/grant_access.ts";

export function parseScopes(scope: string): Set<Scope> {
  const out = new Set<Scope>();
  for (const s of scope.split(" ")) {
    if ((ALL_SCOPES as readonly string[]).includes(s)) out.add(s as Scope);
  }
  return out;
}

/** Resolve a user actor; null when the user, workspace, membership or grant is gone. */
export async function resolveUserActor(
  deps: Deps,
  input: {
    userSId: string;
    workspaceSId: string;
    scopes: ReadonlySet<Scope>;
    credential: Credential;
  },
): Promise<UserActor | null> {
  const user = await findUserBySId(deps.db, input.userSId);
  const ws = await findWorkspaceBySId(deps.db, input.workspaceSId);
  if (!user || !ws) return null;
  const role = await getRole(deps.db, ws.id, user.id);
  if (!role) return null;
  return {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role,
    scopes: input.scopes,
    credential: input.credential,
  };
}

/**
 * Actor for verified OAuth access-token claims: the grant must still be active, and its
 * current choice on consent (read-only, chosen spaces, conversations: core/grant_access.ts)
 * is applied, so an edit on the connected-access page holds from the next request on.
 */
export async function actorFromAccessClaims(
  deps: Deps,
  claims: AccessClaims,
): Promise<UserActor | null> {
  const access = claims.gid ? await loadGrantAccess(deps.db, claims.gid) : null;
  if (claims.gid && !access?.active) return null;
  const actor = await resolveUserActor(deps, {
    userSId: claims.sub,
    workspaceSId: claims.wid,
    scopes: parseScopes(claims.scope),
    credential: {
      kind: "oauth",
      id: claims.gid ?? claims.jti,
      clientId: claims.client_id,
      expiresAt: claims.exp * 1000,
    },
  });
  if (!actor || !access) return actor;
  if (access.userId !== actor.user.id || access.workspaceId !== actor.workspace.id) return null;
  return applyGrantAccess(actor, access);
}
