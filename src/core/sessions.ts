/**
 * Browser sessions for the sign-in, consent and settings pages. The cookie holds a 256-bit
 * random id; the database holds only its hash, the user and a per-session CSRF secret.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { newSecret } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";

export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;

export interface BrowserSession {
  idHash: string;
  userId: number;
  csrf: string;
  expiresAt: number;
}

/** Start a session; returns the cookie value (the only place the id exists in clear). */
export async function createSession(
  db: Db,
  userId: number,
  at = now(),
): Promise<{ id: string; csrf: string }> {
  const id = newSecret();
  const csrf = newSecret();
  await db.run("DELETE FROM browser_sessions WHERE expires_at < ?", at);
  await db.run(
    `INSERT INTO browser_sessions (id_hash, user_id, csrf_secret, created_at, expires_at, last_seen_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
    hashSecret(id),
    userId,
    csrf,
    at,
    at + SESSION_TTL_MS,
    at,
  );
  return { id, csrf };
}

/** The live session for a cookie value, or null. */
export async function findSession(db: Db, id: string, at = now()): Promise<BrowserSession | null> {
  if (!id || id.length > 128) return null;
  const row = await db.get(
    "SELECT id_hash, user_id, csrf_secret, expires_at FROM browser_sessions WHERE id_hash = ?",
    hashSecret(id),
  ) as
    | { id_hash: string; user_id: number; csrf_secret: string; expires_at: number }
    | undefined;
  if (!row || row.expires_at <= at) return null;
  return {
    idHash: row.id_hash,
    userId: row.user_id,
    csrf: row.csrf_secret,
    expiresAt: row.expires_at,
  };
}

/** End one session (sign out). */
export async function deleteSession(db: Db, id: string): Promise<void> {
  await db.run("DELETE FROM browser_sessions WHERE id_hash = ?", hashSecret(id));
}

/** End every session of a user except, optionally, the current one (password change). */
export async function deleteUserSessions(
  db: Db,
  userId: number,
  keepIdHash: string | null,
): Promise<number> {
  const r = await db.run(
    "DELETE FROM browser_sessions WHERE user_id = ? AND id_hash IS DISTINCT FROM ?",
    userId,
    keepIdHash,
  );
  return Number(r.changes);
}
