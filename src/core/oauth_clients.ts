/**
 * OAuth clients, registered three ways: Dynamic Client Registration (RFC 7591, `kind = dcr`),
 * admin-created static clients (`static`), and Client ID Metadata Documents (`cimd`, the row is
 * a copy of the last validated document so pages and the `/mcp` allowlist can read it).
 * Unused DCR clients expire after 30 days and are deleted lazily when looked up or when
 * another client registers.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { newSecret, randomString } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";
import { safeEqual } from "../auth/passwords.ts";
import type { UserActor } from "../auth/actor.ts";
import { OAuthError } from "./oauth_error.ts";
import { isAdmin, requireWorkspaceRole } from "./access.ts";

export type AuthMethod = "none" | "client_secret_basic" | "client_secret_post";
export const AUTH_METHODS: readonly AuthMethod[] = [
  "none",
  "client_secret_basic",
  "client_secret_post",
];
export type ClientKind = "cimd" | "dcr" | "static";
export const DCR_UNUSED_TTL_MS = 30 * 24 * 3600 * 1000;
const BLOCKED_SCHEMES = new Set(["javascript", "data", "vbscript", "file", "blob"]);
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
/**
 * Private-use schemes without a dot that real MCP clients register (mcp-auth.md §4, D3):
 * Cursor `cursor://anysphere.cursor-mcp/oauth/callback`, VS Code `vscode://…` (and Insiders),
 * Windsurf `windsurf://…`, the Claude desktop app `claude://…`. RFC 8252 §7.1 asks for
 * reverse-domain schemes; these predate that and stay accepted by name.
 */
export const KNOWN_CLIENT_SCHEMES: ReadonlySet<string> = new Set([
  "cursor",
  "vscode",
  "vscode-insiders",
  "windsurf",
  "claude",
]);
/** A reverse-domain private-use scheme (RFC 8252 §7.1), e.g. `com.example.app`. */
const REVERSE_DOMAIN_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/;

export interface OAuthClient {
  clientId: string;
  kind: ClientKind;
  workspaceId: number | null;
  name: string;
  clientUri: string | null;
  logoUri: string | null;
  redirectUris: string[];
  grantTypes: string[];
  authMethod: AuthMethod;
  /** DCR clients that omitted the method get a secret and may use Basic or post. */
  methodDefaulted: boolean;
  secretHash: string | null;
  applicationType: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
}

const COLUMNS =
  "client_id, kind, workspace_id, client_name, client_uri, logo_uri, redirect_uris, grant_types, token_endpoint_auth_method, secret_hash, application_type, metadata, created_at, last_used_at, expires_at";

// deno-lint-ignore no-explicit-any
function fromRow(r: any): OAuthClient {
  const meta = JSON.parse(r.metadata) as Record<string, unknown>;
  return {
    clientId: r.client_id,
    kind: r.kind,
    workspaceId: r.workspace_id,
    name: r.client_name,
    clientUri: httpsUriOrNull(r.client_uri),
    logoUri: httpsUriOrNull(r.logo_uri),
    redirectUris: JSON.parse(r.redirect_uris),
    grantTypes: JSON.parse(r.grant_types),
    authMethod: r.token_endpoint_auth_method,
    methodDefaulted: meta.methodDefaulted === true,
    secretHash: r.secret_hash,
    applicationType: r.application_type,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
  };
}

/** Look a registered client up; an expired DCR client is deleted and reported as unknown. */
export async function findClient(
  db: Db,
  clientId: string,
  at = now(),
): Promise<OAuthClient | null> {
  const r = await db.get(`SELECT ${COLUMNS} FROM oauth_clients WHERE client_id = ?`, clientId);
  if (!r) return null;
  const c = fromRow(r);
  if (c.kind === "dcr" && c.expiresAt !== null && c.expiresAt <= at) {
    await db.run("DELETE FROM oauth_clients WHERE client_id = ?", clientId);
    return null;
  }
  return c;
}

/** Record a use (token issued): keeps a DCR client alive for another 30 days. */
export async function touchClient(db: Db, clientId: string, at = now()): Promise<void> {
  await db.run(
    `UPDATE oauth_clients SET last_used_at = ?,
       expires_at = CASE WHEN kind = 'dcr' THEN ? ELSE expires_at END WHERE client_id = ?`,
    at,
    at + DCR_UNUSED_TTL_MS,
    clientId,
  );
}

/** Delete up to 100 expired DCR clients (called on registration, so the table stays bounded). */
export async function sweepExpiredClients(db: Db, at = now()): Promise<number> {
  const r = await db.run(
    `DELETE FROM oauth_clients WHERE id IN (SELECT id FROM oauth_clients
       WHERE kind = 'dcr' AND expires_at IS NOT NULL AND expires_at <= ? LIMIT 100)`,
    at,
  );
  return Number(r.changes);
}

