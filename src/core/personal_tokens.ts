/**
 * Personal access tokens (`pat_…`): for scripts and headless apps. A token acts as its user in
 * one workspace, on the REST API only (never on `/mcp`). Named, optional expiry, shown once,
 * stored as a SHA-256 hash, revocable.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { requireFullAccess, requireScope, requireUser } from "./access.ts";
import { hashSecret } from "../auth/hash.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId, newSecret } from "../util/ids.ts";
import { touchLastUsed } from "./api_keys.ts";

/** Every personal access token starts with this, so the bearer layer can route it. */
export const PERSONAL_TOKEN_PREFIX = "pat_";
/** Longest allowed lifetime when an expiry is given (10 years). */
export const MAX_EXPIRY_DAYS = 3650;

export interface PersonalTokenView {
  sId: string;
  name: string;
  prefix: string;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** What the bearer middleware needs to build a user actor. */
export interface PersonalTokenAuth {
  sId: string;
  workspaceId: number;
  userId: number;
}

// deno-lint-ignore no-explicit-any
function toView(r: any): PersonalTokenView {
  return {
    sId: r.s_id,
    name: r.name,
    prefix: r.token_prefix,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

/**
 * Issue a token for a member of a workspace; the secret is returned once. Callers (operator
 * command, settings page) have already established who may do this.
 */
export async function issuePersonalToken(
  db: Db,
  input: { workspaceId: number; userId: number; name: string; expiresInDays?: number | null },
): Promise<{ token: PersonalTokenView; secret: string }> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 255) throw invalid("name: must be 1 to 255 characters");
  const days = input.expiresInDays ?? null;
  if (days !== null && (!Number.isInteger(days) || days < 1 || days > MAX_EXPIRY_DAYS)) {
    throw invalid(`expires-days: must be a whole number from 1 to ${MAX_EXPIRY_DAYS}`);
  }
  const member = await db.get(
    "SELECT 1 FROM memberships WHERE workspace_id = ? AND user_id = ?",
    input.workspaceId,
    input.userId,
  );
  if (!member) {
    throw new AppError(
      404,
      "workspace_user_not_found",
      "The user is not a member of the workspace.",
    );
  }
  const t = now();
  const secret = newSecret(PERSONAL_TOKEN_PREFIX);
  const row = await db.get(
    `INSERT INTO personal_tokens (s_id, workspace_id, user_id, name, token_hash, token_prefix, expires_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    newResourceId("pat"),
    input.workspaceId,
    input.userId,
    name,
    hashSecret(secret),
    secret.slice(0, PERSONAL_TOKEN_PREFIX.length + 6),
    days === null ? null : t + days * 86_400_000,
    t,
  );
  return { token: toView(row), secret };
}

/** Resolve a presented secret to an active, unexpired token (null otherwise). */
export async function findActivePersonalToken(
  db: Db,
  secret: string,
  at = now(),
): Promise<PersonalTokenAuth | null> {
  const row = await db.get(
    `SELECT id, s_id, workspace_id, user_id, expires_at, last_used_at FROM personal_tokens
     WHERE token_hash = ? AND revoked_at IS NULL`,
    hashSecret(secret),
  ) as
    | {
      id: number;
      s_id: string;
      workspace_id: number;
      user_id: number;
      expires_at: number | null;
      last_used_at: number | null;
    }
    | undefined;
  if (!row || (row.expires_at !== null && row.expires_at <= at)) return null;
  await touchLastUsed(db, "personal_tokens", row.id, row.last_used_at);
  return { sId: row.s_id, workspaceId: row.workspace_id, userId: row.user_id };
}

/**
 * A user's own tokens in a workspace (active, expired and revoked), newest first, paged by an
 * sId cursor. Never the secrets.
 */
export async function listPersonalTokens(
  db: Db,
  input: { workspaceId: number; userId: number; limit: number; cursor?: string },
): Promise<{ tokens: PersonalTokenView[]; nextCursor: string | null }> {
  const after = input.cursor
    ? await db.get(
      "SELECT id FROM personal_tokens WHERE s_id = ? AND workspace_id = ? AND user_id = ?",
      input.cursor,
      input.workspaceId,
      input.userId,
    ) as { id: number } | undefined
    : undefined;
  if (input.cursor && !after) throw invalid("cursor: unknown cursor");
  const rows = await db.all(
    `SELECT * FROM personal_tokens WHERE workspace_id = ? AND user_id = ? AND id < ?
     ORDER BY id DESC LIMIT ?`,
    input.workspaceId,
    input.userId,
    after?.id ?? Number.MAX_SAFE_INTEGER,
    input.limit + 1,
  );
  const tokens = rows.slice(0, input.limit).map(toView);
  return {
    tokens,
    nextCursor: rows.length > input.limit ? tokens[tokens.length - 1].sId : null,
  };
}

/** Revoke one of the user's tokens (idempotent); another user's token answers not found. */
export async function revokePersonalToken(
  db: Db,
  input: { workspaceId: number; userId: number; tokenId: string },
): Promise<PersonalTokenView> {
  const row = await db.get(
    `UPDATE personal_tokens SET revoked_at = coalesce(revoked_at, ?)
     WHERE s_id = ? AND workspace_id = ? AND user_id = ? RETURNING *`,
    now(),
    input.tokenId,
    input.workspaceId,
    input.userId,
  );
  if (!row) throw new AppError(404, "key_not_found", "The personal access token was not found.");
  return toView(row);
}

/**
 * Revoke every live token of a user, in every workspace (password change: a stolen token
 * must stop with the password). Streams opened with them end (`credential_state.ts`).
 */
export async function revokeUserPersonalTokens(
  db: Db,
  userId: number,
  at = now(),
): Promise<number> {
  const r = await db.run(
    "UPDATE personal_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
    at,
    userId,
  );
  return Number(r.changes);
}

const USER_ONLY = "Personal access tokens belong to a user; API keys have none.";

/** The caller creates a personal access token for themselves; the secret is returned once. */
export async function createOwnPersonalToken(
  deps: Deps,
  actor: Actor,
  input: { name: string; expiresInDays?: number | null },
): Promise<{ token: PersonalTokenView; secret: string }> {
  const user = requireUser(actor, USER_ONLY);
  requireScope(actor, "write");
  // A token narrowed on consent must not mint a credential that reaches everything.
  requireFullAccess(actor);
  return await issuePersonalToken(deps.db, {
    workspaceId: user.workspace.id,
    userId: user.user.id,
    name: input.name,
    expiresInDays: input.expiresInDays,
  });
}

/** The caller's own personal access tokens in this workspace (no secrets). */
export async function listOwnPersonalTokens(
  deps: Deps,
  actor: Actor,
  input: { limit: number; cursor?: string },
): Promise<{ tokens: PersonalTokenView[]; nextCursor: string | null }> {
  const user = requireUser(actor, USER_ONLY);
  return await listPersonalTokens(deps.db, {
    workspaceId: user.workspace.id,
    userId: user.user.id,
    ...input,
  });
}

/** The caller revokes one of their tokens (idempotent); anyone else's answers not found. */
export async function revokeOwnPersonalToken(
  deps: Deps,
  actor: Actor,
  input: { tokenId: string },
): Promise<PersonalTokenView> {
  const user = requireUser(actor, USER_ONLY);
  requireScope(actor, "write");
  return await revokePersonalToken(deps.db, {
    workspaceId: user.workspace.id,
    userId: user.user.id,
    tokenId: input.tokenId,
  });
}
