/**
 * Whether the stored credential behind an already-authenticated actor is still live. A
 * request is authenticated once, but a long-lived response (an event stream) outlives that
 * moment: revoking the token it was opened with must still stop it.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Credential } from "../auth/actor.ts";
import { isGrantUsable } from "./oauth_grants.ts";

type TokenRow = { revoked_at: number | null; expires_at?: number | null } | undefined;

/** The row that says whether a stored token is revoked or expired, by credential kind. */
const STATE_SQL = {
  personal_token: "SELECT revoked_at, expires_at FROM personal_tokens WHERE s_id = ?",
  api_key: "SELECT revoked_at FROM api_keys WHERE s_id = ?",
  mcp_token: "SELECT revoked_at, expires_at FROM mcp_tokens WHERE s_id = ?",
} as const;

/**
 * True unless the credential was revoked or expired since it was verified. OAuth access
 * tokens are judged by their own expiry and their grant, including whether the grant's workspace
 * still lets its client in (a token without a grant has nothing stored to revoke); a browser
 * session that names its id hash (a console page's event stream) must still be stored and
 * unexpired, other session actors (agent runs) count as live.
 */
export async function isCredentialActive(
  db: Db,
  credential: Credential,
  at = now(),
): Promise<boolean> {
  if (credential.expiresAt !== undefined && credential.expiresAt <= at) return false;
  if (credential.kind === "session") {
    if (credential.sessionIdHash === undefined) return true;
    const row = await db.get(
      "SELECT expires_at FROM browser_sessions WHERE id_hash = ?",
      credential.sessionIdHash,
    ) as { expires_at: number } | undefined;
    return !!row && row.expires_at > at;
  }
  if (credential.kind === "oauth") {
    if (!credential.id.startsWith("gnt_")) return true;
    if (!await isGrantUsable(db, credential.id, at)) return false;
    if (credential.grantVersion === undefined) return true;
    // The user edited what the grant may reach (grant_access.ts): the stream ends, and the
    // client's reconnection is judged under the new choice.
    const row = await db.get(
      "SELECT access_version FROM oauth_grants WHERE s_id = ?",
      credential.id,
    ) as { access_version: number } | undefined;
    return !!row && Number(row.access_version) === credential.grantVersion;
  }
  const row = await db.get(STATE_SQL[credential.kind], credential.id) as TokenRow;
  return !!row && row.revoked_at === null && (row.expires_at == null || row.expires_at > at);
}