function schemeOf(uri: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(uri);
  return m ? m[1].toLowerCase() : null;
}

/**
 * Registration policy for one redirect URI (checklist D3; RFC 8252 §7.1, §7.3): https for any
 * host; http only on loopback; a private-use scheme only in reverse-domain form
 * (`com.example.app:/cb`) or one of {@link KNOWN_CLIENT_SCHEMES}. Everything else is refused
 * (`javascript:`, `data:`, `about:`, `view-source:`, `feed:`, `ms-settings:`…: browser- or
 * OS-internal schemes a redirect must never open); no fragment. Returns the reason, or null.
 */
export function redirectUriProblem(uri: string): string | null {
  if (typeof uri !== "string" || uri.length === 0 || uri.length > 2048) {
    return "a redirect URI must be a non-empty string of at most 2048 characters";
  }
  if (/[\s<>"]/.test(uri)) return `"${uri}" contains characters not allowed in a URI`;
  const scheme = schemeOf(uri);
  if (!scheme) return `"${uri}" is not an absolute URI`;
  if (BLOCKED_SCHEMES.has(scheme)) return `the ${scheme}: scheme is not allowed`;
  if (uri.includes("#")) return `"${uri}" must not contain a fragment`;
  if (scheme === "http" || scheme === "https") {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      return `"${uri}" is not a valid URL`;
    }
    if (u.username || u.password) return `"${uri}" must not contain user information`;
    if (scheme === "http" && !LOOPBACK_HOSTS.has(u.hostname)) {
      return `"${uri}": plain http is allowed only for localhost, 127.0.0.1 and [::1]`;
    }
    return null;
  }
  if (!REVERSE_DOMAIN_SCHEME.test(scheme) && !KNOWN_CLIENT_SCHEMES.has(scheme)) {
    return `the ${scheme}: scheme is not allowed: use https, http on a loopback host, or a ` +
      "private-use scheme in reverse-domain form such as com.example.app:/callback";
  }
  // Private-use scheme (RFC 8252 §7.1): something must follow the colon.
  return uri.length > scheme.length + 1 ? null : `"${uri}" is incomplete`;
}

/**
 * `client_uri` / `logo_uri` (display only): kept when an https URL, otherwise dropped (RFC 7591
 * §3.2.1 lets the server omit values). Dropping rather than refusing keeps a cosmetic field
 * from failing a client's whole registration. Also applied when reading stored rows.
 */
export function httpsUriOrNull(value: unknown): string | null {
  if (typeof value !== "string" || value.length > 2048 || !/^https:\/\//i.test(value)) {
    return null;
  }
  try {
    const u = new URL(value);
    return u.protocol === "https:" && !u.username && !u.password ? value : null;
  } catch {
    return null;
  }
}

function isLoopbackHttp(u: URL): boolean {
  return u.protocol === "http:" && LOOPBACK_HOSTS.has(u.hostname);
}

/**
 * Does the requested redirect URI match a registered one? Exact string match, except the
 * port on loopback http URIs (RFC 8252 §7.3); `localhost`, `127.0.0.1` and `[::1]` are
 * distinct hosts.
 */
export function redirectUriMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let req: URL;
  try {
    req = new URL(requested);
  } catch {
    return false;
  }
  if (!isLoopbackHttp(req) || req.username || req.password || req.hash) return false;
  return registered.some((r) => {
    let reg: URL;
    try {
      reg = new URL(r);
    } catch {
      return false;
    }
    return isLoopbackHttp(reg) && reg.hostname === req.hostname &&
      reg.pathname === req.pathname && reg.search === req.search;
  });
}

export interface ClientMetadataInput {
  redirect_uris?: unknown;
  client_name?: unknown;
  client_uri?: unknown;
  logo_uri?: unknown;
  grant_types?: unknown;
  response_types?: unknown;
  token_endpoint_auth_method?: unknown;
  application_type?: unknown;
  scope?: unknown;
}

const optionalString = (v: unknown, field: string, max = 2048): string | null => {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || v.length > max) {
    throw new OAuthError("invalid_client_metadata", `${field} must be a string`);
  }
  return v;
};

/** Validate redirect URIs for registration: all-or-nothing with the first reason. */
export function validateRedirectUris(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 20) {
    throw new OAuthError("invalid_redirect_uri", "redirect_uris must list 1 to 20 URIs");
  }
  for (const u of value) {
    const problem = redirectUriProblem(u as string);
    if (problem) throw new OAuthError("invalid_redirect_uri", problem);
  }
  return [...new Set(value as string[])];
}

