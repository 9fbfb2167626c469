/**
 * Spaces: listing in Dust's `Space` shape, creating regular spaces and Pods, and managing
 * their members. Who may do what is decided in `access.ts`.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId } from "../util/ids.ts";
import {
  canAdministerSpace,
  canReadSpace,
  readableSpaceIds,
  requireAdministrableSpace,
  requireScope,
  requireUser,
  requireWorkspaceRole,
  withinNarrowing,
} from "./access.ts";
import {
  findSpaceInWorkspace,
  listWorkspaceSpaces,
  SPACE_COLUMNS,
  spaceFromRow,
  type SpaceKind,
  type SpaceMemberRole,
  type SpaceRow,
} from "./space_rows.ts";
import { listSpaceGroupIds, requireWorkspaceMember } from "./groups.ts";
import { findUserBySId } from "./users.ts";
import { mapSeries } from "../util/async.ts";
import { moveSpaceIndex } from "./search_index.ts";

/** Dust's public `Space` JSON. */
export interface SpaceJson {
  sId: string;
  name: string;
  kind: SpaceKind;
  isRestricted: boolean;
  groupIds: string[];
  createdAt: number;
  updatedAt: number;
}

/**
 * Kinds listed when the caller names none: everything but Pods (as Dust) and the internal
 * conversations space. Pods are listed with `kinds=project`.
 */
export const DEFAULT_LIST_KINDS: readonly SpaceKind[] = ["global", "regular", "system"];

