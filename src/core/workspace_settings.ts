/**
 * Per-workspace MCP controls (Dust's `dustMcpServer*` settings, dust.md §2.6): the MCP server
 * on/off, the redirect-URI policy ("all" or an allowlist of Dust's patterns) and whether an MCP
 * token may travel in the URL.
 *
 * The switch and the allowlist govern EVERY third-party OAuth application, whatever resource it
 * asked for: the MCP server (`/mcp`) and the REST API (`/api/v1`). Dust has no third-party OAuth
 * on its REST API, so there "MCP server off" means "no outside application reaches the
 * workspace"; a second switch for REST would default either to open (the bypass of issue 10
 * finding 5, for every admin who never saw it) or to closed (breaking REST clients on upgrade).
 * API keys, personal access tokens and MCP tokens are made in the console by the workspace's
 * own people and are not governed by the allowlist (MCP tokens do follow the MCP switch).
 *
 * {@link checkClientAllowed} is the one rule. It runs when the user picks the workspace on the
 * consent page, when a code is exchanged, on every refresh (a refusal is `invalid_grant` and
 * changes nothing, so turning access back on restores the grant), on every `/mcp` and REST
 * request an access token makes, and in the re-check of open event streams.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import type { UserActor } from "../auth/actor.ts";
import { findWorkspaceById, type WorkspaceRow } from "./workspaces.ts";
import { requireWorkspaceRole } from "./access.ts";

export const DEFAULT_ALLOWED_REDIRECT_URIS = ["http://localhost:*", "http://127.0.0.1:*"];
export const MCP_DISABLED_MESSAGE = "MCP server is disabled for this workspace";
export const REDIRECT_NOT_ALLOWED_MESSAGE =
  "Connect application redirect URIs are not allowed for this workspace";

const PORT_WILDCARD = /^([a-z][a-z0-9+.-]*):\/\/([^/:?#]+):\*(\/[^?#]*)?$/i;

interface ParsedUri {
  scheme: string;
  host: string;
  port: string;
  rest: string;
}

/** Split without `new URL` normalisation quirks for private-use schemes (`cursor://...`). */
function splitUri(uri: string): ParsedUri | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(.*)$/i.exec(uri);
  if (!m) return null;
  const authority = m[2];
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (!hostPort) return null;
  return {
    scheme: m[1].toLowerCase(),
    host: hostPort[1].toLowerCase(),
    port: hostPort[2] ?? "",
    rest: m[3] || "/",
  };
}

/**
 * Dust's allowlist matcher: `*` matches anything; `scheme://host:*[/path]` matches any port
 * (or none) of that scheme and host (case-insensitive) and, when given, exactly that path;
 * anything else matches the exact string or an equal scheme, host, port and path+query.
 */
