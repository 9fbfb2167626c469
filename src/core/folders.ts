/**
 * Folders of a data source (`@dust-tt/client` `upsertFolder`, `deleteFolder`; Dust's
 * `…/data_sources/{dsId}/folders/{folderId}` GET / POST / DELETE, with or without the space
 * in the path): named nodes that documents list in their `parents`, so that a search or a
 * view's `parentsIn` can take a whole folder. Dust's body rules: `parents[0]` is the folder's
 * own id and `parents[1]` its `parent_id`. Deleting a folder leaves its documents in place
 * (as Dust's core does) and answers the same for a folder that does not exist.
 *
 * Readers of the data source get a folder; writers of its space upsert and delete (Dust:
 * its system key only). Responses in Dust's `CoreAPIFolder` shape.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { locateDataSource, requireDataSource, toDataSourceJSON } from "./data_sources.ts";

export interface FolderBody {
  timestamp: number;
  parents?: string[] | null;
  parent_id?: string | null;
  title: string;
  mime_type: string;
  source_url?: string | null;
  provider_visibility?: "public" | "private" | null;
}

type Where = { spaceId?: string; dataSourceId: string; folderId: string };

/** Dust's folder ids, like document ids: 1 to 512 characters, no control characters. */
function checkFolderId(id: string): void {
  if (id.length === 0 || id.length > 512) throw invalid("folderId: must be 1 to 512 characters");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f]/.test(id)) throw invalid("folderId: control characters are not allowed");
}

/** The data source a folder route names: through its space, or by its id alone. */
async function resolve(deps: Deps, actor: Actor, w: Where, mode: "read" | "write") {
  checkFolderId(w.folderId);
  const at = w.spaceId === undefined
    ? await locateDataSource(deps, actor, { dataSourceId: w.dataSourceId })
    : { spaceId: w.spaceId, dataSourceId: w.dataSourceId };
  return await requireDataSource(deps, actor, at, mode);
}

function folderJson(dsSId: string, r: Record<string, never>) {
  return {
    data_source_id: dsSId,
    folder_id: r.folder_id as string,
    title: r.title as string,
    parents: JSON.parse(r.parents) as string[],
    parent_id: r.parent_id as string | null,
    timestamp: r.timestamp as number,
    mime_type: r.mime_type as string,
    source_url: r.source_url as string | null,
    provider_visibility: r.provider_visibility as string | null,
  };
}

/** `GET …/folders/{folderId}` → `{ folder }`. */
export async function getFolder(deps: Deps, actor: Actor, w: Where) {
  const { dataSource } = await resolve(deps, actor, w, "read");
  const r = await deps.db.get(
    "SELECT * FROM data_source_folders WHERE data_source_id = ? AND folder_id = ?",
    dataSource.id,
    w.folderId,
  ) as Record<string, never> | undefined;
  if (!r) {
    throw new AppError(
      404,
      "data_source_error",
      "There was an error retrieving the data source folder.",
    );
  }
  return { folder: folderJson(dataSource.sId, r) };
}

/** `POST …/folders/{folderId}` → `{ folder, data_source }` (create or replace). */
export async function upsertFolder(deps: Deps, actor: Actor, w: Where & { body: FolderBody }) {
  const b = w.body;
  const parentId = b.parent_id || null;
  if (b.parents) {
    if (b.parents.length === 0) {
      throw invalid("Invalid parents: parents must have at least one element.");
    }
    if (b.parents[0] !== w.folderId) {
      throw invalid("Invalid parents: parents[0] should be equal to the folder id.");
    }
    if ((b.parents.length >= 2 || parentId !== null) && b.parents[1] !== parentId) {
      throw invalid("Invalid parent id: parents[1] and parent_id should be equal.");
    }
  }
  const { space, dataSource } = await resolve(deps, actor, w, "write");
  const parents = b.parents ?? (parentId ? [w.folderId, parentId] : [w.folderId]);
  const t = now();
  const r = await deps.db.get(
    `INSERT INTO data_source_folders (workspace_id, data_source_id, folder_id, title, parent_id,
       parents, mime_type, source_url, provider_visibility, timestamp, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (data_source_id, folder_id) DO UPDATE SET title = excluded.title,
       parent_id = excluded.parent_id, parents = excluded.parents,
       mime_type = excluded.mime_type, source_url = excluded.source_url,
       provider_visibility = excluded.provider_visibility, timestamp = excluded.timestamp,
       updated_at = excluded.updated_at
     RETURNING *`,
    actor.workspace.id,
    dataSource.id,
    w.folderId,
    b.title.trim() || "Untitled Folder",
    parentId,
    JSON.stringify(parents),
    b.mime_type,
    b.source_url ?? null,
    b.provider_visibility ?? null,
    b.timestamp || t,
    t,
    t,
  ) as Record<string, never>;
  return {
    folder: folderJson(dataSource.sId, r),
    data_source: toDataSourceJSON(dataSource, space),
  };
}

/** `DELETE …/folders/{folderId}` → `{ folder: { folder_id } }`. */
export async function deleteFolder(deps: Deps, actor: Actor, w: Where) {
  const { dataSource } = await resolve(deps, actor, w, "write");
  await deps.db.run(
    "DELETE FROM data_source_folders WHERE data_source_id = ? AND folder_id = ?",
    dataSource.id,
    w.folderId,
  );
  return { folder: { folder_id: w.folderId } };
}
