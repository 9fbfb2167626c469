/**
 * Asymmetric signing keys for access tokens: Ed25519 (EdDSA), generated on first start and
 * stored in the database. EdDSA verifies ~9x faster than ES256 on Deno (perf.md).
 *
 * Several instances share the keys: the first key is generated under a lock (instances starting
 * together on an empty database make one key ring), and the ring each instance holds is
 * reloaded when the keys change anywhere — on the bus's `keys:changed` note (a PostgreSQL
 * trigger sends it, whoever wrote the rows: `signing-keys rotate` included), and when a token
 * names a key this instance does not know yet (at most once per {@link RELOAD_MIN_MS}).
 * @module
 */
import * as jose from "jose";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { randomString } from "../util/ids.ts";
import type { Deps } from "../deps.ts";
import { isResync } from "../events/bus.ts";

/** Channel of the note sent when signing keys change (by the database trigger on PostgreSQL). */
export const KEYS_CHANGED_CHANNEL = "keys:changed";
/** An unknown key id reloads the ring at most this often. */
export const RELOAD_MIN_MS = 5_000;

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
  /**
   * Re-read the keys from the database (the fields above change in place); rate-limited
   * unless `force`. Absent on a fixed ring (tests).
   */
  reload?(force?: boolean): Promise<void>;
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

const SELECT_ACTIVE =
  "SELECT kid, alg, public_jwk, private_jwk FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid";

async function newKeyRow(): Promise<{ kid: string; pub: string; priv: string }> {
  const { publicKey, privateKey } = await jose.generateKeyPair("EdDSA", {
    crv: "Ed25519",
    extractable: true,
  });
  const kid = randomString(16);
  const pub = { ...(await jose.exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" };
  const priv = { ...(await jose.exportJWK(privateKey)), kid, alg: "EdDSA" };
  return { kid, pub: JSON.stringify(pub), priv: JSON.stringify(priv) };
}

async function insertKey(db: Db, key: { kid: string; pub: string; priv: string }) {
  await db.run(
    "INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at) VALUES (?, 'EdDSA', ?, ?, ?)",
    key.kid,
    key.pub,
    key.priv,
    now(),
  );
}

async function readRing(db: Db): Promise<Pick<KeyRing, "current" | "all" | "jwks">> {
  const rows = await db.all(SELECT_ACTIVE) as unknown as Row[];
  if (rows.length === 0) throw new Error("no active signing key");
  const all = await Promise.all(rows.map(importRow));
  return { current: all[0], all, jwks: { keys: all.map((k) => k.publicJwk) } };
}

/** Load the active keys, generating the first one (under a lock) when there is none. */
export async function loadKeyRing(db: Db): Promise<KeyRing> {
  if (!await db.get("SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1")) {
    const key = await newKeyRow();
    await db.lockedTx("dust-mcp:signing-keys", async () => {
      // Another instance (or an operator command) may have generated one meanwhile.
      if (await db.get("SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1")) return;
      await insertKey(db, key);
    });
  }
  const ring: KeyRing = await readRing(db);
  let lastReload = 0;
  let reloading: Promise<void> | null = null;
  ring.reload = (force = false) => {
    if (!force && Date.now() - lastReload < RELOAD_MIN_MS) return reloading ?? Promise.resolve();
    lastReload = Date.now();
    reloading ??= readRing(db).then((fresh) => void Object.assign(ring, fresh))
      .finally(() => (reloading = null));
    return reloading;
  };
  return ring;
}

/**
 * Rotate: a new key signs from now on; the previous current key still verifies the tokens it
 * signed (until the next rotation), older ones are retired. Every instance reloads its ring.
 * Returns the new key id.
 */
export async function rotateSigningKey(db: Db): Promise<{ kid: string; retired: number }> {
  const key = await newKeyRow();
  return await db.lockedTx("dust-mcp:signing-keys", async () => {
    const previous = await db.get(
      "SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1",
    ) as { kid: string } | undefined;
    const retired = await db.run(
      "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND kid <> ?",
      now(),
      previous?.kid ?? "",
    );
    await insertKey(db, key);
    return { kid: key.kid, retired: retired.changes };
  });
}

/**
 * Reload the ring when the keys change on any instance: at once on the bus's note (PostgreSQL),
 * and on every cluster tick when the active key ids differ from the ring's (a rotation by an
 * operator command on SQLite, a note lost in a bus gap).
 */
export function watchKeyRing(
  deps: Pick<Deps, "db" | "events" | "keys" | "tokenCache" | "log" | "cluster">,
): void {
  const reload = () =>
    deps.keys.reload?.(true).then(
      // Tokens memoised as verified may be signed by a key retired now.
      () => deps.tokenCache.clear(),
      (e) => deps.log.warn("signing keys not reloaded", { error: String(e) }),
    );
  deps.events.subscribe(KEYS_CHANGED_CHANNEL, (note) => {
    if (isResync(note)) deps.log.debug("reloading signing keys after a bus gap");
    void reload();
  });
  deps.cluster.onTick(async () => {
    const rows = await deps.db.all(SELECT_ACTIVE.replace(", public_jwk, private_jwk", ""));
    const kids = rows.map((r) => String(r.kid)).join(" ");
    if (kids !== deps.keys.all.map((k) => k.kid).join(" ")) await reload();
  });
}
