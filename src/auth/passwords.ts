/**
 * Password hashing with `node:crypto` scrypt and constant-time comparison.
 *
 * Format (self-describing, so old hashes keep verifying when the cost changes):
 * `scrypt$N$r$p$<salt b64url>$<hash b64url>`. New hashes use {@link PASSWORD_COST}, OWASP's
 * current scrypt guidance (N=2^17, r=8, p=1: 128 MiB and about 0.4 s per hash on the
 * reference machine); {@link needsRehash} says when a stored hash is below it, and sign-in
 * rehashes it then.
 *
 * Every verification derives exactly one key, also when there is no stored hash to compare
 * with (unknown email, account without a password): it then derives against
 * {@link DUMMY_HASH} at the current cost, so the work done does not tell whether an account
 * exists. At most {@link MAX_CONCURRENT_DERIVATIONS} derivations run at once (each holds
 * 128 MiB); at most {@link MAX_QUEUED_DERIVATIONS} wait, and past that a 503 says to retry.
 * @module
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.ts";

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/** The cost of new hashes (OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1). */
export const PASSWORD_COST: Readonly<ScryptCost> = { N: 2 ** 17, r: 8, p: 1 };
/** The cost before OWASP's current guidance was adopted (hashes are upgraded at sign-in). */
export const LEGACY_PASSWORD_COST: Readonly<ScryptCost> = { N: 2 ** 14, r: 8, p: 1 };

const KEYLEN = 32;
/** Stored costs outside these bounds are refused rather than run (a corrupted row). */
const MAX_N = 2 ** 20, MAX_R = 32, MAX_P = 16;

export const MAX_CONCURRENT_DERIVATIONS = 2;
export const MAX_QUEUED_DERIVATIONS = 64;

/**
 * A well-formed hash of no password anyone knows (its key is not the scrypt of anything
 * chosen): verifying against it costs a real derivation at the current cost and fails.
 */
export const DUMMY_HASH =
  `scrypt$${PASSWORD_COST.N}$${PASSWORD_COST.r}$${PASSWORD_COST.p}$AAAAAAAAAAAAAAAAAAAAAA$` +
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

let running = 0;
const waiting: (() => void)[] = [];
const derivations = new Map<string, number>();

/**
 * How many key derivations ran at each cost (`"N,r,p"`) since the process started: an
 * observable of the work sign-in does (tests assert unknown and known emails cost the same).
 */
export function derivationCounts(): ReadonlyMap<string, number> {
  return new Map(derivations);
}

async function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  if (running >= MAX_CONCURRENT_DERIVATIONS) {
    if (waiting.length >= MAX_QUEUED_DERIVATIONS) {
      throw new AppError(
        503,
        "service_unavailable",
        "Too many sign-ins at once; retry in a few seconds.",
        { retryAfter: 5 },
      );
    }
    await new Promise<void>((ok) => waiting.push(ok));
  } else running++;
  try {
    const key = await new Promise<Buffer>((ok, fail) =>
      scrypt(
        password.normalize("NFKC"),
        salt,
        KEYLEN,
        // scrypt needs 128·r·(N + p + 2) bytes; give it that plus 1 MiB of slack.
        { N: cost.N, r: cost.r, p: cost.p, maxmem: 128 * cost.r * (cost.N + cost.p + 2) + 2 ** 20 },
        (e, k) => e ? fail(e) : ok(k),
      )
    );
    const at = `${cost.N},${cost.r},${cost.p}`;
    derivations.set(at, (derivations.get(at) ?? 0) + 1);
    return key;
  } finally {
    // Hand the slot straight to the next waiter (running stays the same), or free it.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/** Hash a password at {@link PASSWORD_COST} (or an explicit cost: migrations, tests). */
export async function hashPassword(
  password: string,
  cost: ScryptCost = PASSWORD_COST,
): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost);
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString("base64url")}$${
    key.toString("base64url")
  }`;
}

interface Parsed {
  cost: ScryptCost;
  salt: Buffer;
  expected: Buffer;
}

function parseHash(stored: string | null): Parsed | null {
  const parts = stored?.split("$") ?? [];
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const valid = Number.isInteger(N) && N > 1 && N <= MAX_N && (N & (N - 1)) === 0 &&
    Number.isInteger(r) && r >= 1 && r <= MAX_R && Number.isInteger(p) && p >= 1 && p <= MAX_P;
  if (!valid) return null;
  const salt = Buffer.from(parts[4], "base64url");
  const expected = Buffer.from(parts[5], "base64url");
  if (salt.length === 0 || expected.length !== KEYLEN) return null;
  return { cost: { N, r, p }, salt, expected };
}

/**
 * True when `password` matches `stored`. A missing or unreadable stored hash still costs one
 * derivation at the current cost (against {@link DUMMY_HASH}) and answers false.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  const real = parseHash(stored);
  const { cost, salt, expected } = real ?? parseHash(DUMMY_HASH)!;
  const key = await derive(password, salt, cost);
  return timingSafeEqual(key, expected) && real !== null;
}

/** True when a stored hash is below the current cost (or unreadable): rehash it at sign-in. */
export function needsRehash(stored: string | null): boolean {
  if (stored === null) return false;
  const parsed = parseHash(stored);
  if (!parsed) return true;
  const { N, r, p } = parsed.cost;
  return N < PASSWORD_COST.N || r < PASSWORD_COST.r || p < PASSWORD_COST.p;
}

/** Constant-time equality of two strings (e.g. CSRF tokens, client secrets). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
