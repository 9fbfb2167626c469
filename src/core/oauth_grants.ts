/**
 * OAuth grants: one per (client, user, workspace, redirect URI) consent. Every access and
 * refresh token carries its grant, so revoking the grant revokes everything issued under it.
 * @module
 */
import type { Db } from "../db/sqlite.ts";

/** True when the grant exists, is not revoked and has not expired. */
export function isGrantActive(db: Db, grantSId: string, at = Date.now()): boolean {
  const row = db.prepare("SELECT revoked_at, expires_at FROM oauth_grants WHERE s_id = ?").get(
    grantSId,
  ) as { revoked_at: number | null; expires_at: number } | undefined;
  return !!row && row.revoked_at === null && row.expires_at > at;
}
