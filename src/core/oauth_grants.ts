/**
 * OAuth grants: one per consent (client, user, workspace, redirect URI). Every access and
 * refresh token carries its grant, so revoking the grant revokes everything issued under it.
 *
 * Refresh tokens rotate on every use. A refresh token that was already used is "reuse": the
 * whole grant is revoked at once, with NO grace window (a client that lost the response must
 * re-authorize; RFC 9700 §4.14.2, panva's default). Refresh tokens share the grant's absolute
 * expiry: one year after consent.
 *
 * The workspace's OAuth settings (MCP switch, redirect allowlist) are checked on every refresh:
 * a refusal is `invalid_grant` and changes nothing (the token is not rotated, the grant not
 * revoked), so an admin who turns access back on does not force everyone to reconnect.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { newResourceId, newSecret } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";
import type { Scope, UserActor } from "../auth/actor.ts";
import { OAuthError } from "./oauth_error.ts";
import { touchClient } from "./oauth_clients.ts";
import { isAdmin } from "./access.ts";
import { oauthClientRefusal } from "./workspace_settings.ts";

export const GRANT_TTL_MS = 365 * 24 * 3600 * 1000;
export const REFRESH_TOKEN_PREFIX = "drt_";

/** True when the grant exists, is not revoked and has not expired. */
export async function isGrantActive(db: Db, grantSId: string, at = Date.now()): Promise<boolean> {
  const row = await db.get(
    "SELECT revoked_at, expires_at FROM oauth_grants WHERE s_id = ?",
    grantSId,
  ) as { revoked_at: number | null; expires_at: number } | undefined;
  return !!row && row.revoked_at === null && row.expires_at > at;
}

/**
 * True when the grant is active AND its workspace currently lets its client in (the re-check
 * of open event streams: turning OAuth access off ends them too).
 */
export async function isGrantUsable(db: Db, grantSId: string, at = Date.now()): Promise<boolean> {
  const row = await db.get(
    "SELECT revoked_at, expires_at, workspace_id, client_id FROM oauth_grants WHERE s_id = ?",
    grantSId,
  ) as
    | { revoked_at: number | null; expires_at: number; workspace_id: number; client_id: string }
    | undefined;
  return !!row && row.revoked_at === null && row.expires_at > at &&
    await oauthClientRefusal(db, row.workspace_id, row.client_id) === null;
}

export interface GrantTokens {
  grantSId: string;
  userSId: string;
  workspaceSId: string;
  clientId: string;
  /**
   * Scopes of the access token to mint: what the client asked for (possibly narrowed by the
   * client on refresh). The user's read-only choice is NOT folded in here but applied on every
   * request from the grant (grant_access.ts), so the user can widen it again at once.
   */
  scopes: Scope[];
  /** What the token may do now (`scopes` less `write` when the grant is read-only): `scope`. */
  grantedScopes: Scope[];
  resource: string;
  refreshToken: string;
}

/** Insert a refresh token for a grant (inside the caller's transaction). */
export async function insertRefreshToken(
  db: Db,
  grantId: number,
  scope: string,
  expiresAt: number,
  at: number,
): Promise<string> {
  const token = newSecret(REFRESH_TOKEN_PREFIX);
  await db.run(
    "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    hashSecret(token),
    grantId,
    scope,
    at,
    expiresAt,
  );
  return token;
}

