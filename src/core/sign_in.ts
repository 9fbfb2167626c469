/**
 * Password checks, the one path for every place a password is verified (the sign-in page,
 * which the OAuth authorize flow sends users to, and the account page's password change).
 *
 * - **Same work for every email.** An unknown email, or an account without a password, is
 *   verified against a dummy hash at the current cost (`auth/passwords.ts`), so neither the
 *   time taken nor the hashing done tells whether the account exists.
 * - **Failure limits in the database** (`sign_in_failures`), per fixed window of
 *   {@link SIGN_IN_LIMITS}`.windowMs`: counters are only ever dropped when their window is
 *   over, so no flood of made-up emails can evict the one an attacker is limited by, and
 *   several instances on one database share them. An attempt is refused (429) when any of its
 *   counters is full:
 *   - account + address: {@link SIGN_IN_LIMITS}`.perAccountAddress` failures;
 *   - account, from every address: `perAccount` (far above the first, so an attacker needs
 *     many addresses to reach it);
 *   - address, over every account: `perAddress` (password spraying).
 *   A browser that signed in to the account before (its `sign_in_devices` cookie) is judged
 *   only by its own counter (`perDevice`): however many addresses attack an account, and even
 *   when every client shares one proxy address, its owner's known browsers still get in.
 * - **Rehash at sign-in:** a correct password whose stored hash is below the current cost is
 *   hashed again at the current cost.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { rateLimited } from "../errors.ts";
import { hashSecret } from "../auth/hash.ts";
import { needsRehash, verifyPassword } from "../auth/passwords.ts";
import { addressBucket } from "../auth/rate_limit.ts";
import { findUserByEmail, upgradePasswordHash, type UserRow } from "./users.ts";
import { isTrustedDevice } from "./sign_in_devices.ts";

/** Failure budgets per window (documented in the README, "Sign-in"). */
export const SIGN_IN_LIMITS = {
  windowMs: 15 * 60_000,
  perAccountAddress: 5,
  perAccount: 50,
  perAddress: 100,
  perDevice: 5,
} as const;

/** Expired counters deleted per recorded failure (amortised housekeeping). */
const SWEEP_BATCH = 64;

/** Who is trying: the email typed, the client address, the browser's device cookie. */
export interface SignInSubject {
  email: string;
  address: string;
  /** The device cookie, when the browser sent one. */
  device?: string | null;
}

interface Counter {
  keyHash: string;
  limit: number;
}

/** The counters one attempt is judged by and counted against. */
async function countersFor(
  db: Db,
  subject: SignInSubject,
  user: UserRow | null,
): Promise<Counter[]> {
  const email = subject.email.trim().toLowerCase();
  const address = addressBucket(subject.address);
  if (user && subject.device && await isTrustedDevice(db, user.id, subject.device)) {
    return [{ keyHash: hashSecret(`device:${subject.device}`), limit: SIGN_IN_LIMITS.perDevice }];
  }
  return [
    {
      keyHash: hashSecret(`account+address:${email}\n${address}`),
      limit: SIGN_IN_LIMITS.perAccountAddress,
    },
    { keyHash: hashSecret(`account:${email}`), limit: SIGN_IN_LIMITS.perAccount },
    { keyHash: hashSecret(`address:${address}`), limit: SIGN_IN_LIMITS.perAddress },
  ];
}

/** Seconds until every counter is under its limit again (0: the attempt may go ahead). */
async function secondsToWait(db: Db, counters: Counter[], at: number): Promise<number> {
  const read = db.prepare("SELECT failures, window_start FROM sign_in_failures WHERE key_hash = ?");
  let wait = 0;
  for (const c of counters) {
    const row = await read.get(c.keyHash) as { failures: number; window_start: number } | undefined;
    const end = row ? row.window_start + SIGN_IN_LIMITS.windowMs : 0;
    if (row && end > at && row.failures >= c.limit) {
      wait = Math.max(wait, Math.ceil((end - at) / 1000));
    }
  }
  return wait;
}

async function recordFailure(db: Db, counters: Counter[], at: number): Promise<void> {
  const cutoff = at - SIGN_IN_LIMITS.windowMs;
  await db.tx(async () => {
    const upsert = db.prepare(
      `INSERT INTO sign_in_failures (key_hash, failures, window_start) VALUES (?, 1, ?)
       ON CONFLICT (key_hash) DO UPDATE SET
         failures = CASE WHEN sign_in_failures.window_start <= ? THEN 1
           ELSE sign_in_failures.failures + 1 END,
         window_start = CASE WHEN sign_in_failures.window_start <= ? THEN excluded.window_start
           ELSE sign_in_failures.window_start END`,
    );
    for (const c of counters) await upsert.run(c.keyHash, at, cutoff, cutoff);
    await db.run(
      `DELETE FROM sign_in_failures WHERE key_hash IN
         (SELECT key_hash FROM sign_in_failures WHERE window_start <= ? LIMIT ?)`,
      cutoff,
      SWEEP_BATCH,
    );
  });
}

/**
 * Count one failed attempt (what a wrong password does). Exported so the limits can be
 * exercised at volume without paying a password hash per attempt.
 */
export async function recordSignInFailure(
  db: Db,
  subject: SignInSubject,
  at = now(),
): Promise<void> {
  const user = await findUserByEmail(db, subject.email);
  await recordFailure(db, await countersFor(db, subject, user), at);
}

/** Seconds the subject must wait before trying again (0 when it may try now). */
export async function signInRetryAfter(
  db: Db,
  subject: SignInSubject,
  at = now(),
): Promise<number> {
  const user = await findUserByEmail(db, subject.email);
  return await secondsToWait(db, await countersFor(db, subject, user), at);
}

/**
 * Check a password for an email: the user when it matches; null when it does not (or the
 * account does not exist: the same work is done), counted as a failure. Throws 429 (with
 * `retryAfter`) without checking anything when the subject is over a limit. On success the
 * subject's own counter (account + address, or device) is cleared — the account-wide and
 * address-wide ones are not, or one good sign-in would reset an attacker's budget — and an
 * outdated hash is upgraded unless `upgradeHash` is false.
 */
export async function checkPassword(
  deps: Deps,
  subject: SignInSubject & { password: string },
  options: { upgradeHash?: boolean } = {},
): Promise<UserRow | null> {
  const db = deps.db;
  const user = await findUserByEmail(db, subject.email);
  const counters = await countersFor(db, subject, user);
  const wait = await secondsToWait(db, counters, now());
  if (wait > 0) {
    throw rateLimited(
      `Too many failed sign-in attempts. Try again in ${Math.ceil(wait / 60)} minute(s).`,
      wait,
    );
  }
  const stored = user?.passwordHash ?? null;
  // Always verify (against a dummy hash when there is nothing stored), then look at `user`.
  const matches = await verifyPassword(subject.password, stored);
  if (!matches || !user) {
    await recordFailure(db, counters, now());
    return null;
  }
  await db.run("DELETE FROM sign_in_failures WHERE key_hash = ?", counters[0].keyHash);
  if (options.upgradeHash !== false && stored && needsRehash(stored)) {
    await upgradePasswordHash(db, { userId: user.id, oldHash: stored, password: subject.password })
      .catch((e) => deps.log.warn("password hash upgrade failed", { error: String(e) }));
  }
  return user;
}
