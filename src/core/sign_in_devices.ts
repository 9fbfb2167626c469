/**
 * Known browsers ("device cookies", OWASP's answer to lockouts): a successful sign-in gives
 * the browser a random token bound to the account (the database keeps its hash). Sign-in
 * attempts from a browser that holds a live token for the account are limited by their own
 * counter only, never by the account-wide or address-wide ones (`core/sign_in.ts`), so an
 * attacker cannot lock an account's owner out of the browsers they already use. The token
 * grants nothing else: it is not a session, and the password is still checked.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { hashSecret } from "../auth/hash.ts";
import { newSecret } from "../util/ids.ts";

/** A known browser stays known this long after its last successful sign-in. */
export const DEVICE_TTL_MS = 180 * 86_400_000;
/** Known browsers remembered per account (the least recently used ones are forgotten). */
export const MAX_DEVICES_PER_USER = 20;

/** True when `token` is a live device token of this user. */
export async function isTrustedDevice(
  db: Db,
  userId: number,
  token: string,
  at = now(),
): Promise<boolean> {
  if (token.length > 128) return false;
  const row = await db.get(
    "SELECT 1 FROM sign_in_devices WHERE token_hash = ? AND user_id = ? AND expires_at > ?",
    hashSecret(token),
    userId,
    at,
  );
  return row !== undefined;
}

/**
 * After a successful sign-in: keep the browser's token when it is already this user's
 * (pushing its expiry), else issue a new one. Returns the token for the cookie.
 */
export async function rememberDevice(
  db: Db,
  userId: number,
  current: string | null | undefined,
  at = now(),
): Promise<string> {
  return await db.tx(async () => {
    if (current && await isTrustedDevice(db, userId, current, at)) {
      await db.run(
        "UPDATE sign_in_devices SET last_used_at = ?, expires_at = ? WHERE token_hash = ?",
        at,
        at + DEVICE_TTL_MS,
        hashSecret(current),
      );
      return current;
    }
    const token = newSecret();
    await db.run("DELETE FROM sign_in_devices WHERE user_id = ? AND expires_at <= ?", userId, at);
    await db.run(
      `INSERT INTO sign_in_devices (token_hash, user_id, created_at, last_used_at, expires_at)
       VALUES (?, ?, ?, ?, ?)`,
      hashSecret(token),
      userId,
      at,
      at,
      at + DEVICE_TTL_MS,
    );
    await db.run(
      `DELETE FROM sign_in_devices WHERE user_id = ? AND token_hash NOT IN
         (SELECT token_hash FROM sign_in_devices WHERE user_id = ?
          ORDER BY last_used_at DESC, created_at DESC, token_hash DESC LIMIT ?)`,
      userId,
      userId,
      MAX_DEVICES_PER_USER,
    );
    return token;
  });
}
