/**
 * User access tokens: JWTs (RFC 9068 style) signed with the instance's Ed25519 key, bound to
 * one workspace (`wid`) and one audience (`aud`: the MCP or the REST resource URL). Verified
 * tokens are memoised for at most {@link VERIFIED_TTL_MS} (and never past their expiry), so a
 * busy client costs one signature check a minute; revocation is honoured because callers check
 * the grant on every request, and a revoked grant's entries are dropped at once when the bus
 * says so (any instance: `auth:revoked`).
 * @module
 */
import * as jose from "jose";
import type { KeyRing } from "../core/signing_keys.ts";
import type { Scope } from "./actor.ts";
import { randomString } from "../util/ids.ts";

export interface AccessClaims {
  iss: string;
  sub: string;
  aud: string;
  wid: string;
  scope: string;
  client_id: string;
  /** OAuth grant sId, or absent for tokens minted outside OAuth. */
  gid?: string;
  jti: string;
  iat: number;
  exp: number;
  region: string;
}

export interface IssueInput {
  issuer: string;
  userSId: string;
  workspaceSId: string;
  audience: string;
  scopes: readonly Scope[];
  clientId: string;
  grantSId?: string;
  region: string;
  ttlSeconds: number;
}

export async function issueAccessToken(keys: KeyRing, input: IssueInput): Promise<string> {
  const jwt = new jose.SignJWT({
    wid: input.workspaceSId,
    scope: input.scopes.join(" "),
    client_id: input.clientId,
    region: input.region,
    ...(input.grantSId ? { gid: input.grantSId } : {}),
  })
    .setProtectedHeader({ alg: "EdDSA", kid: keys.current.kid, typ: "at+jwt" })
    .setIssuer(input.issuer)
    .setSubject(input.userSId)
    .setAudience(input.audience)
    .setIssuedAt()
    .setJti(randomString(16))
    .setExpirationTime(`${input.ttlSeconds}s`);
  return await jwt.sign(keys.current.privateKey);
}

/** How long a verified token is memoised at most (a backstop: revocation drops it at once). */
export const VERIFIED_TTL_MS = 60_000;

/** A bounded memo of verified tokens, each dropped at its `exp` or after the TTL. */
export class VerifiedTokenCache {
  #map = new Map<string, { claims: AccessClaims; until: number }>();
  constructor(readonly max = 10_000, readonly ttlMs = VERIFIED_TTL_MS) {}

  get(token: string, nowSeconds: number): AccessClaims | undefined {
    const e = this.#map.get(token);
    if (!e) return undefined;
    if (e.claims.exp <= nowSeconds || e.until <= nowSeconds * 1000) {
      this.#map.delete(token);
      return undefined;
    }
    return e.claims;
  }

  set(token: string, claims: AccessClaims, at = Date.now()): void {
    if (this.#map.size >= this.max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(token, { claims, until: at + this.ttlMs });
  }

  /** Drop the tokens of a grant (revoked), or of a user (all their grants). */
  drop(match: { grantSId?: string; userSId?: string }): number {
    let n = 0;
    for (const [token, e] of this.#map) {
      if (
        (match.grantSId !== undefined && e.claims.gid === match.grantSId) ||
        (match.userSId !== undefined && e.claims.sub === match.userSId)
      ) {
        this.#map.delete(token);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.#map.size;
  }

  clear(): void {
    this.#map.clear();
  }
}

/** Quick shape check: three base64url segments (so API keys and MCP tokens are told apart). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/**
 * Verify signature, issuer, audience and expiry. Returns null for any invalid token (the
 * caller answers 401 in its surface's shape).
 */
export async function verifyAccessToken(
  keys: KeyRing,
  cache: VerifiedTokenCache,
  token: string,
  expected: { issuer: string; audience: string },
): Promise<AccessClaims | null> {
  const nowS = Math.floor(Date.now() / 1000);
  const hit = cache.get(token, nowS);
  if (hit) return hit.aud === expected.audience && hit.iss === expected.issuer ? hit : null;
  if (!looksLikeJwt(token)) return null;
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(token, async (header) => {
      let key = keys.all.find((k) => k.kid === header.kid);
      if (!key && keys.reload) {
        // Signed by a key another instance made current since this ring was loaded?
        await keys.reload();
        key = keys.all.find((k) => k.kid === header.kid);
      }
      if (!key) throw new Error("unknown kid");
      return key.publicKey;
    }, { algorithms: ["EdDSA"], clockTolerance: 5 });
    if (protectedHeader.typ !== "at+jwt") return null;
    const claims = payload as unknown as AccessClaims;
    if (
      typeof claims.sub !== "string" || typeof claims.wid !== "string" ||
      typeof claims.aud !== "string" || typeof claims.exp !== "number" ||
      typeof claims.iss !== "string" || typeof claims.scope !== "string"
    ) return null;
    cache.set(token, claims);
    return claims.aud === expected.audience && claims.iss === expected.issuer ? claims : null;
  } catch {
    return null;
  }
}
