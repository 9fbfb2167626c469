/**
 * Client-side MCP server registrations (`../reference/dust.md` §3.2–3.4, §3.9): one row per
 * registered server in `relay_registrations`, owned by one (workspace, user), alive for
 * 10 minutes after the last heartbeat, stream open or result post. Only users register: a
 * workspace API key has no user to own the server.
 * @module
 */
import { randomBytes } from "node:crypto";
import type { Deps } from "../deps.ts";
import type { Actor, UserActor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, forbidden, invalid, notFound, rateLimited } from "../errors.ts";
import { isAdmin, requireScope, requireUser as requireUserActor } from "./access.ts";

/** A live registration. */
export interface Registration {
  serverId: string;
  serverName: string;
  workspaceId: number;
  userId: number;
  registeredAt: number;
  lastHeartbeatAt: number;
  expiresAt: number;
}

export const SERVER_NAME_MIN = 5;
export const SERVER_NAME_MAX = 30;
const ALLOCATION_ATTEMPTS = 3;

/**
 * Dust-style slug: ASCII letters and digits, everything else collapsed to `_`, no leading or
 * trailing `_` (so `a__b` can separate a server slug from a tool slug unambiguously).
 */
export function slugify(text: string): string {
  const slug = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase()
    .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  return slug;
}

/** `mcp-client-side:<slug>.<16 lowercase hex>` (8 random bytes, as Dust since PR #28939). */
export function newServerId(serverName: string): string {
  const slug = slugify(serverName) || "server";
  return `mcp-client-side:${slug}.${randomBytes(8).toString("hex")}`;
}

function requireUser(actor: Actor): UserActor {
  if (actor.kind !== "user") {
    throw invalidForbidden("API keys are not allowed to register MCP servers.");
  }
  return actor;
}

function invalidForbidden(message: string): AppError {
  return new AppError(403, "invalid_request_error", message);
}

// deno-lint-ignore no-explicit-any
function fromRow(r: any): Registration {
  return {
    serverId: r.server_id,
    serverName: r.server_name,
    workspaceId: r.workspace_id,
    userId: r.user_id,
    registeredAt: r.registered_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    expiresAt: r.expires_at,
  };
}

function validateServerName(serverName: string): string {
  if (serverName.length < SERVER_NAME_MIN || serverName.length > SERVER_NAME_MAX) {
    throw invalid(
      `serverName: must be between ${SERVER_NAME_MIN} and ${SERVER_NAME_MAX} characters`,
    );
  }
  return serverName;
}

/** Register a client-side MCP server for the calling user; returns its id and expiry. */
export async function registerRelayServer(
  deps: Deps,
  actor: Actor,
  input: { serverName: string },
): Promise<{ serverId: string; expiresAt: string }> {
  const user = requireUser(actor);
  // Registering lets the token answer the user's agents' tool calls: a write, not a read.
  requireScope(actor, "write");
  const serverName = validateServerName(input.serverName);
  const wait = deps.relay.takeRegisterSlot(user.user.id);
  if (wait > 0) {
    throw rateLimited("Too many MCP server registrations; retry in a minute.", wait);
  }
  const t = now();
  const expiresAt = t + deps.relay.timings.registrationTtlMs;
  // Housekeeping on a rare write: expired registrations and request-log rows of dead servers.
  await deps.db.run("DELETE FROM relay_registrations WHERE expires_at <= ?", t);
  await deps.db.run("DELETE FROM relay_requests WHERE expires_at <= ?", t);
  const insert = deps.db.prepare(
    `INSERT INTO relay_registrations
       (server_id, workspace_id, user_id, server_name, registered_at, last_heartbeat_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (server_id) DO NOTHING`,
  );
  for (let attempt = 0; attempt < ALLOCATION_ATTEMPTS; attempt++) {
    const serverId = newServerId(serverName);
    const res = await insert.run(
      serverId,
      user.workspace.id,
      user.user.id,
      serverName,
      t,
      t,
      expiresAt,
    );
    if (res.changes === 1) return { serverId, expiresAt: new Date(expiresAt).toISOString() };
  }
  throw new AppError(500, "internal_server_error", "Failed to allocate a serverId.");
}