/** Keep only the grant types this server implements; authorization_code must remain. */
function validateGrantTypes(value: unknown): string[] {
  if (value === undefined || value === null) return ["authorization_code", "refresh_token"];
  if (!Array.isArray(value)) {
    throw new OAuthError("invalid_client_metadata", "grant_types must be an array");
  }
  const kept = value.filter((g) => g === "authorization_code" || g === "refresh_token");
  if (!kept.includes("authorization_code")) {
    throw new OAuthError(
      "invalid_client_metadata",
      "grant_types must include authorization_code (the only flow this server offers)",
    );
  }
  // Refresh tokens are always issued (checklist H1), so the grant is always registered.
  return [...new Set([...kept, "refresh_token"])];
}

export interface RegisteredClient {
  client: OAuthClient;
  /** The client secret, returned once (confidential clients only). */
  secret: string | null;
}

/** RFC 7591 registration (checklist D1–D4). */
export async function registerDynamicClient(
  db: Db,
  input: ClientMetadataInput,
): Promise<RegisteredClient> {
  const redirectUris = validateRedirectUris(input.redirect_uris);
  const grantTypes = validateGrantTypes(input.grant_types);
  if (
    input.response_types !== undefined &&
    !(Array.isArray(input.response_types) && input.response_types.every((r) => r === "code"))
  ) {
    throw new OAuthError("invalid_client_metadata", 'response_types may only contain "code"');
  }
  const rawMethod = input.token_endpoint_auth_method;
  if (rawMethod !== undefined && !AUTH_METHODS.includes(rawMethod as AuthMethod)) {
    throw new OAuthError(
      "invalid_client_metadata",
      `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(", ")}`,
    );
  }
  const appType = optionalString(input.application_type, "application_type", 16);
  if (appType !== null && appType !== "native" && appType !== "web") {
    throw new OAuthError("invalid_client_metadata", 'application_type must be "native" or "web"');
  }
  const method = (rawMethod ?? "client_secret_basic") as AuthMethod;
  const name = (optionalString(input.client_name, "client_name", 200) ?? "").trim() ||
    "Unnamed client";
  const at = now();
  await sweepExpiredClients(db, at);
  return await insertClient(db, {
    clientId: `dcr_${randomString(24)}`,
    kind: "dcr",
    workspaceId: null,
    name,
    clientUri: httpsUriOrNull(input.client_uri),
    logoUri: httpsUriOrNull(input.logo_uri),
    redirectUris,
    grantTypes,
    method,
    methodDefaulted: rawMethod === undefined,
    applicationType: appType,
    createdByUserId: null,
    expiresAt: at + DCR_UNUSED_TTL_MS,
  }, at);
}

interface InsertInput {
  clientId: string;
  kind: ClientKind;
  workspaceId: number | null;
  name: string;
  clientUri: string | null;
  logoUri: string | null;
  redirectUris: string[];
  grantTypes: string[];
  method: AuthMethod;
  methodDefaulted: boolean;
  applicationType: string | null;
  createdByUserId: number | null;
  expiresAt: number | null;
}

