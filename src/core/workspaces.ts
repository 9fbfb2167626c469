/**
 * Workspaces and memberships. Creating a workspace also creates what every Dust workspace
 * has: the global space ("Company Data"), the system space, the workspace group and the
 * global `dust` agent.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId, newSId } from "../util/ids.ts";
import type { Role, WorkspaceRef } from "../auth/actor.ts";

export const ROLES: readonly Role[] = ["admin", "builder", "user"];

export interface WorkspaceRow {
  id: number;
  sId: string;
  name: string;
  mcpEnabled: boolean;
  redirectPolicy: "all" | "allowlist";
  allowedRedirectUris: string[];
  allowTokenInUrl: boolean;
  auditRetentionDays: number;
  createdAt: number;
  updatedAt: number;
}

const COLUMNS =
  "id, s_id, name, mcp_enabled, redirect_policy, allowed_redirect_uris, allow_token_in_url, audit_retention_days, created_at, updated_at";

// deno-lint-ignore no-explicit-any
function fromRow(r: any): WorkspaceRow {
  return {
    id: r.id,
    sId: r.s_id,
    name: r.name,
    mcpEnabled: r.mcp_enabled === 1,
    redirectPolicy: r.redirect_policy,
    allowedRedirectUris: JSON.parse(r.allowed_redirect_uris),
    allowTokenInUrl: r.allow_token_in_url === 1,
    auditRetentionDays: r.audit_retention_days,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toWorkspaceRef(w: WorkspaceRow): WorkspaceRef {
  return { id: w.id, sId: w.sId, name: w.name };
}

/** The global agent every workspace has (Dust's `dust` agent). */
export const DUST_AGENT = {
  sId: "dust",
  name: "Dust",
  description: "An assistant with context on your company data.",
  instructions:
    "You are Dust, a helpful assistant for this team. Use the workspace search and files tools when they help, cite what you used, and say so when you do not know.",
} as const;

export function validateWorkspaceName(name: string): string {
  const n = name.trim();
  if (n.length === 0 || n.length > 255) throw invalid("name: must be 1 to 255 characters");
  return n;
}

export function parseRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw invalid(`role: "${role}" is not one of admin, builder, user`);
  }
  return role as Role;
}

/** Create a workspace with its admin, default spaces, workspace group and global agent. */
export async function createWorkspace(
  db: Db,
  input: { name: string; adminUserId: number },
): Promise<WorkspaceRow> {
  const name = validateWorkspaceName(input.name);
  return await db.tx(async () => {
    const t = now();
    const ws = fromRow(
      await db.get(
        `INSERT INTO workspaces (s_id, name, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING ${COLUMNS}`,
        newSId(),
        name,
        t,
        t,
      ),
    );
    await db.run(
      "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'admin', ?)",
      ws.id,
      input.adminUserId,
      t,
    );
    const group = await db.get(
      "INSERT INTO groups (s_id, workspace_id, name, kind, created_at) VALUES (?, ?, 'Workspace', 'global', ?) RETURNING id",
      newResourceId("grp"),
      ws.id,
      t,
    ) as { id: number };
    const insertSpace = db.prepare(
      "INSERT INTO spaces (s_id, workspace_id, name, kind, is_restricted, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    );
    const global = await insertSpace.get(
      newResourceId("vlt"),
      ws.id,
      "Company Data",
      "global",
      0,
      t,
      t,
    ) as {
      id: number;
    };
    await insertSpace.run(newResourceId("vlt"), ws.id, "System", "system", 1, t, t);
    await insertSpace.run(newResourceId("vlt"), ws.id, "Conversations", "conversations", 0, t, t);
    await db.run(
      "INSERT INTO space_groups (space_id, group_id) VALUES (?, ?)",
      global.id,
      group.id,
    );
    await db.run(
      `INSERT INTO agent_configurations (s_id, workspace_id, name, description, instructions, scope, status, max_steps_per_run, tools, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'global', 'active', 8, '["search","files"]', ?, ?)`,
      DUST_AGENT.sId,
      ws.id,
      DUST_AGENT.name,
      DUST_AGENT.description,
      DUST_AGENT.instructions,
      t,
      t,
    );
    return ws;
  });
}

export async function findWorkspaceBySId(db: Db, sId: string): Promise<WorkspaceRow | null> {
  const r = await db.get(`SELECT ${COLUMNS} FROM workspaces WHERE s_id = ?`, sId);
  return r ? fromRow(r) : null;
}

export async function findWorkspaceById(db: Db, id: number): Promise<WorkspaceRow | null> {
  const r = await db.get(`SELECT ${COLUMNS} FROM workspaces WHERE id = ?`, id);
  return r ? fromRow(r) : null;
}

/** Add a member or change an existing member's role. */
export async function addMember(
  db: Db,
  input: { workspaceId: number; userId: number; role: Role },
): Promise<void> {
  const t = now();
  await db.run(
    `INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role`,
    input.workspaceId,
    input.userId,
    input.role,
    t,
  );
}

/** The user's role in a workspace, or null when not a member. */
export async function getRole(db: Db, workspaceId: number, userId: number): Promise<Role | null> {
  const r = await db.get(
    "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
    workspaceId,
    userId,
  ) as { role: Role } | undefined;
  return r?.role ?? null;
}

export interface MembershipView {
  workspace: WorkspaceRow;
  role: Role;
}

/** Every workspace the user belongs to, by name. */
export async function listUserWorkspaces(db: Db, userId: number): Promise<MembershipView[]> {
  const rows = await db.all(
    `SELECT ${COLUMNS.split(", ").map((c) => "w." + c).join(", ")}, m.role AS role
     FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
     WHERE m.user_id = ? ORDER BY lower(w.name)`,
    userId,
  );
  // deno-lint-ignore no-explicit-any
  return rows.map((r: any) => ({ workspace: fromRow(r), role: r.role as Role }));
}

export async function requireWorkspace(db: Db, sId: string): Promise<WorkspaceRow> {
  const ws = await findWorkspaceBySId(db, sId);
  if (!ws) throw new AppError(404, "workspace_not_found", "The workspace was not found.");
  return ws;
}
