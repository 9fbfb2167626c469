/**
 * Space rows and membership facts, with no permission logic: the data `access.ts` decides on
 * and `spaces.ts` / `pods.ts` build on. Every lookup is scoped to one workspace, so an id from
 * another workspace simply does not exist here.
 * @module
 */
import type { Db } from "../db/db.ts";

export type SpaceKind = "global" | "regular" | "project" | "conversations" | "system";
export const SPACE_KINDS: readonly SpaceKind[] = [
  "global",
  "regular",
  "project",
  "conversations",
  "system",
];

export interface SpaceRow {
  id: number;
  sId: string;
  workspaceId: number;
  name: string;
  kind: SpaceKind;
  isRestricted: boolean;
  archivedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type SpaceMemberRole = "member" | "editor";

export const SPACE_COLUMNS =
  "id, s_id, workspace_id, name, kind, is_restricted, archived_at, created_at, updated_at";

// deno-lint-ignore no-explicit-any
export function spaceFromRow(r: any): SpaceRow {
  return {
    id: r.id,
    sId: r.s_id,
    workspaceId: r.workspace_id,
    name: r.name,
    kind: r.kind,
    isRestricted: r.is_restricted === 1,
    archivedAt: r.archived_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A space of the workspace by sId, or null (also null for another workspace's space). */
export async function findSpaceInWorkspace(
  db: Db,
  workspaceId: number,
  sId: string,
): Promise<SpaceRow | null> {
  const r = await db.get(
    `SELECT ${SPACE_COLUMNS} FROM spaces WHERE s_id = ? AND workspace_id = ?`,
    sId,
    workspaceId,
  );
  return r ? spaceFromRow(r) : null;
}

/** A space by row id within a workspace, or null. */
export async function findSpaceById(
  db: Db,
  workspaceId: number,
  id: number,
): Promise<SpaceRow | null> {
  const r = await db.get(
    `SELECT ${SPACE_COLUMNS} FROM spaces WHERE id = ? AND workspace_id = ?`,
    id,
    workspaceId,
  );
  return r ? spaceFromRow(r) : null;
}

/** Every space of a workspace, by name (workspaces hold tens to hundreds of spaces). */
export async function listWorkspaceSpaces(db: Db, workspaceId: number): Promise<SpaceRow[]> {
  return (await db.all(
    `SELECT ${SPACE_COLUMNS} FROM spaces WHERE workspace_id = ? ORDER BY lower(name), id`,
    workspaceId,
  )).map(spaceFromRow);
}

/** The user's direct role in a space (`space_members`), or null. */
export async function getSpaceMemberRole(
  db: Db,
  spaceId: number,
  userId: number,
): Promise<SpaceMemberRole | null> {
  const r = await db.get(
    "SELECT role FROM space_members WHERE space_id = ? AND user_id = ?",
    spaceId,
    userId,
  ) as { role: SpaceMemberRole } | undefined;
  return r?.role ?? null;
}

/** Space row ids of the workspace where the user has a direct membership. */
export async function memberSpaceIds(
  db: Db,
  workspaceId: number,
  userId: number,
): Promise<Set<number>> {
  const rows = await db.all(
    `SELECT sm.space_id AS id FROM space_members sm JOIN spaces s ON s.id = sm.space_id
     WHERE sm.user_id = ? AND s.workspace_id = ?`,
    userId,
    workspaceId,
  ) as { id: number }[];
  return new Set(rows.map((r) => r.id));
}

/**
 * Space row ids granted to a group the user belongs to. The workspace group (kind `global`)
 * contains every member implicitly, so its grants count for every user of the workspace.
 */
export async function groupGrantedSpaceIds(
  db: Db,
  workspaceId: number,
  userId: number | null,
): Promise<Set<number>> {
  const rows = await db.all(
    `SELECT sg.space_id AS id FROM space_groups sg JOIN groups g ON g.id = sg.group_id
     WHERE g.workspace_id = ? AND (g.kind = 'global' OR g.id IN
       (SELECT group_id FROM group_members WHERE user_id = ?))`,
    workspaceId,
    userId ?? -1,
  ) as { id: number }[];
  return new Set(rows.map((r) => r.id));
}

/** True when the workspace group (everyone, API keys included) is granted the space. */
export async function isGrantedToWorkspaceGroup(db: Db, spaceId: number): Promise<boolean> {
  return !!await db.get(
    `SELECT 1 FROM space_groups sg JOIN groups g ON g.id = sg.group_id
     WHERE sg.space_id = ? AND g.kind = 'global'`,
    spaceId,
  );
}

/** True when a group the user belongs to (or the workspace group) is granted the space. */
export async function isGrantedThroughGroup(
  db: Db,
  spaceId: number,
  userId: number,
): Promise<boolean> {
  return !!await db.get(
    `SELECT 1 FROM space_groups sg JOIN groups g ON g.id = sg.group_id
     WHERE sg.space_id = ? AND (g.kind = 'global' OR g.id IN
       (SELECT group_id FROM group_members WHERE user_id = ?))`,
    spaceId,
    userId,
  );
}
