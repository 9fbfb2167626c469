/**
 * Workspace members: the list (admins: role, joined, last activity), role changes and
 * removal; and the short list of members any member may pick from (Pod members, assignees).
 *
 * Removing a member ends everything they hold in the workspace, at once and for good (so
 * that adding them back later does not bring old credentials back to life): the membership;
 * their group and space memberships (a Pod whose only editor they were gets its longest
 * member as editor); their OAuth grants, MCP tokens and personal access tokens of the
 * workspace; their client-side MCP server registrations there (open request streams end).
 * Every request already checks membership, so nothing they held works after the removal
 * even before these revocations — they make it permanent and visible.
 *
 * A workspace always keeps an admin: the last one can be neither demoted nor removed.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor, Role } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { requireScope, requireWorkspaceAdmin, requireWorkspaceRole } from "./access.ts";
import { parseRole } from "./workspaces.ts";
import { revokeGrantById } from "./oauth_grants.ts";
import { announceRelayRevoked } from "./relay_registry.ts";

const ADMINS_ONLY = "Only workspace admins can manage members.";
/** Members listed per page on the Members page. */
export const MEMBERS_PAGE = 100;
/** Most members offered in a picker (Pod members, task assignees). */
export const MEMBER_CHOICES_MAX = 1000;

export interface MemberView {
  sId: string;
  email: string;
  fullName: string;
  role: Role;
  joinedAt: number;
  /** Latest browser page view, or use of an OAuth grant, MCP token or personal token here. */
  lastActiveAt: number | null;
}

const fullName = (first: string, last: string | null) => [first, last].filter(Boolean).join(" ");

/** Members by email, {@link MEMBERS_PAGE} per page after the `cursor` email (admins). */
export async function listMembers(
  deps: Deps,
  actor: Actor,
  input: { cursor?: string; limit?: number } = {},
): Promise<{ members: MemberView[]; nextCursor: string | null; total: number }> {
  requireWorkspaceAdmin(actor, ADMINS_ONLY);
  const limit = Math.min(Math.max(input.limit ?? MEMBERS_PAGE, 1), 500);
  const rows = await queryMembers(deps.db, actor.workspace.id, {
    cursor: input.cursor,
    limit: limit + 1,
  });
  const members = rows.slice(0, limit);
  const total = await deps.db.get(
    "SELECT count(*) AS n FROM memberships WHERE workspace_id = ?",
    actor.workspace.id,
  ) as { n: number };
  return {
    members,
    nextCursor: rows.length > limit ? members[members.length - 1].email : null,
    total: Number(total.n),
  };
}

/** Member rows by email after `cursor`, or the one member `userSId`. */
async function queryMembers(
  db: Db,
  workspaceId: number,
  input: { cursor?: string; limit?: number; userSId?: string },
): Promise<MemberView[]> {
  const rows = await db.all(
    `SELECT u.s_id, u.email, u.first_name, u.last_name, m.role, m.created_at,
       (SELECT max(b.last_seen_at) FROM browser_sessions b WHERE b.user_id = u.id) AS seen_at,
       (SELECT max(g.last_used_at) FROM oauth_grants g
          WHERE g.user_id = u.id AND g.workspace_id = m.workspace_id) AS grant_at,
       (SELECT max(t.last_used_at) FROM mcp_tokens t
          WHERE t.workspace_id = m.workspace_id AND t.user_id = u.id) AS token_at,
       (SELECT max(p.last_used_at) FROM personal_tokens p
          WHERE p.workspace_id = m.workspace_id AND p.user_id = u.id) AS pat_at
     FROM memberships m JOIN users u ON u.id = m.user_id
     WHERE m.workspace_id = ? AND u.email > ? AND (CAST(? AS TEXT) IS NULL OR u.s_id = ?)
     ORDER BY u.email LIMIT ?`,
    workspaceId,
    input.cursor ?? "",
    input.userSId ?? null,
    input.userSId ?? null,
    input.limit ?? 1,
  ) as Record<string, unknown>[];
  return rows.map((r): MemberView => {
    const times = [r.seen_at, r.grant_at, r.token_at, r.pat_at]
      .filter((t) => t !== null && t !== undefined).map(Number);
    return {
      sId: r.s_id as string,
      email: r.email as string,
      fullName: fullName(r.first_name as string, r.last_name as string | null),
      role: r.role as Role,
      joinedAt: Number(r.created_at),
      lastActiveAt: times.length ? Math.max(...times) : null,
    };
  });
}