/** Create a grant (inside the caller's transaction); returns its row id and sId. */
export async function insertGrant(
  db: Db,
  input: {
    clientId: string;
    userId: number;
    workspaceId: number;
    scope: string;
    resource: string;
    redirectUri: string;
  },
  at: number,
): Promise<{ id: number; sId: string; expiresAt: number }> {
  const sId = newResourceId("gnt");
  const expiresAt = at + GRANT_TTL_MS;
  const row = await db.get(
    `INSERT INTO oauth_grants (s_id, client_id, user_id, workspace_id, scope, resource, redirect_uri,
       created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    sId,
    input.clientId,
    input.userId,
    input.workspaceId,
    input.scope,
    input.resource,
    input.redirectUri,
    at,
    at,
    expiresAt,
  ) as { id: number };
  return { id: row.id, sId, expiresAt };
}

/** Revoke a grant by row id (idempotent). */
export async function revokeGrantById(
  db: Db,
  grantId: number,
  reason: string,
  at = now(),
): Promise<void> {
  await db.tx(async () => {
    await db.run(
      "UPDATE oauth_grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
      at,
      reason,
      grantId,
    );
    await db.run(
      "UPDATE oauth_refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
      at,
      grantId,
    );
  });
}

function parseScope(scope: string): Scope[] {
  return scope.split(" ").filter((s): s is Scope => s === "read" || s === "write");
}

interface RefreshRow {
  grant_id: number;
  scope: string;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  client_id: string;
  grant_revoked: number | null;
  grant_expires: number;
  grant_read_only: number;
  resource: string;
  workspace_id: number;
  g_s_id: string;
  user_s_id: string;
  workspace_s_id: string;
}

/**
 * The refresh_token grant (checklist H2, H3, G7): rotate, detect reuse, narrow never widen,
 * keep `resource` inside the grant. Every check happens before any state change, except reuse,
 * which revokes the grant by design.
 */
export async function refreshGrant(
  db: Db,
  clientId: string,
  input: { refreshToken: string; scopes: Scope[] | null; resource: string | null },
  at = now(),
): Promise<GrantTokens> {
  const hash = hashSecret(input.refreshToken);
  const row = await db.get(
    `SELECT r.grant_id, r.scope, r.expires_at, r.used_at, r.revoked_at, g.client_id,
            g.revoked_at AS grant_revoked, g.expires_at AS grant_expires, g.resource, g.workspace_id,
            g.read_only AS grant_read_only,
            g.s_id AS g_s_id,
            u.s_id AS user_s_id, w.s_id AS workspace_s_id
     FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id
       JOIN users u ON u.id = g.user_id JOIN workspaces w ON w.id = g.workspace_id
     WHERE r.token_hash = ?`,
    hash,
  ) as RefreshRow | undefined;
  const invalid = (why: string) => new OAuthError("invalid_grant", why);
  if (!row || row.client_id !== clientId) throw invalid("The refresh token is not valid.");
  if (row.used_at !== null) {
    await revokeGrantById(db, row.grant_id, "refresh_token_reuse", at);
    throw invalid("The refresh token was already used; the grant has been revoked.");
  }
  if (row.revoked_at !== null || row.grant_revoked !== null) {
    throw invalid("The refresh token has been revoked.");
  }
  if (row.expires_at <= at || row.grant_expires <= at) {
    throw invalid("The refresh token has expired.");
  }
  if (input.resource !== null && input.resource !== row.resource) {
    throw new OAuthError("invalid_target", "resource is not the resource of this grant.");
  }
  const held = parseScope(row.scope);
  // The user's read-only choice holds against the client: asking for write is widening.
  const allowed = row.grant_read_only === 1 ? held.filter((s) => s !== "write") : held;
  let scopes = held;
  if (input.scopes !== null) {
    const wider = input.scopes.filter((s) => !allowed.includes(s));
    if (wider.length) {
      throw new OAuthError("invalid_scope", `The grant does not include: ${wider.join(" ")}.`);
    }
    scopes = input.scopes.length ? input.scopes : held;
  }
  const refreshToken = await db.tx(async () => {
    const refusal = await oauthClientRefusal(db, row.workspace_id, clientId);
    if (refusal) throw invalid(`${refusal}.`);
    const used = await db.run(
      "UPDATE oauth_refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
      at,
      hash,
    );
    // A concurrent request used it first: treat as reuse.
    if (Number(used.changes) !== 1) return null;
    await db.run("UPDATE oauth_grants SET last_used_at = ? WHERE id = ?", at, row.grant_id);
    // A refresh is a use: a DCR client that only refreshes must not expire as "unused".
    await touchClient(db, clientId, at);
    // RFC 6749 §6: the new refresh token keeps the scope of the one presented.
    return await insertRefreshToken(db, row.grant_id, row.scope, row.expires_at, at);
  });
  if (refreshToken === null) {
    await revokeGrantById(db, row.grant_id, "refresh_token_reuse", at);
    throw invalid("The refresh token was already used; the grant has been revoked.");
  }
  return {
    grantSId: row.g_s_id,
    userSId: row.user_s_id,
    workspaceSId: row.workspace_s_id,
    clientId,
    scopes,
    grantedScopes: row.grant_read_only === 1 ? scopes.filter((s) => s !== "write") : scopes,
    resource: row.resource,
    refreshToken,
  };
}

/**
 * RFC 7009 for refresh tokens: revoke the grant of a refresh token if it belongs to the
 * client. Unknown tokens and other clients' tokens are ignored (the endpoint answers 200).
 */
export async function revokeRefreshTokenForClient(
  db: Db,
  clientId: string,
  token: string,
): Promise<boolean> {
  const row = await db.get(
    `SELECT g.id, g.client_id FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id
     WHERE r.token_hash = ?`,
    hashSecret(token),
  ) as { id: number; client_id: string } | undefined;
  if (!row || row.client_id !== clientId) return false;
  await revokeGrantById(db, row.id, "revoked_by_client");
  return true;
}

/** RFC 7009 for access tokens: revoke the grant named by a verified token's `gid`. */
export async function revokeGrantForClient(
  db: Db,
  clientId: string,
  grantSId: string,
): Promise<boolean> {
  const row = await db.get("SELECT id, client_id FROM oauth_grants WHERE s_id = ?", grantSId) as
    | { id: number; client_id: string }
    | undefined;
  if (!row || row.client_id !== clientId) return false;
  await revokeGrantById(db, row.id, "revoked_by_client");
  return true;
}

/** Revoke every grant of a user (password change). Returns how many were revoked. */
export async function revokeUserGrants(
  db: Db,
  userId: number,
  reason: string,
  at = now(),
): Promise<number> {
  return await db.tx(async () => {
    const ids = await db.all(
      "SELECT id FROM oauth_grants WHERE user_id = ? AND revoked_at IS NULL",
      userId,
    ) as { id: number }[];
    for (const { id } of ids) await revokeGrantById(db, id, reason, at);
    return ids.length;
  });
}

export interface GrantView {
  sId: string;
  clientId: string;
  clientName: string | null;
  userSId: string;
  userEmail: string;
  scope: string;
  resource: string;
  redirectUri: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number;
  /** The grant's user is the caller (only they edit its access). */
  own: boolean;
  /** What the user chose on consent or since (core/grant_access.ts). */
  access: {
    readOnly: boolean;
    allSpaces: boolean;
    conversations: boolean;
    /** The chosen spaces that still exist (empty when `allSpaces`). */
    spaces: { sId: string; name: string }[];
  };
}

/** Active grants of the actor's workspace: all of them for admins, the user's own otherwise. */
export async function listGrants(
  db: Db,
  actor: UserActor,
  page: { limit: number; cursor?: number } = { limit: 200 },
): Promise<GrantView[]> {
  const rows = await db.all(
    `SELECT g.id, g.s_id, g.client_id, c.client_name, u.s_id AS user_s_id, u.email, g.scope,
            g.resource, g.redirect_uri, g.created_at, g.last_used_at, g.expires_at, g.user_id,
            g.read_only, g.all_spaces, g.conversations
     FROM oauth_grants g JOIN users u ON u.id = g.user_id
       LEFT JOIN oauth_clients c ON c.client_id = g.client_id
     WHERE g.workspace_id = ? AND g.revoked_at IS NULL AND g.expires_at > ?
       AND (? = 1 OR g.user_id = ?) AND g.created_at < ?
     ORDER BY g.created_at DESC LIMIT ?`,
    actor.workspace.id,
    now(),
    isAdmin(actor) ? 1 : 0,
    actor.user.id,
    page.cursor ?? Number.MAX_SAFE_INTEGER,
    Math.min(Math.max(page.limit, 1), 500),
  ) as Array<Record<string, unknown>>;
  const chosen = Map.groupBy(
    await db.all(
      `SELECT gs.grant_id, s.s_id, s.name FROM oauth_grant_spaces gs
       JOIN spaces s ON s.id = gs.space_id
       WHERE gs.grant_id IN (SELECT value FROM json_each(?)) ORDER BY lower(s.name), s.id`,
      JSON.stringify(rows.filter((r) => r.all_spaces !== 1).map((r) => r.id)),
    ) as { grant_id: number; s_id: string; name: string }[],
    (r) => Number(r.grant_id),
  );
  return rows.map((r) => ({
    sId: r.s_id as string,
    clientId: r.client_id as string,
    clientName: r.client_name as string | null,
    userSId: r.user_s_id as string,
    userEmail: r.email as string,
    scope: r.scope as string,
    resource: r.resource as string,
    redirectUri: r.redirect_uri as string,
    createdAt: r.created_at as number,
    lastUsedAt: r.last_used_at as number | null,
    expiresAt: r.expires_at as number,
    own: Number(r.user_id) === actor.user.id,
    access: {
      readOnly: r.read_only === 1 || !String(r.scope).split(" ").includes("write"),
      allSpaces: r.all_spaces === 1,
      conversations: r.conversations === 1,
      spaces: (chosen.get(Number(r.id)) ?? []).map((s) => ({ sId: s.s_id, name: s.name })),
    },
  }));
}

/** Revoke one grant from the connected-access page: its user, or an admin of its workspace. */
export async function revokeGrant(db: Db, actor: UserActor, grantSId: string): Promise<void> {
  const row = await db.get(
    "SELECT id, user_id, workspace_id FROM oauth_grants WHERE s_id = ? AND revoked_at IS NULL",
    grantSId,
  ) as { id: number; user_id: number; workspace_id: number } | undefined;
  const may = row && row.workspace_id === actor.workspace.id &&
    (row.user_id === actor.user.id || isAdmin(actor));
  if (!row || !may) throw new AppError(404, "not_found", "No such active grant in this workspace.");
  await revokeGrantById(
    db,
    row.id,
    row.user_id === actor.user.id ? "revoked_by_user" : "revoked_by_admin",
  );
}
