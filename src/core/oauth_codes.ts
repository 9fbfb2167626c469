/**
 * Authorization codes: 256-bit, stored hashed, single use, 5 minutes. Each code is bound to
 * the client, redirect URI, PKCE challenge, resource, scopes, user and workspace (F10).
 * Redeeming validates everything BEFORE the code is consumed (G2); a second redemption is
 * replay: `invalid_grant`, and the grant the first redemption created is revoked (G3). The
 * workspace's OAuth settings are checked again at redemption (they may have changed since
 * consent): a refusal is `invalid_grant` and leaves the code unconsumed.
 * @module
 */
import { createHash } from "node:crypto";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { newSecret } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";
import { safeEqual } from "../auth/passwords.ts";
import type { Scope } from "../auth/actor.ts";
import { OAuthError } from "./oauth_error.ts";
import {
  type GrantTokens,
  insertGrant,
  insertRefreshToken,
  revokeGrantById,
} from "./oauth_grants.ts";
import { touchClient } from "./oauth_clients.ts";
import {
  type AccessChoice,
  decodeChoice,
  effectiveScopes,
  encodeChoice,
  FULL_ACCESS,
  writeGrantChoice,
} from "./grant_access.ts";
import { oauthClientRefusal } from "./workspace_settings.ts";

export const CODE_TTL_MS = 5 * 60 * 1000;

export interface CodeInput {
  clientId: string;
  userId: number;
  workspaceId: number;
  redirectUri: string;
  redirectUriSent: boolean;
  codeChallenge: string;
  /** The scopes the client asked for (the grant's ceiling). */
  scopes: Scope[];
  resource: string;
  /** What the user chose on consent (read-only, spaces, conversations); default: everything. */
  access?: AccessChoice;
}

/** Issue a code after consent; returns the code (given once to the client). */
export async function issueCode(db: Db, input: CodeInput, at = now()): Promise<string> {
  const code = newSecret();
  await db.run(
    `INSERT INTO oauth_codes (code_hash, client_id, user_id, workspace_id, redirect_uri,
       redirect_uri_sent, code_challenge, scope, resource, created_at, expires_at, access)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    hashSecret(code),
    input.clientId,
    input.userId,
    input.workspaceId,
    input.redirectUri,
    input.redirectUriSent ? 1 : 0,
    input.codeChallenge,
    input.scopes.join(" "),
    input.resource,
    at,
    at + CODE_TTL_MS,
    encodeChoice(input.access ?? FULL_ACCESS),
  );
  return code;
}

/** RFC 7636 S256: BASE64URL(SHA256(verifier)). */
export function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

interface CodeRow {
  client_id: string;
  user_id: number;
  workspace_id: number;
  redirect_uri: string;
  redirect_uri_sent: number;
  code_challenge: string;
  scope: string;
  resource: string;
  grant_id: number | null;
  expires_at: number;
  consumed_at: number | null;
  access: string | null;
  user_s_id: string;
  workspace_s_id: string;
}

function checkCode(
  row: CodeRow,
  clientId: string,
  input: { redirectUri: string | null; codeVerifier: string | null; resource: string | null },
  at: number,
): void {
  const bad = (why: string) => new OAuthError("invalid_grant", why);
  if (row.client_id !== clientId) throw bad("The code was issued to another client.");
  if (row.expires_at <= at) throw bad("The authorization code has expired.");
  if (row.redirect_uri_sent === 1 && input.redirectUri !== row.redirect_uri) {
    throw bad("redirect_uri does not match the authorization request.");
  }
  if (input.redirectUri !== null && input.redirectUri !== row.redirect_uri) {
    throw bad("redirect_uri does not match the authorization request.");
  }
  if (!input.codeVerifier) throw new OAuthError("invalid_request", "code_verifier is required.");
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(input.codeVerifier)) {
    throw bad("code_verifier is not a valid PKCE verifier.");
  }
  if (!safeEqual(s256(input.codeVerifier), row.code_challenge)) {
    throw bad("code_verifier does not match the code_challenge.");
  }
  if (input.resource !== null && input.resource !== row.resource) {
    throw new OAuthError(
      "invalid_target",
      "resource is not the resource this code was issued for.",
    );
  }
}

/** The authorization_code grant. */
export async function redeemAuthorizationCode(
  db: Db,
  clientId: string,
  input: {
    code: string;
    redirectUri: string | null;
    codeVerifier: string | null;
    resource: string | null;
  },
  at = now(),
): Promise<GrantTokens> {
  const hash = hashSecret(input.code);
  const row = await db.get(
    `SELECT c.client_id, c.user_id, c.workspace_id, c.redirect_uri, c.redirect_uri_sent,
            c.code_challenge, c.scope, c.resource, c.grant_id, c.expires_at, c.consumed_at,
            c.access, u.s_id AS user_s_id, w.s_id AS workspace_s_id
     FROM oauth_codes c JOIN users u ON u.id = c.user_id JOIN workspaces w ON w.id = c.workspace_id
     WHERE c.code_hash = ?`,
    hash,
  ) as CodeRow | undefined;
  if (!row) throw new OAuthError("invalid_grant", "The authorization code is not valid.");
  if (row.consumed_at !== null) {
    if (row.client_id === clientId && row.grant_id !== null) {
      await revokeGrantById(db, row.grant_id, "authorization_code_replay", at);
    }
    throw new OAuthError("invalid_grant", "The authorization code was already used.");
  }
  checkCode(row, clientId, input, at);
  const choice = decodeChoice(row.access);
  const out = await db.tx(async () => {
    const refusal = await oauthClientRefusal(db, row.workspace_id, clientId);
    if (refusal) throw new OAuthError("invalid_grant", `${refusal}.`);
    const grant = await insertGrant(db, {
      clientId,
      userId: row.user_id,
      workspaceId: row.workspace_id,
      scope: row.scope,
      resource: row.resource,
      redirectUri: row.redirect_uri,
    }, at);
    if (row.access !== null) await writeGrantChoice(db, grant.id, choice);
    const consumed = await db.run(
      "UPDATE oauth_codes SET consumed_at = ?, grant_id = ? WHERE code_hash = ? AND consumed_at IS NULL",
      at,
      grant.id,
      hash,
    );
    if (Number(consumed.changes) !== 1) {
      throw new OAuthError("invalid_grant", "The authorization code was already used.");
    }
    await touchClient(db, clientId, at);
    return {
      grantSId: grant.sId,
      refreshToken: await insertRefreshToken(db, grant.id, row.scope, grant.expiresAt, at),
    };
  });
  return {
    grantSId: out.grantSId,
    userSId: row.user_s_id,
    workspaceSId: row.workspace_s_id,
    clientId,
    scopes: row.scope.split(" ").filter(Boolean) as Scope[],
    grantedScopes: [...effectiveScopes(new Set(row.scope.split(" ") as Scope[]), choice)]
      .filter((s) => s === "read" || s === "write"),
    resource: row.resource,
    refreshToken: out.refreshToken,
  };
}