/** The caller's live registration, or null (expired, unknown, or someone else's). */
export async function findOwnedRegistration(
  deps: Deps,
  actor: Actor,
  serverId: string,
): Promise<Registration | null> {
  if (actor.kind !== "user") return null;
  const r = await deps.db.get(
    `SELECT * FROM relay_registrations
     WHERE server_id = ? AND workspace_id = ? AND user_id = ? AND expires_at > ?`,
    serverId,
    actor.workspace.id,
    actor.user.id,
    now(),
  );
  return r ? fromRow(r) : null;
}

/** Push the expiry of a live registration forward (Dust's single `EXPIRE`). */
async function refreshRegistration(
  deps: Deps,
  reg: Registration,
  heartbeat: boolean,
): Promise<Registration> {
  const t = now();
  const expiresAt = t + deps.relay.timings.registrationTtlMs;
  await deps.db.run(
    `UPDATE relay_registrations SET expires_at = ?,
       last_heartbeat_at = CASE WHEN ? = 1 THEN ? ELSE last_heartbeat_at END
     WHERE server_id = ?`,
    expiresAt,
    heartbeat ? 1 : 0,
    t,
    reg.serverId,
  );
  return { ...reg, expiresAt, lastHeartbeatAt: heartbeat ? t : reg.lastHeartbeatAt };
}

/** Heartbeat: extend the TTL; 404 once the registration expired or never existed. */
export async function heartbeatRelayServer(
  deps: Deps,
  actor: Actor,
  input: { serverId: string },
): Promise<{ success: true; expiresAt: string }> {
  requireScope(actor, "write");
  const reg = await findOwnedRegistration(deps, actor, input.serverId);
  if (!reg) {
    throw notFound("mcp_server_connection_not_found", "MCP server not registered or expired");
  }
  const fresh = await refreshRegistration(deps, reg, true);
  return { success: true, expiresAt: new Date(fresh.expiresAt).toISOString() };
}

/** Deregister: `{success:true}` whether or not the caller had that server. */
export async function deregisterRelayServer(
  deps: Deps,
  actor: Actor,
  input: { serverId: string },
): Promise<{ success: true }> {
  requireScope(actor, "write");
  if (actor.kind === "user") {
    await deps.db.run(
      "DELETE FROM relay_registrations WHERE server_id = ? AND workspace_id = ? AND user_id = ?",
      input.serverId,
      actor.workspace.id,
      actor.user.id,
    );
  }
  return { success: true };
}

/**
 * The caller's live registration, refreshed; 403 `mcp_auth_error` otherwise. Used by the
 * request stream and result posts (both count as signs of life, as in Dust).
 */
export async function requireOwnedRegistration(
  deps: Deps,
  actor: Actor,
  serverId: string,
): Promise<Registration> {
  const reg = await findOwnedRegistration(deps, actor, serverId);
  if (!reg) {
    throw forbidden(
      "mcp_auth_error",
      "You don't have access to this MCP server or it has expired.",
    );
  }
  return await refreshRegistration(deps, reg, false);
}

/**
 * Check the `clientSideMCPServerIds` of a posted user message (dust.md §3.9): API keys get 401,
 * a user who does not own every id (live) gets 403; each owned registration is refreshed.
 * `kind` picks Dust's wording: conversation create vs. message create.
 */
export async function checkClientSideServers(
  deps: Deps,
  actor: Actor,
  ids: readonly string[] | null | undefined,
  kind: "conversation" | "message",
): Promise<Registration[]> {
  if (!ids || ids.length === 0) return [];
  if (actor.kind !== "user") {
    throw new AppError(
      401,
      "invalid_request_error",
      "Local MCP servers are only available to authenticated users.",
    );
  }
  const regs: Registration[] = [];
  for (const id of new Set(ids)) {
    const reg = await findOwnedRegistration(deps, actor, id);
    if (!reg) {
      throw invalidForbidden(
        kind === "conversation"
          ? "User does not have access to the local MCP servers."
          : "User does not have access to the client-side MCP servers.",
      );
    }
    regs.push(await refreshRegistration(deps, reg, false));
  }
  return regs;
}

