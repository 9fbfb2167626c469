/**
 * Groups: named sets of workspace members that can be granted access to restricted spaces
 * (`space_groups`). Every workspace has one group of kind `global` ("Workspace") that
 * implicitly contains every member; it is created with the workspace.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId } from "../util/ids.ts";
import { requireAdministrableSpace, requireScope, requireWorkspaceRole } from "./access.ts";
import { findUserBySId } from "./users.ts";
import { getRole } from "./workspaces.ts";
import { mapSeries } from "../util/async.ts";

export interface GroupView {
  sId: string;
  name: string;
  kind: "global" | "regular";
  memberCount: number;
}

const ADMIN_ONLY = "Only workspace admins can manage groups.";

/** Admins create a regular group, optionally with members (user sIds of the workspace). */
export async function createGroup(
  deps: Deps,
  actor: Actor,
  input: { name: string; memberIds?: string[] },
): Promise<GroupView> {
  requireScope(actor, "write");
  requireWorkspaceRole(actor, ["admin"], ADMIN_ONLY);
  const name = input.name.trim();
  if (name.length === 0 || name.length > 255) throw invalid("name: must be 1 to 255 characters");
  const userIds = await mapSeries(
    input.memberIds ?? [],
    async (id) => await requireWorkspaceMember(deps.db, actor, id),
  );
  return await deps.db.tx(async () => {
    const taken = await deps.db.get(
      "SELECT 1 FROM groups WHERE workspace_id = ? AND lower(name) = lower(?)",
      actor.workspace.id,
      name,
    );
    if (taken) throw new AppError(409, "conflict", `A group named "${name}" already exists.`);
    const t = now();
    const sId = newResourceId("grp");
    const g = await deps.db.get(
      "INSERT INTO groups (s_id, workspace_id, name, kind, created_at) VALUES (?, ?, ?, 'regular', ?) RETURNING id",
      sId,
      actor.workspace.id,
      name,
      t,
    ) as { id: number };
    const add = deps.db.prepare(
      "INSERT INTO group_members (group_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    );
    for (const u of userIds) await add.run(g.id, u, t);
    return { sId, name, kind: "regular", memberCount: new Set(userIds).size };
  });
}

/** The row id of a workspace member by user sId (404 for strangers: reveals nothing). */
export async function requireWorkspaceMember(
  db: Db,
  actor: Actor,
  userSId: string,
): Promise<number> {
  const user = await findUserBySId(db, userSId);
  if (!user || !await getRole(db, actor.workspace.id, user.id)) {
    throw new AppError(
      404,
      "workspace_user_not_found",
      `User ${userSId} is not a member of this workspace.`,
    );
  }
  return user.id;
}

/** Admins list the workspace's groups by name. */
export async function listGroups(deps: Deps, actor: Actor): Promise<GroupView[]> {
  requireWorkspaceRole(actor, ["admin"], ADMIN_ONLY);
  return (await deps.db.all(
    `SELECT g.s_id, g.name, g.kind, (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) AS n
     FROM groups g WHERE g.workspace_id = ? AND g.kind IN ('global', 'regular')
     ORDER BY lower(g.name) LIMIT 1000`,
    actor.workspace.id,
  )).map((r) => {
    const row = r as { s_id: string; name: string; kind: "global" | "regular"; n: number };
    return { sId: row.s_id, name: row.name, kind: row.kind, memberCount: row.n };
  });
}

/**
 * Grant a group access to a space (whoever administers the space). Pods are member-only, so
 * groups cannot be granted a Pod.
 */
export async function grantGroupToSpace(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; groupId: string },
): Promise<void> {
  requireScope(actor, "write");
  const space = await requireAdministrableSpace(deps.db, actor, input.spaceId);
  if (space.kind !== "regular" && space.kind !== "global") {
    throw invalid(`spaceId: groups can be granted regular spaces only, not ${space.kind} spaces`);
  }
  const g = await deps.db.get(
    "SELECT id FROM groups WHERE s_id = ? AND workspace_id = ?",
    input.groupId,
    actor.workspace.id,
  ) as { id: number } | undefined;
  if (!g) throw new AppError(404, "group_not_found", "The group was not found.");
  await deps.db.run(
    "INSERT INTO space_groups (space_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
    space.id,
    g.id,
  );
}

/** The sIds of the groups granted a space (Dust's `groupIds` on a space). */
export async function listSpaceGroupIds(
  deps: Pick<Deps, "db">,
  spaceId: number,
): Promise<string[]> {
  return (await deps.db.all(
    "SELECT g.s_id FROM space_groups sg JOIN groups g ON g.id = sg.group_id WHERE sg.space_id = ? ORDER BY g.id",
    spaceId,
  ) as { s_id: string }[]).map((r) => r.s_id);
}

