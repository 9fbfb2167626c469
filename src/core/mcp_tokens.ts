/**
 * MCP API tokens (Dot's model, seed 002): for clients without OAuth. One active token per
 * (user, workspace): creating one revokes the previous one. Tokens expire after 365 days, are
 * stored only as a SHA-256 hash, and carry a readable `dmcp_` prefix so `/mcp` can tell them
 * apart from OAuth JWTs and API keys without a lookup.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { newResourceId, newSecret } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";
import type { UserActor } from "../auth/actor.ts";
import { isAdmin, requireFullAccess } from "./access.ts";

export const MCP_TOKEN_PREFIX = "dmcp_";
export const MCP_TOKEN_TTL_MS = 365 * 24 * 3600 * 1000;
/** Characters kept in clear (prefix + a few) so a user can recognise a token in a list. */
const DISPLAY_PREFIX_LENGTH = MCP_TOKEN_PREFIX.length + 6;

/** True when the bearer string has the MCP token shape (no database access). */
export function looksLikeMcpToken(token: string): boolean {
  return token.startsWith(MCP_TOKEN_PREFIX) && /^dmcp_[A-Za-z0-9_-]{40,64}$/.test(token);
}

export interface CreatedMcpToken {
  /** The secret, shown once. */
  token: string;
  sId: string;
  expiresAt: number;
}

/**
 * Create a token for (user, workspace), revoking the previous active one in the same
 * transaction. Callers check membership; this is the storage primitive shared by the
 * Integrations page and the operator CLI.
 */
export async function issueMcpToken(
  db: Db,
  input: { userId: number; workspaceId: number },
  at = now(),
): Promise<CreatedMcpToken> {
  const token = newSecret(MCP_TOKEN_PREFIX);
  const sId = newResourceId("mtk");
  const expiresAt = at + MCP_TOKEN_TTL_MS;
  await db.tx(async () => {
    await db.run(
      `UPDATE mcp_tokens SET revoked_at = ?, revoked_reason = 'replaced'
       WHERE workspace_id = ? AND user_id = ? AND revoked_at IS NULL`,
      at,
      input.workspaceId,
      input.userId,
    );
    await db.run(
      `INSERT INTO mcp_tokens (s_id, workspace_id, user_id, token_hash, token_prefix, expires_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      sId,
      input.workspaceId,
      input.userId,
      hashSecret(token),
      token.slice(0, DISPLAY_PREFIX_LENGTH),
      expiresAt,
      at,
    );
  });
  return { token, sId, expiresAt };
}

/** Create a token for the calling user in the actor's workspace (Integrations page). */
export async function createMcpToken(db: Db, actor: UserActor): Promise<CreatedMcpToken> {
  requireFullAccess(actor);
  return await issueMcpToken(db, { userId: actor.user.id, workspaceId: actor.workspace.id });
}

export type McpTokenCheck =
  | { ok: true; userSId: string; workspaceSId: string; tokenSId: string }
  | { ok: false; reason: "malformed" | "unknown" | "revoked" | "expired" };

/**
 * Look a bearer MCP token up by hash. Membership is not checked here: `/mcp` resolves the
 * user actor afterwards (which refuses a user no longer in the workspace).
 */
export async function verifyMcpToken(db: Db, token: string, at = now()): Promise<McpTokenCheck> {
  if (!looksLikeMcpToken(token)) return { ok: false, reason: "malformed" };
  const row = await db.get(
    `SELECT t.id, t.s_id, t.expires_at, t.revoked_at, t.last_used_at, u.s_id AS user_s_id,
            w.s_id AS workspace_s_id
     FROM mcp_tokens t JOIN users u ON u.id = t.user_id JOIN workspaces w ON w.id = t.workspace_id
     WHERE t.token_hash = ?`,
    hashSecret(token),
  ) as
    | {
      id: number;
      s_id: string;
      expires_at: number;
      revoked_at: number | null;
      last_used_at: number | null;
      user_s_id: string;
      workspace_s_id: string;
    }
    | undefined;
  if (!row) return { ok: false, reason: "unknown" };
  if (row.revoked_at !== null) return { ok: false, reason: "revoked" };
  if (row.expires_at <= at) return { ok: false, reason: "expired" };
  // Record use at most once a minute: a busy client must not turn reads into writes.
  if (row.last_used_at === null || at - row.last_used_at > 60_000) {
    await db.run("UPDATE mcp_tokens SET last_used_at = ? WHERE id = ?", at, row.id);
  }
  return {
    ok: true,
    userSId: row.user_s_id,
    workspaceSId: row.workspace_s_id,
    tokenSId: row.s_id,
  };
}

export interface McpTokenView {
  sId: string;
  prefix: string;
  userSId: string;
  userEmail: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null;
}

/**
 * Active tokens of the actor's workspace: an admin sees everyone's, a user only their own.
 * Bounded by `limit`, newest first, `cursor` = the created_at of the last row seen.
 */
export async function listMcpTokens(
  db: Db,
  actor: UserActor,
  page: { limit: number; cursor?: number } = { limit: 100 },
): Promise<McpTokenView[]> {
  const all = isAdmin(actor) ? 1 : 0;
  const rows = await db.all(
    `SELECT t.s_id, t.token_prefix, t.created_at, t.expires_at, t.last_used_at,
            u.s_id AS user_s_id, u.email
     FROM mcp_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.workspace_id = ? AND t.revoked_at IS NULL AND t.expires_at > ?
       AND (? = 1 OR t.user_id = ?) AND t.created_at < ?
     ORDER BY t.created_at DESC LIMIT ?`,
    actor.workspace.id,
    now(),
    all,
    actor.user.id,
    page.cursor ?? Number.MAX_SAFE_INTEGER,
    Math.min(Math.max(page.limit, 1), 500),
  ) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    sId: r.s_id as string,
    prefix: r.token_prefix as string,
    userSId: r.user_s_id as string,
    userEmail: r.email as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    lastUsedAt: r.last_used_at as number | null,
  }));
}

/** Revoke one token: its owner may, and any admin of its workspace may. */
export async function revokeMcpToken(db: Db, actor: UserActor, tokenSId: string): Promise<void> {
  const row = await db.get(
    "SELECT id, user_id, workspace_id FROM mcp_tokens WHERE s_id = ? AND revoked_at IS NULL",
    tokenSId,
  ) as { id: number; user_id: number; workspace_id: number } | undefined;
  const mayRevoke = row && row.workspace_id === actor.workspace.id &&
    (row.user_id === actor.user.id || isAdmin(actor));
  if (!row || !mayRevoke) {
    throw new AppError(404, "not_found", "No such active MCP token in this workspace.");
  }
  await db.run(
    "UPDATE mcp_tokens SET revoked_at = ?, revoked_reason = ? WHERE id = ?",
    now(),
    row.user_id === actor.user.id ? "revoked_by_user" : "revoked_by_admin",
    row.id,
  );
}

/** Revoke every MCP token of a user (password change). Returns how many were revoked. */
export async function revokeUserMcpTokens(db: Db, userId: number, reason: string): Promise<number> {
  const r = await db.run(
    "UPDATE mcp_tokens SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL",
    now(),
    reason,
    userId,
  );
  return Number(r.changes);
}
