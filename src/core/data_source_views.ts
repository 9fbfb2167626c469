/**
 * Data source views beyond listing (`@dust-tt/client` `searchDataSourceViews`,
 * `patchDataSourceView`): each data source has one default view (`dsv_…`), whose `parentsIn`
 * narrows what is searched through it (null: everything; a list: documents and folders with
 * one of those ids, or under them; an empty list: nothing).
 *
 * - {@link searchDataSourceViews}: `GET data_source_views/search` with Dust's filters
 *   (`dataSourceId`, `kind`, `vaultId` = space sId, `vaultKind` = space kind) over the views
 *   the caller reads (Dust: system key only).
 * - {@link getDataSourceView} / {@link patchDataSourceView}: `GET|PATCH
 *   spaces/{spaceId}/data_source_views/{dsvId}`; patching `parentsIn` (or adding / removing
 *   parents) is for builders who write into the space (403 `workspace_auth_error` otherwise).
 * - {@link searchThroughView}: the view's search, the data source search narrowed to
 *   `parentsIn`.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { canCreateDataSourceIn, requireScope } from "./access.ts";
import {
  type DataSourceRow,
  listSearchableDataSources,
  requireDataSourceSpace,
  toDataSourceViewJSON,
} from "./data_sources.ts";
import { listWorkspaceSpaces } from "./space_rows.ts";
import { type DataSourceSearchInput, searchDataSource } from "./search.ts";

/** Most parents a view keeps. */
export const VIEW_PARENTS_MAX = 1000;

function viewNotFound(): AppError {
  return new AppError(404, "data_source_view_not_found", "The data source view was not found.");
}

/** `GET data_source_views/search` → `{ data_source_views }`. */
export async function searchDataSourceViews(
  deps: Deps,
  actor: Actor,
  input: { dataSourceId?: string; kind?: string; vaultId?: string; vaultKind?: string },
) {
  const kinds = new Map((await listWorkspaceSpaces(deps.db, actor.workspace.id)).map((s) => [
    s.sId,
    s.kind,
  ]));
  const views = (await listSearchableDataSources(deps, actor)).filter((ds) =>
    (input.dataSourceId === undefined || ds.sId === input.dataSourceId) &&
    (input.kind === undefined || input.kind === "default") &&
    (input.vaultId === undefined || ds.spaceSId === input.vaultId) &&
    (input.vaultKind === undefined || kinds.get(ds.spaceSId) === input.vaultKind)
  );
  return {
    data_source_views: views.map((ds) => toDataSourceViewJSON(ds, { sId: ds.spaceSId })),
  };
}

/** The data source behind a view of a space the caller reads, or 404. */
async function requireView(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; viewId: string },
): Promise<{ ds: DataSourceRow; spaceSId: string }> {
  const space = await requireDataSourceSpace(deps, actor, input.spaceId);
  const ds = (await listSearchableDataSources(deps, actor, [space.sId])).find((d) =>
    d.viewSId === input.viewId
  );
  if (!ds) throw viewNotFound();
  return { ds, spaceSId: space.sId };
}

/** `GET spaces/{spaceId}/data_source_views/{dsvId}` → `{ dataSourceView }`. */
export async function getDataSourceView(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; viewId: string },
) {
  const { ds, spaceSId } = await requireView(deps, actor, input);
  return { dataSourceView: toDataSourceViewJSON(ds, { sId: spaceSId }) };
}

export type ViewPatch =
  | { parentsIn: string[] }
  | { parentsToAdd?: string[]; parentsToRemove?: string[] };

/** `PATCH spaces/{spaceId}/data_source_views/{dsvId}` → `{ dataSourceView }`. */
export async function patchDataSourceView(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; viewId: string; patch: ViewPatch },
) {
  requireScope(actor, "write");
  const space = await requireDataSourceSpace(deps, actor, input.spaceId);
  const { ds, spaceSId } = await requireView(deps, actor, input);
  if (!await canCreateDataSourceIn(deps.db, actor, space)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "Only builders and admins who write into the space can change its data source views.",
    );
  }
  const p = input.patch;
  const next = "parentsIn" in p ? [...new Set(p.parentsIn)] : [
    ...new Set([...(ds.viewParentsIn ?? []), ...(p.parentsToAdd ?? [])]),
  ].filter((x) => !(p.parentsToRemove ?? []).includes(x));
  if (next.length > VIEW_PARENTS_MAX) {
    throw new AppError(
      400,
      "invalid_request_error",
      `A view keeps at most ${VIEW_PARENTS_MAX} parents.`,
    );
  }
  const t = now();
  await deps.db.run(
    "UPDATE data_sources SET view_parents_in = ?, updated_at = ? WHERE id = ?",
    JSON.stringify(next),
    t,
    ds.id,
  );
  return {
    dataSourceView: toDataSourceViewJSON({ ...ds, viewParentsIn: next, updatedAt: t }, {
      sId: spaceSId,
    }),
  };
}

/** Whether a document (or folder) is within `parentsIn`: its id or one of its parents. */
function inView(parentsIn: string[], d: { document_id: string; parents: string[] }): boolean {
  return parentsIn.includes(d.document_id) || d.parents.some((p) => parentsIn.includes(p));
}

/** `GET spaces/{spaceId}/data_source_views/{dsvId}/search`: the data source search, narrowed. */
export async function searchThroughView(
  deps: Deps,
  actor: Actor,
  input: Omit<DataSourceSearchInput, "dataSourceId"> & { viewId: string },
) {
  const { ds } = await requireView(deps, actor, input);
  const parentsIn = ds.viewParentsIn;
  if (parentsIn !== null && parentsIn.length === 0) return { documents: [] };
  const narrowed = parentsIn !== null && !input.parentsIn?.length ? { ...input, parentsIn } : input;
  const r = await searchDataSource(deps, actor, { ...narrowed, dataSourceId: ds.sId });
  return parentsIn === null
    ? r
    : { documents: r.documents.filter((d) => inView(parentsIn, d as never)) };
}
