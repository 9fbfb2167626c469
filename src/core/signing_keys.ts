/**
 * Asymmetric signing keys for access tokens: Ed25519 (EdDSA), generated on first start and
 * stored in the database. EdDSA verifies ~9x faster than ES256 on Deno (perf.md).
 * @module
 */
import * as jose from "jose";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { randomString } from "../util/ids.ts";

export interface SigningKey {
  kid: string;
  alg: "EdDSA";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: jose.JWK;
}

export interface KeyRing {
  /** The key new tokens are signed with. */
  current: SigningKey;
  /** Every key tokens may still carry (current first). */
  all: SigningKey[];
  /** JWKS document (public keys only). */
  jwks: { keys: jose.JWK[] };
}

interface Row {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk: string;
}

async function importRow(row: Row): Promise<SigningKey> {
  const publicJwk = JSON.parse(row.public_jwk) as jose.JWK;
  const privateJwk = JSON.parse(row.private_jwk) as jose.JWK;
  return {
    kid: row.kid,
    alg: "EdDSA",
    publicJwk,
    publicKey: await jose.importJWK(publicJwk, "EdDSA") as CryptoKey,
    privateKey: await jose.importJWK(privateJwk, "EdDSA") as CryptoKey,
  };
}

/** Load the active keys, generating the first one when there is none. */
export async function loadKeyRing(db: Db): Promise<KeyRing> {
  const select = async () =>
    await db.all(
      "SELECT kid, alg, public_jwk, private_jwk FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC",
    ) as unknown as Row[];
  let rows = await select();
  if (rows.length === 0) {
    const { publicKey, privateKey } = await jose.generateKeyPair("EdDSA", {
      crv: "Ed25519",
      extractable: true,
    });
    const kid = randomString(16);
    const pub = { ...(await jose.exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" };
    const priv = { ...(await jose.exportJWK(privateKey)), kid, alg: "EdDSA" };
    await db.tx(async () => {
      // Another process (an operator command) may have generated one meanwhile.
      if ((await select()).length > 0) return;
      await db.run(
        "INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at) VALUES (?, 'EdDSA', ?, ?, ?)",
        kid,
        JSON.stringify(pub),
        JSON.stringify(priv),
        now(),
      );
    });
    rows = await select();
  }
  const all = await Promise.all(rows.map(importRow));
  return { current: all[0], all, jwks: { keys: all.map((k) => k.publicJwk) } };
}
