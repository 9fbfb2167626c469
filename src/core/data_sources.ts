/**
 * Data sources: named document collections in a space (`dts_` sId, with the `dsv_` sId of its
 * one default view). They follow their space (rules in access.ts): readers of the space list
 * and search them, builders create them. A data source addressed through another space than
 * its own answers 404 `data_source_not_found`, as in Dust.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId } from "../util/ids.ts";
import {
  canCreateDataSourceIn,
  canReadDataSourceIn,
  canWriteDocumentsIn,
  readableSpaceIds,
  requireScope,
} from "./access.ts";
import { findSpaceInWorkspace, listWorkspaceSpaces, type SpaceRow } from "./space_rows.ts";

export interface DataSourceRow {
  id: number;
  sId: string;
  viewSId: string;
  workspaceId: number;
  spaceId: number;
  name: string;
  description: string | null;
  createdAt: number;
  updatedAt: number;
  /** The default view's `parentsIn` (null: the whole data source). */
  viewParentsIn: string[] | null;
}

const COLUMNS =
  "id, s_id, view_s_id, workspace_id, space_id, name, description, created_at, updated_at, view_parents_in";

// deno-lint-ignore no-explicit-any
function fromRow(r: any): DataSourceRow {
  return {
    id: r.id,
    sId: r.s_id,
    viewSId: r.view_s_id,
    workspaceId: r.workspace_id,
    spaceId: r.space_id,
    name: r.name,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    viewParentsIn: r.view_parents_in ? JSON.parse(r.view_parents_in) : null,
  };
}

/** Dust's `DataSource` JSON (a folder data source: no connector), plus its space and view. */
export function toDataSourceJSON(ds: DataSourceRow, space: Pick<SpaceRow, "sId">) {
  return {
    id: ds.id,
    sId: ds.sId,
    createdAt: ds.createdAt,
    name: ds.name,
    description: ds.description,
    assistantDefaultSelected: true,
    dustAPIProjectId: String(ds.workspaceId),
    dustAPIDataSourceId: ds.sId,
    connectorId: null,
    connectorProvider: null,
    editedByUser: null,
    spaceId: space.sId,
    dataSourceViewId: ds.viewSId,
  };
}

function spaceNotFound(): AppError {
  return new AppError(404, "space_not_found", "Space not found.");
}

function dataSourceNotFound(): AppError {
  return new AppError(404, "data_source_not_found", "The data source you requested was not found.");
}

/** A space whose data sources the actor reads, or 404 `space_not_found`. */
export async function requireDataSourceSpace(
  deps: Deps,
  actor: Actor,
  spaceSId: string,
): Promise<SpaceRow> {
  const space = await findSpaceInWorkspace(deps.db, actor.workspace.id, spaceSId);
  if (!space || !await canReadDataSourceIn(deps.db, actor, space)) throw spaceNotFound();
  return space;
}

/**
 * A data source of `spaceSId` the actor reads (`mode` "write": writes documents into, 403
 * otherwise). The space is checked first, then the data source must belong to it.
 */
export async function requireDataSource(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; dataSourceId: string },
  mode: "read" | "write" = "read",
): Promise<{ space: SpaceRow; dataSource: DataSourceRow }> {
  const space = await requireDataSourceSpace(deps, actor, input.spaceId);
  const r = await deps.db.get(
    `SELECT ${COLUMNS} FROM data_sources WHERE s_id = ? AND workspace_id = ? AND space_id = ?`,
    input.dataSourceId,
    actor.workspace.id,
    space.id,
  );
  if (!r) throw dataSourceNotFound();
  if (mode === "write") {
    requireScope(actor, "write");
    if (!await canWriteDocumentsIn(deps.db, actor, space)) {
      throw new AppError(403, "data_source_auth_error", "You cannot write into this data source.");
    }
  }
  return { space, dataSource: fromRow(r) };
}

/** `GET /spaces/{spaceId}/data_sources` → `{ data_sources }`. */
export async function listDataSources(deps: Deps, actor: Actor, input: { spaceId: string }) {
  const space = await requireDataSourceSpace(deps, actor, input.spaceId);
  const rows = (await deps.db.all(
    `SELECT ${COLUMNS} FROM data_sources WHERE workspace_id = ? AND space_id = ?
     ORDER BY lower(name) LIMIT 1000`,
    actor.workspace.id,
    space.id,
  )).map(fromRow);
  return { data_sources: rows.map((ds) => toDataSourceJSON(ds, space)) };
}

/** Dust's `DataSourceView` JSON: this server has one default view per data source. */
export function toDataSourceViewJSON(ds: DataSourceRow, space: Pick<SpaceRow, "sId">) {
  return {
    id: ds.id,
    sId: ds.viewSId,
    category: "folder",
    kind: "default",
    parentsIn: ds.viewParentsIn,
    createdAt: ds.createdAt,
    updatedAt: ds.updatedAt,
    spaceId: space.sId,
    editedByUser: null,
    dataSource: toDataSourceJSON(ds, space),
  };
}

