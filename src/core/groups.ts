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
