/**
 * Pods: spaces of kind `project` with a metadata record (`pmd_…`: description, pinned frame
 * path, frame tabs, tab order), members and editors. MCP `list_pods` / `get_pod` and the REST
 * `project_metadata` route all read through here.
 *
 * URLs: this server has no web app, so a Pod's `url` is the stable string
 * `${publicUrl}/w/${wId}/pods/${podId}` (it identifies the Pod; it is not a page).
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
  canWriteSpace,
  readableSpaceIds,
  requireReadablePod,
  requireReadableSpace,
  requireScope,
} from "./access.ts";
import { listWorkspaceSpaces, type SpaceRow } from "./space_rows.ts";

/** The identifying URL of a Pod (see the module comment). */
export function podUrl(deps: Pick<Deps, "config">, actor: Actor, podSId: string): string {
  return `${deps.config.publicUrl}/w/${actor.workspace.sId}/pods/${podSId}`;
}

interface MetadataRow {
  sId: string;
  description: string;
  pinnedFramePath: string | null;
  frameTabs: unknown[];
  tabsOrder: unknown[];
  updatedAt: number;
}

/** The Pod's metadata record, created on first use for Pods that predate it. */
async function loadMetadata(db: Db, space: SpaceRow): Promise<MetadataRow> {
  let r = await db.get("SELECT * FROM pod_metadata WHERE space_id = ?", space.id) as
    | Record<string, unknown>
    | undefined;
  if (!r) {
    r = await db.get(
      "INSERT INTO pod_metadata (space_id, s_id, updated_at) VALUES (?, ?, ?) RETURNING *",
      space.id,
      newResourceId("pmd"),
      space.createdAt,
    ) as Record<string, unknown>;
  }
  return {
    sId: r.s_id as string,
    description: r.description as string,
    pinnedFramePath: r.pinned_frame_path as string | null,
    frameTabs: JSON.parse(r.frame_tabs as string),
    tabsOrder: JSON.parse(r.tabs_order as string),
    updatedAt: r.updated_at as number,
  };
}

export interface PodListItem {
  id: string;
  name: string;
  url: string;
}

/** MCP `list_pods`: the non-archived Pods the actor is a member of, by name (case-insensitive). */
export async function listPods(
  deps: Deps,
  actor: Actor,
): Promise<{ count: number; pods: PodListItem[] }> {
  const readable = await readableSpaceIds(deps.db, actor);
  const pods = (await listWorkspaceSpaces(deps.db, actor.workspace.id))
    .filter((s) => s.kind === "project" && s.archivedAt === null && readable.has(s.id))
    .map((s) => ({ id: s.sId, name: s.name, url: podUrl(deps, actor, s.sId) }));
  return { count: pods.length, pods };
}

/** Number of ready files in the Pod's file system (`files` scoped to the Pod). */
export async function countPodFiles(db: Db, workspaceId: number, podSId: string): Promise<number> {
  return (await db.get(
    `SELECT count(*) AS n FROM files WHERE workspace_id = ? AND scope_type = 'pod' AND scope_s_id = ?
     AND status = 'ready'`,
    workspaceId,
    podSId,
  ) as { n: number }).n;
}

/**
 * MCP `get_pod` (dust.md §1.3). `contentNodes` is always empty: this server has no way to
 * attach company-data nodes to a Pod's context yet.
 */
export async function getPod(deps: Deps, actor: Actor, input: { podId: string }) {
  const space = await requireReadablePod(deps.db, actor, input.podId, { activeOnly: true });
  const meta = await loadMetadata(deps.db, space);
  return {
    pod: {
      id: space.sId,
      name: space.name,
      url: podUrl(deps, actor, space.sId),
      description: meta.description,
      pinnedFramePath: meta.pinnedFramePath,
      fileTabs: meta.frameTabs,
      tabsOrder: meta.tabsOrder,
      contentNodes: [] as { name: string; nodeId: string; dataSourceViewId: string }[],
      fileCount: await countPodFiles(deps.db, actor.workspace.id, space.sId),
    },
  };
}

/** Dust's `ProjectMetadataType` (+ `pinnedFramePath`, `fileTabs`, `tabsOrder`). */
export interface PodMetadataJson {
  sId: string;
  createdAt: number;
  updatedAt: number;
  spaceId: string;
  description: string | null;
  archivedAt: number | null;
  members: string[];
  pinnedFramePath: string | null;
  fileTabs: unknown[];
  tabsOrder: unknown[];
}

async function toMetadataJson(
  db: Db,
  space: SpaceRow,
  meta: MetadataRow,
): Promise<PodMetadataJson> {
  const members = (await db.all(
    `SELECT u.s_id FROM space_members sm JOIN users u ON u.id = sm.user_id
     WHERE sm.space_id = ? ORDER BY sm.created_at, u.id LIMIT 10000`,
    space.id,
  ) as { s_id: string }[]).map((r) => r.s_id);
  return {
    sId: meta.sId,
    createdAt: space.createdAt,
    updatedAt: meta.updatedAt,
    spaceId: space.sId,
    description: meta.description,
    archivedAt: space.archivedAt,
    members,
    pinnedFramePath: meta.pinnedFramePath,
    fileTabs: meta.frameTabs,
    tabsOrder: meta.tabsOrder,
  };
}