export interface GroupMember {
  sId: string;
  email: string;
  fullName: string;
}

/** A group of the actor's workspace by sId (404 otherwise), admins only. */
async function requireGroup(deps: Deps, actor: Actor, groupId: string) {
  requireWorkspaceRole(actor, ["admin"], ADMIN_ONLY);
  const g = await deps.db.get(
    `SELECT id, s_id, name, kind FROM groups WHERE s_id = ? AND workspace_id = ?
     AND kind IN ('global', 'regular')`,
    groupId,
    actor.workspace.id,
  ) as { id: number; s_id: string; name: string; kind: "global" | "regular" } | undefined;
  if (!g) throw new AppError(404, "group_not_found", "The group was not found.");
  return g;
}

function requireRegular(g: { kind: string }): void {
  if (g.kind !== "regular") {
    throw invalid("groupId: the Workspace group holds every member; it cannot be changed");
  }
}

/** Admins read a group with its members (the Workspace group lists none: it is everyone). */
export async function getGroup(
  deps: Deps,
  actor: Actor,
  input: { groupId: string },
): Promise<{ group: GroupView; members: GroupMember[] }> {
  const g = await requireGroup(deps, actor, input.groupId);
  const members = (await deps.db.all(
    `SELECT u.s_id, u.email, u.first_name, u.last_name FROM group_members gm
     JOIN users u ON u.id = gm.user_id WHERE gm.group_id = ? ORDER BY u.email LIMIT 10000`,
    g.id,
  ) as { s_id: string; email: string; first_name: string; last_name: string | null }[]).map(
    (r) => ({
      sId: r.s_id,
      email: r.email,
      fullName: [r.first_name, r.last_name].filter(Boolean).join(" "),
    }),
  );
  return {
    group: { sId: g.s_id, name: g.name, kind: g.kind, memberCount: members.length },
    members,
  };
}

/** Admins add a workspace member to a regular group (idempotent). */
export async function addGroupMember(
  deps: Deps,
  actor: Actor,
  input: { groupId: string; userId: string },
): Promise<void> {
  requireScope(actor, "write");
  const g = await requireGroup(deps, actor, input.groupId);
  requireRegular(g);
  const userId = await requireWorkspaceMember(deps.db, actor, input.userId);
  await deps.db.run(
    "INSERT INTO group_members (group_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    g.id,
    userId,
    now(),
  );
}

/** Admins remove a user from a regular group (404 when not in it). */
export async function removeGroupMember(
  deps: Deps,
  actor: Actor,
  input: { groupId: string; userId: string },
): Promise<void> {
  requireScope(actor, "write");
  const g = await requireGroup(deps, actor, input.groupId);
  requireRegular(g);
  const r = await deps.db.run(
    `DELETE FROM group_members WHERE group_id = ?
     AND user_id = (SELECT id FROM users WHERE s_id = ?)`,
    g.id,
    input.userId,
  );
  if (Number(r.changes) === 0) {
    throw new AppError(404, "workspace_user_not_found", "This user is not in the group.");
  }
}

/** Admins delete a regular group; the spaces it was granted lose that grant. */
export async function deleteGroup(
  deps: Deps,
  actor: Actor,
  input: { groupId: string },
): Promise<void> {
  requireScope(actor, "write");
  const g = await requireGroup(deps, actor, input.groupId);
  requireRegular(g);
  await deps.db.run("DELETE FROM groups WHERE id = ?", g.id);
}

/** Whoever administers a regular space takes a group's grant away (404 when not granted). */
export async function revokeGroupFromSpace(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; groupId: string },
): Promise<void> {
  requireScope(actor, "write");
  const space = await requireAdministrableSpace(deps.db, actor, input.spaceId);
  const r = await deps.db.run(
    `DELETE FROM space_groups WHERE space_id = ?
     AND group_id = (SELECT id FROM groups WHERE s_id = ? AND workspace_id = ?)`,
    space.id,
    input.groupId,
    actor.workspace.id,
  );
  if (Number(r.changes) === 0) {
    throw new AppError(404, "group_not_found", "This group is not granted the space.");
  }
}

/** The groups granted a space, by name (whoever administers the space). */
export async function listSpaceGroups(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string },
): Promise<{ sId: string; name: string; kind: string }[]> {
  const space = await requireAdministrableSpace(deps.db, actor, input.spaceId);
  return (await deps.db.all(
    `SELECT g.s_id, g.name, g.kind FROM space_groups sg JOIN groups g ON g.id = sg.group_id
     WHERE sg.space_id = ? ORDER BY lower(g.name)`,
    space.id,
  ) as { s_id: string; name: string; kind: string }[]).map((r) => ({
    sId: r.s_id,
    name: r.name,
    kind: r.kind,
  }));
}
