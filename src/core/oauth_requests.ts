/**
 * Pending authorization requests: what `/authorize` validated, kept server-side while the
 * user signs in, picks a workspace and consents. The browser carries only an opaque id (stored
 * hashed). A request expires after 10 minutes ("start again from your client").
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { newSecret } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";
import type { Scope } from "../auth/actor.ts";

export const AUTH_REQUEST_TTL_MS = 10 * 60 * 1000;

export interface AuthRequestParams {
  clientId: string;
  redirectUri: string;
  /** Whether the client sent redirect_uri (then /token must receive the same value). */
  redirectUriSent: boolean;
  state: string | null;
  codeChallenge: string;
  scopes: Scope[];
  resource: string;
}

export type AuthRequestLookup =
  | { status: "ok"; params: AuthRequestParams; expiresAt: number }
  | { status: "expired" | "unknown" | "completed" };

/** Store a validated request; returns the opaque id the browser carries. */
export async function createAuthRequest(
  db: Db,
  params: AuthRequestParams,
  at = now(),
): Promise<string> {
  const id = newSecret();
  // Keep the table small: requests older than a day are of no use to anyone.
  await db.run("DELETE FROM oauth_auth_requests WHERE expires_at < ?", at - 24 * 3600 * 1000);
  await db.run(
    `INSERT INTO oauth_auth_requests (id_hash, client_id, params, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?)`,
    hashSecret(id),
    params.clientId,
    JSON.stringify(params),
    at,
    at + AUTH_REQUEST_TTL_MS,
  );
  return id;
}

/** Look a request up by its id. */
export async function findAuthRequest(db: Db, id: string, at = now()): Promise<AuthRequestLookup> {
  if (!id || id.length > 128) return { status: "unknown" };
  const row = await db.get(
    "SELECT params, expires_at, completed_at FROM oauth_auth_requests WHERE id_hash = ?",
    hashSecret(id),
  ) as
    | { params: string; expires_at: number; completed_at: number | null }
    | undefined;
  if (!row) return { status: "unknown" };
  if (row.completed_at !== null) return { status: "completed" };
  if (row.expires_at <= at) return { status: "expired" };
  return { status: "ok", params: JSON.parse(row.params), expiresAt: row.expires_at };
}

/** Mark the request answered; false when it was already answered (double submit). */
export async function completeAuthRequest(
  db: Db,
  id: string,
  answer: { userId: number; workspaceId: number | null },
  at = now(),
): Promise<boolean> {
  const r = await db.run(
    `UPDATE oauth_auth_requests SET completed_at = ?, user_id = ?, workspace_id = ?
     WHERE id_hash = ? AND completed_at IS NULL AND expires_at > ?`,
    at,
    answer.userId,
    answer.workspaceId,
    hashSecret(id),
    at,
  );
  return Number(r.changes) === 1;
}
