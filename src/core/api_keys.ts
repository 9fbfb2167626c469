/**
 * Workspace API keys (`sk-…`): a key acts as its workspace, never as a user (Dust's
 * "builder"-level key without system privileges). The secret is shown once at creation and
 * stored only as a SHA-256 hash; the list shows a short prefix so admins can tell keys apart.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { hashSecret } from "../auth/hash.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId, newSecret } from "../util/ids.ts";
import { requireScope, requireWorkspaceRole } from "./access.ts";

/** Every workspace API key starts with this (Dust's keys do too). */
export const API_KEY_PREFIX = "sk-";

/** Public view of a key (never the secret). */
export interface ApiKeyView {
  sId: string;
  name: string;
  /** The first characters of the secret, for recognition. */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  createdBy: string | null;
}

/** What the bearer middleware needs to act as the key's workspace. */
export interface ApiKeyAuth {
  sId: string;
  workspaceId: number;
}

// deno-lint-ignore no-explicit-any
function toView(r: any): ApiKeyView {
  return {
    sId: r.s_id,
    name: r.name,
    prefix: r.key_prefix,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    createdBy: r.created_by ?? null,
  };
}

function validateName(name: string): string {
  const n = name.trim();
  if (n.length === 0 || n.length > 255) throw invalid("name: must be 1 to 255 characters");
  return n;
}

/**
 * Insert a key for a workspace and return the secret once. Used by the admin route and the
 * operator command (which has no actor, hence the plain `db` signature).
 */
export async function insertApiKey(
  db: Db,
  input: { workspaceId: number; name: string; createdByUserId: number | null },
): Promise<{ key: ApiKeyView; secret: string }> {
  const name = validateName(input.name);
  const secret = newSecret(API_KEY_PREFIX);
  const row = await db.get(
    `INSERT INTO api_keys (s_id, workspace_id, name, key_hash, key_prefix, created_by_user_id, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    newResourceId("key"),
    input.workspaceId,
    name,
    hashSecret(secret),
    secret.slice(0, API_KEY_PREFIX.length + 6),
    input.createdByUserId,
    now(),
  );
  return { key: toView(row), secret };
}

/** Admins create a workspace API key; the secret is in the result and nowhere else. */
export async function createApiKey(
  deps: Deps,
  actor: Actor,
  input: { name: string },
): Promise<{ key: ApiKeyView; secret: string }> {
  requireScope(actor, "write");
  const user = requireWorkspaceRole(actor, ["admin"], "Only workspace admins can manage API keys.");
  return await insertApiKey(deps.db, {
    workspaceId: actor.workspace.id,
    name: input.name,
    createdByUserId: user.user.id,
  });
}

/** Admins list the workspace's keys (active and revoked), newest first, paged by sId cursor. */
export async function listApiKeys(
  deps: Deps,
  actor: Actor,
  input: { limit: number; cursor?: string },
): Promise<{ keys: ApiKeyView[]; nextCursor: string | null }> {
  requireWorkspaceRole(actor, ["admin"], "Only workspace admins can manage API keys.");
  return await listWorkspaceApiKeys(deps.db, { workspaceId: actor.workspace.id, ...input });
}

/** A workspace's keys, newest first (the admin route and the operator command). */
export async function listWorkspaceApiKeys(
  db: Db,
  input: { workspaceId: number; limit: number; cursor?: string },
): Promise<{ keys: ApiKeyView[]; nextCursor: string | null }> {
  const after = input.cursor
    ? await db.get(
      "SELECT id FROM api_keys WHERE s_id = ? AND workspace_id = ?",
      input.cursor,
      input.workspaceId,
    ) as { id: number } | undefined
    : undefined;
  if (input.cursor && !after) throw invalid("cursor: unknown cursor");
  const rows = await db.all(
    `SELECT k.*, u.email AS created_by FROM api_keys k LEFT JOIN users u ON u.id = k.created_by_user_id
     WHERE k.workspace_id = ? AND k.id < ? ORDER BY k.id DESC LIMIT ?`,
    input.workspaceId,
    after?.id ?? Number.MAX_SAFE_INTEGER,
    input.limit + 1,
  );
  const keys = rows.slice(0, input.limit).map(toView);
  return { keys, nextCursor: rows.length > input.limit ? keys[keys.length - 1].sId : null };
}

/** Admins revoke a key; a key of another workspace answers not found. Idempotent. */
export async function revokeApiKey(
  deps: Deps,
  actor: Actor,
  input: { keyId: string },
): Promise<ApiKeyView> {
  requireScope(actor, "write");
  requireWorkspaceRole(actor, ["admin"], "Only workspace admins can manage API keys.");
  return await revokeWorkspaceApiKey(deps.db, {
    workspaceId: actor.workspace.id,
    keyId: input.keyId,
  });
}

/** Revoke a key of a workspace (idempotent); the admin route and the operator command. */
export async function revokeWorkspaceApiKey(
  db: Db,
  input: { workspaceId: number; keyId: string },
): Promise<ApiKeyView> {
  const row = await db.get(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE s_id = ? AND workspace_id = ?
     RETURNING *`,
    now(),
    input.keyId,
    input.workspaceId,
  );
  if (!row) throw new AppError(404, "api_key_not_found", "The API key was not found.");
  return toView(row);
}

/** Resolve a presented secret to its active key (null for unknown or revoked keys). */
export async function findActiveApiKey(db: Db, secret: string): Promise<ApiKeyAuth | null> {
  const row = await db.get(
    "SELECT id, s_id, workspace_id, last_used_at FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
    hashSecret(secret),
  ) as
    | { id: number; s_id: string; workspace_id: number; last_used_at: number | null }
    | undefined;
  if (!row) return null;
  await touchLastUsed(db, "api_keys", row.id, row.last_used_at);
  return { sId: row.s_id, workspaceId: row.workspace_id };
}

/** Record use at most once a minute, so busy keys do not write on every request. */
export async function touchLastUsed(
  db: Db,
  table: "api_keys" | "personal_tokens",
  id: number,
  lastUsedAt: number | null,
): Promise<void> {
  const t = now();
  if (lastUsedAt !== null && t - lastUsedAt < 60_000) return;
  const sql = table === "api_keys"
    ? "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
    : "UPDATE personal_tokens SET last_used_at = ? WHERE id = ?";
  await db.run(sql, t, id);
}