/** One member as {@link listMembers} shows them (admins; 404 for a non-member). */
export async function getMember(
  deps: Deps,
  actor: Actor,
  input: { userId: string },
): Promise<MemberView> {
  requireWorkspaceAdmin(actor, ADMINS_ONLY);
  const [found] = await queryMembers(deps.db, actor.workspace.id, { userSId: input.userId });
  if (!found) throw new AppError(404, "workspace_user_not_found", "This user is not a member.");
  return found;
}

export interface MemberChoice {
  sId: string;
  email: string;
  fullName: string;
}

/** Every member's name and email, for pickers: any member of the workspace (not API keys). */
export async function listMemberChoices(deps: Deps, actor: Actor): Promise<MemberChoice[]> {
  requireWorkspaceRole(actor, ["admin", "builder", "user"], "Only members see other members.");
  return (await deps.db.all(
    `SELECT u.s_id, u.email, u.first_name, u.last_name FROM memberships m
     JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? ORDER BY u.email LIMIT ?`,
    actor.workspace.id,
    MEMBER_CHOICES_MAX,
  ) as { s_id: string; email: string; first_name: string; last_name: string | null }[])
    .map((r) => ({ sId: r.s_id, email: r.email, fullName: fullName(r.first_name, r.last_name) }));
}

interface Target {
  userId: number;
  role: Role;
  email: string;
}

/** The member `userSId` of the actor's workspace (404 for anyone else). */
async function requireMember(db: Db, workspaceId: number, userSId: string): Promise<Target> {
  const r = await db.get(
    `SELECT u.id, u.email, m.role FROM users u JOIN memberships m ON m.user_id = u.id
     WHERE u.s_id = ? AND m.workspace_id = ?`,
    userSId,
    workspaceId,
  ) as { id: number; email: string; role: Role } | undefined;
  if (!r) {
    throw new AppError(404, "workspace_user_not_found", "This user is not a member.");
  }
  return { userId: r.id, role: r.role, email: r.email };
}

async function assertAnotherAdmin(db: Db, workspaceId: number, userId: number): Promise<void> {
  const others = await db.get(
    "SELECT count(*) AS n FROM memberships WHERE workspace_id = ? AND role = 'admin' AND user_id != ?",
    workspaceId,
    userId,
  ) as { n: number };
  if (Number(others.n) === 0) {
    throw invalid("A workspace needs an admin: make someone else admin first.");
  }
}

/** An admin changes a member's role (the last admin stays admin). */
export async function changeMemberRole(
  deps: Deps,
  actor: Actor,
  input: { userId: string; role: string },
): Promise<{ email: string; role: Role }> {
  requireWorkspaceAdmin(actor, ADMINS_ONLY);
  requireScope(actor, "write");
  const role = parseRole(input.role);
  return await deps.db.tx(async () => {
    const target = await requireMember(deps.db, actor.workspace.id, input.userId);
    if (target.role === "admin" && role !== "admin") {
      await assertAnotherAdmin(deps.db, actor.workspace.id, target.userId);
    }
    await deps.db.run(
      "UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?",
      role,
      actor.workspace.id,
      target.userId,
    );
    return { email: target.email, role };
  });
}

export interface MemberRemoval {
  email: string;
  grantsRevoked: number;
  mcpTokensRevoked: number;
  personalTokensRevoked: number;
  relayRegistrationsRemoved: number;
  spacesLeft: number;
  groupsLeft: number;
}