/**
 * `GET spaces/{spaceId}/project_metadata`: `{metadata}` for a Pod the actor reads; a readable
 * space that is not a Pod has no metadata (`null`, as the SDK's nullable schema allows).
 */
export async function getPodMetadata(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string },
): Promise<{ metadata: PodMetadataJson | null }> {
  const space = await requireReadableSpace(deps.db, actor, input.spaceId);
  if (space.kind !== "project") return { metadata: null };
  return { metadata: await toMetadataJson(deps.db, space, await loadMetadata(deps.db, space)) };
}

export interface PatchPodMetadataInput {
  spaceId: string;
  description?: string;
  /** A Pod file path (`pod-<podId>/…`) or null to clear it. */
  pinnedFramePath?: string | null;
  /** Archive (true) or restore (false) the Pod: its editors only. */
  archived?: boolean;
}

/**
 * Members and editors of a Pod update its description and pinned frame; editors archive or
 * restore it (archived Pods leave `list_pods`, `get_pod` and space listings but stay readable
 * here, so they can be restored).
 */
export async function patchPodMetadata(
  deps: Deps,
  actor: Actor,
  input: PatchPodMetadataInput,
): Promise<{ metadata: PodMetadataJson }> {
  requireScope(actor, "write");
  const space = await requireReadablePod(deps.db, actor, input.spaceId);
  if (!await canWriteSpace(deps.db, actor, space)) {
    throw new AppError(403, "workspace_auth_error", "You cannot edit this Pod.");
  }
  if (input.archived !== undefined && !await canAdministerSpace(deps.db, actor, space)) {
    throw new AppError(403, "workspace_auth_error", "Only the Pod's editors can archive it.");
  }
  const prefix = `pod-${space.sId}/`;
  const pinned = input.pinnedFramePath;
  if (
    typeof pinned === "string" && (!pinned.startsWith(prefix) || pinned.length <= prefix.length)
  ) {
    throw invalid(`pinnedFramePath: must be a file path starting with "${prefix}"`);
  }
  return await deps.db.tx(async () => {
    const meta = await loadMetadata(deps.db, space);
    const t = now();
    await deps.db.run(
      "UPDATE pod_metadata SET description = ?, pinned_frame_path = ?, updated_at = ? WHERE space_id = ?",
      input.description ?? meta.description,
      pinned === undefined ? meta.pinnedFramePath : pinned,
      t,
      space.id,
    );
    if (input.archived !== undefined) {
      await deps.db.run(
        "UPDATE spaces SET archived_at = ?, updated_at = ? WHERE id = ?",
        input.archived ? (space.archivedAt ?? t) : null,
        t,
        space.id,
      );
    }
    const fresh = await requireReadablePod(deps.db, actor, space.sId);
    return { metadata: await toMetadataJson(deps.db, fresh, await loadMetadata(deps.db, fresh)) };
  });
}

export interface PodMember {
  sId: string;
  email: string;
  fullName: string;
  role: "member" | "editor";
}

/** The members and editors of a Pod, for anyone who reads it (editors first, then by email). */
export async function listPodMembers(
  deps: Deps,
  actor: Actor,
  input: { podId: string },
): Promise<PodMember[]> {
  const space = await requireReadablePod(deps.db, actor, input.podId);
  return (await deps.db.all(
    `SELECT u.s_id, u.email, u.first_name, u.last_name, sm.role FROM space_members sm
     JOIN users u ON u.id = sm.user_id WHERE sm.space_id = ?
     ORDER BY CASE WHEN sm.role = 'editor' THEN 0 ELSE 1 END, u.email LIMIT 10000`,
    space.id,
  ) as {
    s_id: string;
    email: string;
    first_name: string;
    last_name: string | null;
    role: "member" | "editor";
  }[]).map((r) => ({
    sId: r.s_id,
    email: r.email,
    fullName: [r.first_name, r.last_name].filter(Boolean).join(" "),
    role: r.role,
  }));
}

/** A Pod as its page shows it, with what the viewer may do there. */
export interface PodOverview {
  sId: string;
  name: string;
  description: string;
  isRestricted: boolean;
  archived: boolean;
  /** Members and editors write (description, tasks, files). */
  canWrite: boolean;
  /** Editors manage members and archive. */
  canAdminister: boolean;
}

/** A Pod the actor reads (archived ones too, so editors can restore them). */
export async function getPodOverview(
  deps: Deps,
  actor: Actor,
  input: { podId: string },
): Promise<PodOverview> {
  const space = await requireReadablePod(deps.db, actor, input.podId);
  const meta = await loadMetadata(deps.db, space);
  return {
    sId: space.sId,
    name: space.name,
    description: meta.description,
    isRestricted: space.isRestricted,
    archived: space.archivedAt !== null,
    canWrite: await canWriteSpace(deps.db, actor, space),
    canAdminister: await canAdministerSpace(deps.db, actor, space),
  };
}