export function matchesRedirectPattern(pattern: string, uri: string): boolean {
  if (pattern === "*") return true;
  if (pattern === uri) return true;
  const target = splitUri(uri);
  if (!target) return false;
  const wild = PORT_WILDCARD.exec(pattern);
  if (wild) {
    if (wild[1].toLowerCase() !== target.scheme || wild[2].toLowerCase() !== target.host) {
      return false;
    }
    return wild[3] === undefined || wild[3] === target.rest.replace(/[?#].*$/, "");
  }
  const p = splitUri(pattern);
  return !!p && p.scheme === target.scheme && p.host === target.host && p.port === target.port &&
    p.rest === target.rest;
}

/** True when every one of the client's redirect URIs matches some allowlist pattern. */
export function redirectUrisAllowed(patterns: readonly string[], uris: readonly string[]) {
  return uris.length > 0 && uris.every((u) => patterns.some((p) => matchesRedirectPattern(p, u)));
}

export type ClientCheck =
  | { allowed: true }
  | { allowed: false; error: "forbidden"; description: string };

/**
 * May this client (OAuth client_id, or null for an MCP API token) use `/mcp` in this workspace?
 * Refused when the MCP server is off, or in allowlist mode when any of the client's registered
 * redirect URIs matches no pattern (an unknown client is refused too).
 */
export async function checkClientAllowed(
  db: Db,
  workspace: { id: number },
  clientId: string | null,
): Promise<ClientCheck> {
  const ws = await findWorkspaceById(db, workspace.id);
  if (!ws || !ws.mcpEnabled) {
    return { allowed: false, error: "forbidden", description: MCP_DISABLED_MESSAGE };
  }
  if (ws.redirectPolicy === "all" || clientId === null) return { allowed: true };
  const row = await db.get(
    "SELECT redirect_uris FROM oauth_clients WHERE client_id = ?",
    clientId,
  ) as { redirect_uris: string } | undefined;
  const uris = row ? JSON.parse(row.redirect_uris) as string[] : [];
  return redirectUrisAllowed(ws.allowedRedirectUris, uris)
    ? { allowed: true }
    : { allowed: false, error: "forbidden", description: REDIRECT_NOT_ALLOWED_MESSAGE };
}

/**
 * Why this workspace refuses the OAuth client (the text shown to the user or client), or null
 * when it lets it in. Every OAuth authorization, exchange, refresh and use goes through here.
 */
export async function oauthClientRefusal(
  db: Db,
  workspaceId: number,
  clientId: string,
): Promise<string | null> {
  const check = await checkClientAllowed(db, { id: workspaceId }, clientId);
  return check.allowed ? null : check.description;
}

/** REST: 403 `workspace_auth_error` unless the workspace lets this OAuth client in. */
export async function requireOAuthClientAllowed(
  db: Db,
  workspace: { id: number },
  clientId: string,
): Promise<void> {
  const refusal = await oauthClientRefusal(db, workspace.id, clientId);
  if (refusal) {
    throw new AppError(
      403,
      "workspace_auth_error",
      `${refusal}: an admin controls OAuth applications (MCP and REST) on the workspace's MCP settings.`,
    );
  }
}

/** Validate an allowlist: non-empty entries with a `scheme://` prefix (or `*`), no duplicates. */
export function validateAllowlist(entries: readonly string[]): string[] {
  const out: string[] = [];
  if (entries.length > 100) throw invalid("allowedRedirectUris: at most 100 entries");
  for (const raw of entries) {
    const e = raw.trim();
    if (e === "") throw invalid("allowedRedirectUris: entries must not be empty");
    if (e.length > 2048) throw invalid("allowedRedirectUris: an entry is too long");
    if (e !== "*" && !/^[a-z][a-z0-9+.-]*:\/\/\S/i.test(e)) {
      throw invalid(`allowedRedirectUris: "${e}" must start with a scheme such as https://`);
    }
    if (out.includes(e)) throw invalid(`allowedRedirectUris: "${e}" is listed twice`);
    out.push(e);
  }
  return out;
}

export interface McpSettingsInput {
  mcpEnabled: boolean;
  redirectPolicy: "all" | "allowlist";
  allowedRedirectUris: readonly string[];
  allowTokenInUrl: boolean;
}

/** Save the MCP settings of the actor's workspace (admins only). */
export async function updateMcpSettings(
  db: Db,
  actor: UserActor,
  input: McpSettingsInput,
): Promise<WorkspaceRow> {
  requireWorkspaceRole(actor, ["admin"], "Only workspace admins can change MCP settings.");
  if (input.redirectPolicy !== "all" && input.redirectPolicy !== "allowlist") {
    throw invalid('redirectPolicy: must be "all" or "allowlist"');
  }
  const list = validateAllowlist(input.allowedRedirectUris);
  if (input.redirectPolicy === "allowlist" && list.length === 0) {
    throw invalid("allowedRedirectUris: the allowlist needs at least one entry");
  }
  await db.run(
    `UPDATE workspaces SET mcp_enabled = ?, redirect_policy = ?, allowed_redirect_uris = ?,
       allow_token_in_url = ?, updated_at = ? WHERE id = ?`,
    input.mcpEnabled ? 1 : 0,
    input.redirectPolicy,
    JSON.stringify(list),
    input.allowTokenInUrl ? 1 : 0,
    now(),
    actor.workspace.id,
  );
  return (await findWorkspaceById(db, actor.workspace.id))!;
}

/** The current settings of a workspace (for pages and `/mcp`). */
export async function getMcpSettings(db: Db, workspaceId: number): Promise<WorkspaceRow> {
  const ws = await findWorkspaceById(db, workspaceId);
  if (!ws) throw new AppError(404, "workspace_not_found", "The workspace was not found.");
  return ws;
}