export async function toSpaceJson(db: Db, s: SpaceRow): Promise<SpaceJson> {
  return {
    sId: s.sId,
    name: s.name,
    kind: s.kind,
    isRestricted: s.isRestricted,
    groupIds: await listSpaceGroupIds({ db }, s.id),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/** The non-archived spaces the actor reads, of the given kinds, by name. */
export async function listSpaces(
  deps: Deps,
  actor: Actor,
  input: { kinds?: readonly SpaceKind[] },
): Promise<SpaceJson[]> {
  const kinds = new Set(input.kinds?.length ? input.kinds : DEFAULT_LIST_KINDS);
  const readable = await readableSpaceIds(deps.db, actor);
  const spaces = (await listWorkspaceSpaces(deps.db, actor.workspace.id))
    .filter((s) => kinds.has(s.kind) && s.archivedAt === null && readable.has(s.id));
  return await mapSeries(spaces, async (s) => await toSpaceJson(deps.db, s));
}

export interface CreateSpaceInput {
  kind: "regular" | "project";
  name: string;
  /** Restricted (members only) or open; defaults: Pods restricted, regular spaces open. */
  restricted?: boolean;
  /** User sIds to add as members. */
  memberIds?: string[];
}

/**
 * Create a regular space (workspace admins) or a Pod (builders and admins). The creator joins
 * a Pod as its editor and a restricted regular space as a member (an admin who leaves it
 * still administers it, without reading it). A Pod gets its metadata record (`pmd_…`).
 */
export async function createSpace(
  deps: Deps,
  actor: Actor,
  input: CreateSpaceInput,
): Promise<SpaceJson> {
  requireScope(actor, "write");
  const user = input.kind === "regular"
    ? requireWorkspaceRole(actor, ["admin"], "Only workspace admins can create spaces.")
    : requireWorkspaceRole(
      actor,
      ["admin", "builder"],
      "Only builders and admins can create Pods.",
    );
  const name = input.name.trim();
  if (name.length === 0 || name.length > 255) throw invalid("name: must be 1 to 255 characters");
  const restricted = input.restricted ?? input.kind === "project";
  const members = await mapSeries(
    input.memberIds ?? [],
    async (id) => await requireWorkspaceMember(deps.db, actor, id),
  );
  return await deps.db.tx(async () => {
    const taken = await deps.db.get(
      "SELECT 1 FROM spaces WHERE workspace_id = ? AND lower(name) = lower(?) AND archived_at IS NULL",
      actor.workspace.id,
      name,
    );
    if (taken) {
      throw new AppError(400, "space_already_exists", `A space named "${name}" already exists.`);
    }
    const t = now();
    const space = spaceFromRow(
      await deps.db.get(
        `INSERT INTO spaces (s_id, workspace_id, name, kind, is_restricted, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ${SPACE_COLUMNS}`,
        newResourceId("vlt"),
        actor.workspace.id,
        name,
        input.kind,
        restricted ? 1 : 0,
        t,
        t,
      ),
    );
    const add = deps.db.prepare(
      "INSERT INTO space_members (space_id, user_id, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    );
    if (input.kind === "project") {
      await add.run(space.id, user.user.id, "editor", t);
      await deps.db.run(
        "INSERT INTO pod_metadata (space_id, s_id, updated_at) VALUES (?, ?, ?)",
        space.id,
        newResourceId("pmd"),
        t,
      );
    } else if (restricted) await add.run(space.id, user.user.id, "member", t);
    for (const m of members) await add.run(space.id, m, "member", t);
    return await toSpaceJson(deps.db, space);
  });
}

export interface SpaceMemberJson {
  sId: string;
  email: string;
  fullName: string;
  role: SpaceMemberRole;
}

/** Members of a space the actor administers, by email. */
export async function listSpaceMembers(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string },
): Promise<SpaceMemberJson[]> {
  const space = await requireAdministrableSpace(deps.db, actor, input.spaceId);
  return (await deps.db.all(
    `SELECT u.s_id, u.email, u.first_name, u.last_name, sm.role FROM space_members sm
     JOIN users u ON u.id = sm.user_id WHERE sm.space_id = ? ORDER BY u.email LIMIT 10000`,
    space.id,
  )).map((r) => {
    const row = r as {
      s_id: string;
      email: string;
      first_name: string;
      last_name: string | null;
      role: SpaceMemberRole;
    };
    return {
      sId: row.s_id,
      email: row.email,
      fullName: [row.first_name, row.last_name].filter(Boolean).join(" "),
      role: row.role,
    };
  });
}

/**
 * Add a member (or change their role). Administrators of the space may add anyone of the
 * workspace; any workspace user may join an open, non-archived Pod themselves as `member`.
 * Only Pods have editors.
 */
export async function addSpaceMember(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; userId: string; role?: SpaceMemberRole },
): Promise<SpaceMemberJson[]> {
  requireScope(actor, "write");
  const role = input.role ?? "member";
  const space = await requireSpaceForMembership(deps.db, actor, input);
  if (role === "editor" && space.kind !== "project") {
    throw invalid("role: only Pods have editors; use member");
  }
  const userId = await requireWorkspaceMember(deps.db, actor, input.userId);
  await deps.db.tx(async () => {
    await deps.db.run(
      `INSERT INTO space_members (space_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role`,
      space.id,
      userId,
      role,
      now(),
    );
    await deps.db.run("UPDATE spaces SET updated_at = ? WHERE id = ?", now(), space.id);
  });
  return await canAdministerSpace(deps.db, actor, space)
    ? await listSpaceMembers(deps, actor, { spaceId: space.sId })
    : [];
}

/** The space for a membership change: administrators, or a self-join of an open Pod. */
async function requireSpaceForMembership(
  db: Db,
  actor: Actor,
  input: { spaceId: string; userId: string; role?: SpaceMemberRole },
): Promise<SpaceRow> {
  const user = requireUser(actor);
  const space = await findSpaceInWorkspace(db, actor.workspace.id, input.spaceId);
  // A token narrowed on consent joins no space outside its choice.
  const selfJoin = space?.kind === "project" && !space.isRestricted &&
    withinNarrowing(actor, space) &&
    space.archivedAt === null && input.userId === user.user.sId &&
    (input.role ?? "member") === "member";
  if (space && selfJoin) return space;
  return await requireAdministrableSpace(db, actor, input.spaceId);
}

/** Remove a member; a Pod keeps at least one editor. Members may leave by themselves. */
export async function removeSpaceMember(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; userId: string },
): Promise<void> {
  requireScope(actor, "write");
  const user = requireUser(actor);
  const space = input.userId === user.user.sId
    ? await findSpaceInWorkspace(deps.db, actor.workspace.id, input.spaceId)
    : await requireAdministrableSpace(deps.db, actor, input.spaceId);
  // Leaving is a write into the space: never outside a narrowed token's choice.
  if (!space || !withinNarrowing(actor, space)) {
    throw new AppError(404, "space_not_found", "Space not found.");
  }
  const target = await findUserBySId(deps.db, input.userId);
  await deps.db.tx(async () => {
    const removed = target
      ? await deps.db.get(
        "DELETE FROM space_members WHERE space_id = ? AND user_id = ? RETURNING role",
        space.id,
        target.id,
      ) as { role: SpaceMemberRole } | undefined
      : undefined;
    if (!removed && input.userId === user.user.sId) {
      throw new AppError(404, "space_not_found", "Space not found.");
    }
    if (!removed) throw new AppError(404, "workspace_user_not_found", "Not a member of the space.");
    const editors = await deps.db.get(
      "SELECT count(*) AS n FROM space_members WHERE space_id = ? AND role = 'editor'",
      space.id,
    ) as { n: number };
    if (space.kind === "project" && removed.role === "editor" && editors.n === 0) {
      throw invalid("userId: a Pod must keep at least one editor");
    }
    await deps.db.run("UPDATE spaces SET updated_at = ? WHERE id = ?", now(), space.id);
  });
}