/** `GET /spaces/{spaceId}/data_source_views` → `{ data_source_views }`. */
export async function listDataSourceViews(deps: Deps, actor: Actor, input: { spaceId: string }) {
  const space = await requireDataSourceSpace(deps, actor, input.spaceId);
  const rows = (await deps.db.all(
    `SELECT ${COLUMNS} FROM data_sources WHERE workspace_id = ? AND space_id = ?
     ORDER BY lower(name) LIMIT 1000`,
    actor.workspace.id,
    space.id,
  )).map(fromRow);
  return { data_source_views: rows.map((ds) => toDataSourceViewJSON(ds, space)) };
}

/** Legacy `GET /data_sources` → `{ data_sources }`: every data source the actor reads. */
export async function listReadableDataSources(deps: Deps, actor: Actor) {
  const rows = await listSearchableDataSources(deps, actor);
  return { data_sources: rows.map((ds) => toDataSourceJSON(ds, { sId: ds.spaceSId })) };
}

/** Input of {@link createDataSource} (our own shape: Dust creates folders in its UI). */
export interface CreateDataSourceInput {
  spaceId: string;
  name: string;
  description?: string | null;
}

/** `POST /spaces/{spaceId}/data_sources`: builders create a folder data source in a space. */
export async function createDataSource(deps: Deps, actor: Actor, input: CreateDataSourceInput) {
  requireScope(actor, "write");
  const space = await requireDataSourceSpace(deps, actor, input.spaceId);
  if (!await canCreateDataSourceIn(deps.db, actor, space)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "Only builders and admins can create data sources in this space.",
    );
  }
  const name = input.name.trim();
  if (!/^[\p{L}\p{N} _.\-]{1,100}$/u.test(name)) {
    throw invalid("name: 1 to 100 letters, digits, spaces, '_', '.' or '-'");
  }
  const taken = await deps.db.get(
    "SELECT 1 FROM data_sources WHERE workspace_id = ? AND name = ?",
    actor.workspace.id,
    name,
  );
  if (taken) throw new AppError(409, "conflict", `A data source named "${name}" already exists.`);
  const t = now();
  const r = await deps.db.get(
    `INSERT INTO data_sources (s_id, view_s_id, workspace_id, space_id, name, description,
       created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
    newResourceId("dts"),
    newResourceId("dsv"),
    actor.workspace.id,
    space.id,
    name,
    input.description ?? null,
    t,
    t,
  );
  const ds = fromRow(r);
  return { data_source: toDataSourceJSON(ds, space) };
}

/** A data source the search may use, with the sId of its space. */
export interface SearchableDataSource extends DataSourceRow {
  spaceSId: string;
}

/**
 * Every data source in a space the actor reads, optionally restricted to `spaceSIds` (an
 * unknown or unreadable space id simply contributes nothing).
 */
export async function listSearchableDataSources(
  deps: Deps,
  actor: Actor,
  spaceSIds?: readonly string[] | null,
): Promise<SearchableDataSource[]> {
  const readable = await readableSpaceIds(deps.db, actor);
  const wanted = spaceSIds && spaceSIds.length > 0 ? new Set(spaceSIds) : null;
  const spaces = new Map<number, SpaceRow>();
  for (const s of await listWorkspaceSpaces(deps.db, actor.workspace.id)) {
    if (!readable.has(s.id) || !await canReadDataSourceIn(deps.db, actor, s)) continue;
    if (wanted && !wanted.has(s.sId)) continue;
    spaces.set(s.id, s);
  }
  if (spaces.size === 0) return [];
  const rows = (await deps.db.all(
    `SELECT ${COLUMNS} FROM data_sources WHERE workspace_id = ?
     AND space_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
    actor.workspace.id,
    JSON.stringify([...spaces.keys()]),
  )).map(fromRow);
  return rows.map((ds) => ({ ...ds, spaceSId: spaces.get(ds.spaceId)!.sId }));
}

/**
 * Where a data source addressed without its own path lives: by its sId (Dust's legacy
 * space-less routes) or by its view's sId within a space (data source view routes). 404 when
 * the caller does not read it, revealing nothing.
 */
export async function locateDataSource(
  deps: Deps,
  actor: Actor,
  by: { dataSourceId: string } | { spaceId: string; viewId: string },
): Promise<{ spaceId: string; dataSourceId: string }> {
  if ("dataSourceId" in by) {
    const ds = (await listSearchableDataSources(deps, actor)).find((d) =>
      d.sId === by.dataSourceId
    );
    if (!ds) throw dataSourceNotFound();
    return { spaceId: ds.spaceSId, dataSourceId: ds.sId };
  }
  const space = await requireDataSourceSpace(deps, actor, by.spaceId);
  const ds = (await listSearchableDataSources(deps, actor, [space.sId])).find((d) =>
    d.viewSId === by.viewId
  );
  if (!ds) {
    throw new AppError(404, "data_source_view_not_found", "The data source view was not found.");
  }
  return { spaceId: space.sId, dataSourceId: ds.sId };
}