/** An admin removes a member and everything they hold in the workspace (module comment). */
export async function removeMember(
  deps: Deps,
  actor: Actor,
  input: { userId: string },
): Promise<MemberRemoval> {
  requireWorkspaceAdmin(actor, ADMINS_ONLY);
  requireScope(actor, "write");
  const db = deps.db;
  const ws = actor.workspace.id;
  const { removal, servers } = await db.tx(async () => {
    const target = await requireMember(db, ws, input.userId);
    if (target.role === "admin") await assertAnotherAdmin(db, ws, target.userId);
    const uid = target.userId;
    const t = now();
    await db.run("DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", ws, uid);
    const groups = await db.run(
      `DELETE FROM group_members WHERE user_id = ?
       AND group_id IN (SELECT id FROM groups WHERE workspace_id = ?)`,
      uid,
      ws,
    );
    await promoteSuccessorEditors(db, ws, uid);
    const spaces = await db.run(
      `DELETE FROM space_members WHERE user_id = ?
       AND space_id IN (SELECT id FROM spaces WHERE workspace_id = ?)`,
      uid,
      ws,
    );
    const grants = await db.all(
      "SELECT id FROM oauth_grants WHERE user_id = ? AND workspace_id = ? AND revoked_at IS NULL",
      uid,
      ws,
    ) as { id: number }[];
    for (const g of grants) await revokeGrantById(db, g.id, "member_removed", t);
    const mcp = await db.run(
      `UPDATE mcp_tokens SET revoked_at = ?, revoked_reason = 'member_removed'
       WHERE workspace_id = ? AND user_id = ? AND revoked_at IS NULL`,
      t,
      ws,
      uid,
    );
    const pats = await db.run(
      `UPDATE personal_tokens SET revoked_at = ?
       WHERE workspace_id = ? AND user_id = ? AND revoked_at IS NULL`,
      t,
      ws,
      uid,
    );
    const relays = await db.all(
      "DELETE FROM relay_registrations WHERE workspace_id = ? AND user_id = ? RETURNING server_id",
      ws,
      uid,
    ) as { server_id: string }[];
    return {
      servers: relays.map((r) => r.server_id),
      removal: {
        email: target.email,
        grantsRevoked: grants.length,
        mcpTokensRevoked: Number(mcp.changes),
        personalTokensRevoked: Number(pats.changes),
        relayRegistrationsRemoved: relays.length,
        spacesLeft: Number(spaces.changes),
        groupsLeft: Number(groups.changes),
      },
    };
  });
  for (const s of servers) announceRelayRevoked(deps, s);
  return removal;
}

/**
 * Pods whose only editor is leaving get their longest-standing other member as editor, so
 * every Pod keeps someone who administers it. (A Pod with no other member is left as it is.)
 */
async function promoteSuccessorEditors(db: Db, workspaceId: number, userId: number) {
  const pods = await db.all(
    `SELECT sm.space_id FROM space_members sm JOIN spaces s ON s.id = sm.space_id
     WHERE sm.user_id = ? AND sm.role = 'editor' AND s.workspace_id = ? AND s.kind = 'project'
     AND NOT EXISTS (SELECT 1 FROM space_members o WHERE o.space_id = sm.space_id
       AND o.role = 'editor' AND o.user_id != sm.user_id)`,
    userId,
    workspaceId,
  ) as { space_id: number }[];
  for (const p of pods) {
    const next = await db.get(
      `SELECT user_id FROM space_members WHERE space_id = ? AND user_id != ?
       ORDER BY created_at, user_id LIMIT 1`,
      p.space_id,
      userId,
    ) as { user_id: number } | undefined;
    if (next) {
      await db.run(
        "UPDATE space_members SET role = 'editor' WHERE space_id = ? AND user_id = ?",
        p.space_id,
        next.user_id,
      );
    }
  }
}