/**
 * Workspace admins open or restrict a regular space. The search index moves its documents to
 * the partition the space now belongs to in the same transaction (search_index.ts), so a
 * search never ranks them with content its reader may not read.
 */
export async function setSpaceRestricted(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; restricted: boolean },
): Promise<SpaceJson> {
  requireScope(actor, "write");
  requireWorkspaceRole(actor, ["admin"], "Only workspace admins can open or restrict spaces.");
  const space = await requireAdministrableSpace(deps.db, actor, input.spaceId);
  if (space.kind !== "regular") {
    throw invalid(`spaceId: only regular spaces can be opened or restricted, not ${space.kind}`);
  }
  return await deps.db.tx(async () => {
    await deps.db.run(
      "UPDATE spaces SET is_restricted = ?, updated_at = ? WHERE id = ?",
      input.restricted ? 1 : 0,
      now(),
      space.id,
    );
    await moveSpaceIndex(deps.db, space.id);
    const fresh = await findSpaceInWorkspace(deps.db, actor.workspace.id, space.sId);
    return await toSpaceJson(deps.db, fresh!);
  });
}

/** A space as the console lists it: what the viewer may do there. */
export interface ConsoleSpace {
  sId: string;
  name: string;
  kind: SpaceKind;
  isRestricted: boolean;
  archived: boolean;
  canRead: boolean;
  canAdminister: boolean;
  /** An open Pod the viewer may join. */
  canJoin: boolean;
  memberCount: number;
}

/**
 * The spaces and Pods a member sees in the console, by name: those they read, those they
 * administer without reading (restricted spaces, for admins), and open Pods they may join.
 * The system and conversations spaces are not listed. Archived Pods appear to their readers.
 */
export async function listConsoleSpaces(deps: Deps, actor: Actor): Promise<ConsoleSpace[]> {
  const user = requireUser(actor);
  const readable = await readableSpaceIds(deps.db, actor);
  const spaces = (await listWorkspaceSpaces(deps.db, actor.workspace.id))
    .filter((s) => s.kind === "global" || s.kind === "regular" || s.kind === "project");
  const counts = new Map(
    (await deps.db.all(
      `SELECT sm.space_id, count(*) AS n FROM space_members sm JOIN spaces s ON s.id = sm.space_id
       WHERE s.workspace_id = ? GROUP BY sm.space_id`,
      actor.workspace.id,
    ) as { space_id: number; n: number }[]).map((r) => [r.space_id, Number(r.n)]),
  );
  const editorOf = new Set(
    (await deps.db.all(
      `SELECT sm.space_id FROM space_members sm JOIN spaces s ON s.id = sm.space_id
       WHERE s.workspace_id = ? AND sm.user_id = ? AND sm.role = 'editor'`,
      actor.workspace.id,
      user.user.id,
    ) as { space_id: number }[]).map((r) => r.space_id),
  );
  const out: ConsoleSpace[] = [];
  for (const s of spaces) {
    const canRead = readable.has(s.id);
    const canAdminister = s.kind === "project" ? editorOf.has(s.id) : user.role === "admin";
    const canJoin = s.kind === "project" && !canRead && !s.isRestricted && s.archivedAt === null;
    if (!canRead && !canAdminister && !canJoin) continue;
    if (s.archivedAt !== null && !canRead) continue;
    out.push({
      sId: s.sId,
      name: s.name,
      kind: s.kind,
      isRestricted: s.isRestricted,
      archived: s.archivedAt !== null,
      canRead,
      canAdminister,
      canJoin,
      memberCount: counts.get(s.id) ?? 0,
    });
  }
  return out;
}

/** A space as its console page shows it, with what the viewer may do there. */
export interface SpaceOverview {
  sId: string;
  name: string;
  kind: SpaceKind;
  isRestricted: boolean;
  canRead: boolean;
  canAdminister: boolean;
}

/**
 * A space the actor reads or administers (404 `space_not_found` otherwise, the same answer as
 * a missing id). Not the system or conversations spaces.
 */
export async function getSpaceOverview(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string },
): Promise<SpaceOverview> {
  const space = await findSpaceInWorkspace(deps.db, actor.workspace.id, input.spaceId);
  const listed = space && (space.kind === "global" || space.kind === "regular" ||
    space.kind === "project");
  const canRead = !!listed && await canReadSpace(deps.db, actor, space);
  const canAdminister = !!listed && await canAdministerSpace(deps.db, actor, space);
  if (!space || (!canRead && !canAdminister)) {
    throw new AppError(404, "space_not_found", "Space not found.");
  }
  return {
    sId: space.sId,
    name: space.name,
    kind: space.kind,
    isRestricted: space.isRestricted,
    canRead,
    canAdminister,
  };
}