/**
 * Registration of `serverId` owned by (workspace, user), live or not, for the agent loop,
 * which runs after the request that named the server and needs its name even when it died.
 */
export async function findRegistrationForRun(
  deps: Deps,
  target: { workspaceId: number; userId: number; serverId: string },
): Promise<Registration | null> {
  const r = await deps.db.get(
    "SELECT * FROM relay_registrations WHERE server_id = ? AND workspace_id = ? AND user_id = ?",
    target.serverId,
    target.workspaceId,
    target.userId,
  );
  return r ? fromRow(r) : null;
}

/** Channel telling a server's open request streams to end (revoked registration). */
export function relayControlChannel(serverId: string): string {
  return `relay-control:${serverId}`;
}

/** Tell a server's open request streams (on every instance) that it was revoked. */
export function announceRelayRevoked(deps: Deps, serverId: string): void {
  deps.events.publish(relayControlChannel(serverId), { type: "revoked" });
}

/**
 * Remove every registration of a user, in every workspace, and end their request streams
 * (password change: a registration made with a stolen credential must not outlive it).
 * Returns how many were removed.
 */
export async function removeUserRelayRegistrations(deps: Deps, userId: number): Promise<number> {
  const rows = await deps.db.all(
    "DELETE FROM relay_registrations WHERE user_id = ? RETURNING server_id",
    userId,
  ) as { server_id: string }[];
  for (const r of rows) announceRelayRevoked(deps, r.server_id);
  return rows.length;
}

/** A live registration as the connected-access page shows it. */
export interface RegistrationView {
  serverId: string;
  serverName: string;
  userSId: string;
  userEmail: string;
  registeredAt: number;
  lastHeartbeatAt: number;
  expiresAt: number;
  /** A request stream of this server is open on this instance. */
  connected: boolean;
}

/**
 * Live registrations of the workspace: an admin sees everyone's, a user their own (bounded
 * to 500, newest first). API keys have no registrations (401 `user_not_found`).
 */
export async function listRelayRegistrations(
  deps: Deps,
  actor: Actor,
): Promise<RegistrationView[]> {
  const user = requireUserActor(actor);
  const rows = await deps.db.all(
    `SELECT r.*, u.s_id AS user_s_id, u.email FROM relay_registrations r
     JOIN users u ON u.id = r.user_id
     WHERE r.workspace_id = ? AND r.expires_at > ? AND (? OR r.user_id = ?)
     ORDER BY r.registered_at DESC LIMIT 500`,
    user.workspace.id,
    now(),
    isAdmin(user) ? 1 : 0,
    user.user.id,
  ) as Record<string, never>[];
  return rows.map((r) => ({
    ...fromRow(r),
    userSId: r.user_s_id,
    userEmail: r.email,
    connected: deps.events.listenerCount(`relay:${r.server_id}`) > 0,
  })).map(({ workspaceId: _w, userId: _u, ...view }) => view);
}

/**
 * Revoke a registration (its owner, or a workspace admin): the row goes, its open request
 * streams end, and the client's next heartbeat gets 404 (the SDK then re-registers).
 * 404 `mcp_server_connection_not_found` for an id the caller cannot see.
 */
export async function revokeRelayRegistration(
  deps: Deps,
  actor: Actor,
  input: { serverId: string },
): Promise<{ success: true }> {
  const user = requireUserActor(actor);
  const res = await deps.db.run(
    `DELETE FROM relay_registrations
     WHERE server_id = ? AND workspace_id = ? AND (? OR user_id = ?)`,
    input.serverId,
    user.workspace.id,
    isAdmin(user) ? 1 : 0,
    user.user.id,
  );
  if (res.changes === 0) {
    throw notFound("mcp_server_connection_not_found", "MCP server not registered or expired");
  }
  announceRelayRevoked(deps, input.serverId);
  return { success: true };
}