async function insertClient(db: Db, i: InsertInput, at = now()): Promise<RegisteredClient> {
  const secret = i.method === "none" ? null : newSecret("dcs_");
  const row = await db.get(
    `INSERT INTO oauth_clients (client_id, kind, workspace_id, client_name, client_uri, logo_uri,
       redirect_uris, grant_types, token_endpoint_auth_method, secret_hash, application_type,
       metadata, created_by_user_id, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
    i.clientId,
    i.kind,
    i.workspaceId,
    i.name,
    i.clientUri,
    i.logoUri,
    JSON.stringify(i.redirectUris),
    JSON.stringify(i.grantTypes),
    i.method,
    secret ? hashSecret(secret) : null,
    i.applicationType,
    JSON.stringify({ methodDefaulted: i.methodDefaulted }),
    i.createdByUserId,
    at,
    i.expiresAt,
  );
  return { client: fromRow(row), secret };
}

function requireAdmin(actor: UserActor): void {
  requireWorkspaceRole(actor, ["admin"], "Only workspace admins can manage clients.");
}

/** An admin creates a static client for the workspace (checklist E1). */
export async function createStaticClient(
  db: Db,
  actor: UserActor,
  input: { name: string; redirectUris: string[]; authMethod: AuthMethod },
): Promise<RegisteredClient> {
  requireAdmin(actor);
  const name = input.name.trim();
  if (!name || name.length > 200) {
    throw new AppError(400, "invalid_request_error", "name: must be 1 to 200 characters");
  }
  if (!AUTH_METHODS.includes(input.authMethod)) {
    throw new AppError(400, "invalid_request_error", "authMethod: not a supported method");
  }
  let redirectUris: string[];
  try {
    redirectUris = validateRedirectUris(input.redirectUris);
  } catch (e) {
    throw new AppError(400, "invalid_request_error", (e as Error).message);
  }
  return await insertClient(db, {
    clientId: `sta_${randomString(20)}`,
    kind: "static",
    workspaceId: actor.workspace.id,
    name,
    clientUri: null,
    logoUri: null,
    redirectUris,
    grantTypes: ["authorization_code", "refresh_token"],
    method: input.authMethod,
    methodDefaulted: false,
    applicationType: null,
    createdByUserId: actor.user.id,
    expiresAt: null,
  });
}

/** An admin deletes one of the workspace's static clients (its grants are revoked). */
export async function deleteStaticClient(
  db: Db,
  actor: UserActor,
  clientId: string,
): Promise<void> {
  requireAdmin(actor);
  const r = await db.run(
    "DELETE FROM oauth_clients WHERE client_id = ? AND kind = 'static' AND workspace_id = ?",
    clientId,
    actor.workspace.id,
  );
  if (Number(r.changes) === 0) {
    throw new AppError(404, "not_found", "No such static client in this workspace.");
  }
  await db.run(
    "UPDATE oauth_grants SET revoked_at = ?, revoked_reason = 'client_deleted' WHERE client_id = ? AND revoked_at IS NULL",
    now(),
    clientId,
  );
}

/** Store (or refresh) the copy of a validated CIMD document. */
export async function upsertCimdClient(
  db: Db,
  doc: {
    clientId: string;
    name: string;
    clientUri: string | null;
    logoUri: string | null;
    redirectUris: string[];
    grantTypes: string[];
    applicationType: string | null;
  },
): Promise<OAuthClient> {
  const row = await db.get(
    `INSERT INTO oauth_clients (client_id, kind, client_name, client_uri, logo_uri, redirect_uris,
       grant_types, token_endpoint_auth_method, application_type, created_at)
     VALUES (?, 'cimd', ?, ?, ?, ?, ?, 'none', ?, ?)
     ON CONFLICT (client_id) DO UPDATE SET client_name = excluded.client_name,
       client_uri = excluded.client_uri, logo_uri = excluded.logo_uri,
       redirect_uris = excluded.redirect_uris, grant_types = excluded.grant_types,
       application_type = excluded.application_type
     WHERE oauth_clients.kind = 'cimd'
     RETURNING ${COLUMNS}`,
    doc.clientId,
    doc.name,
    doc.clientUri,
    doc.logoUri,
    JSON.stringify(doc.redirectUris),
    JSON.stringify(doc.grantTypes),
    doc.applicationType,
    now(),
  );
  if (!row) throw new OAuthError("invalid_client", "client_id is already used by another client");
  return fromRow(row);
}

/** Constant-time check of a presented client secret against the stored hash. */
export function clientSecretMatches(client: OAuthClient, secret: string): boolean {
  return !!client.secretHash && safeEqual(hashSecret(secret), client.secretHash);
}

export interface ClientView {
  clientId: string;
  kind: ClientKind;
  name: string;
  redirectUris: string[];
  authMethod: AuthMethod;
  createdAt: number;
  lastUsedAt: number | null;
  activeGrants: number;
}

/**
 * Clients relevant to the actor's workspace: the workspace's static clients and every client
 * holding a grant in it (admins), or the clients holding the user's own grants (users).
 */
export async function listClients(db: Db, actor: UserActor, limit = 200): Promise<ClientView[]> {
  const admin = isAdmin(actor) ? 1 : 0;
  const rows = await db.all(
    `SELECT c.client_id, c.kind, c.client_name, c.redirect_uris, c.token_endpoint_auth_method,
            c.created_at, c.last_used_at,
            (SELECT count(*) FROM oauth_grants g WHERE g.client_id = c.client_id
               AND g.workspace_id = ? AND g.revoked_at IS NULL AND (? = 1 OR g.user_id = ?)) AS n
     FROM oauth_clients c
     WHERE (? = 1 AND c.kind = 'static' AND c.workspace_id = ?)
        OR EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = c.client_id
               AND g.workspace_id = ? AND (? = 1 OR g.user_id = ?))
     ORDER BY c.created_at DESC LIMIT ?`,
    actor.workspace.id,
    admin,
    actor.user.id,
    admin,
    actor.workspace.id,
    actor.workspace.id,
    admin,
    actor.user.id,
    limit,
  ) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    clientId: r.client_id as string,
    kind: r.kind as ClientKind,
    name: r.client_name as string,
    redirectUris: JSON.parse(r.redirect_uris as string),
    authMethod: r.token_endpoint_auth_method as AuthMethod,
    createdAt: r.created_at as number,
    lastUsedAt: r.last_used_at as number | null,
    activeGrants: r.n as number,
  }));
}
