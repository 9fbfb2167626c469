/**
 * Data source views and folders beyond listing (`@dust-tt/client` `searchDataSourceViews`,
 * `patchDataSourceView`, `upsertFolder`, `deleteFolder`): `GET data_source_views/search`,
 * `GET|PATCH spaces/{spaceId}/data_source_views/{dsvId}`, and a data source's folders under
 * `data_sources/{dsId}/folders/{folderId}` (Dust's legacy path the SDK uses) and
 * `spaces/{spaceId}/data_sources/{dsId}/folders/{folderId}` (core/data_source_views.ts,
 * core/folders.ts).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  getDataSourceView,
  patchDataSourceView,
  searchDataSourceViews,
  VIEW_PARENTS_MAX,
} from "../core/data_source_views.ts";
import { deleteFolder, getFolder, upsertFolder } from "../core/folders.ts";
import { DataSourceSchema, DataSourceViewSchema } from "./data_sources.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";

const W = "/api/v1/w/:wId";

export const ViewSearchQuery = z.object({
  dataSourceId: z.string().max(128).optional(),
  kind: z.string().max(32).optional().describe("View kind: every view here is default"),
  vaultId: z.string().max(128).optional().describe("The space's sId"),
  vaultKind: z.string().max(32).optional().describe("The space's kind"),
});

const Parents = z.array(z.string().min(1).max(512)).max(VIEW_PARENTS_MAX);
export const ViewPatchBody = z.union([
  z.object({ parentsIn: Parents }).strict(),
  z.object({ parentsToAdd: Parents.optional(), parentsToRemove: Parents.optional() }).strict(),
]).describe("Set parentsIn, or add / remove parents (an empty list shows nothing)");

/** Dust's folder ids, like document ids: 1 to 512 characters without control characters. */
const FolderIdParam = z.string().min(1).max(512).regex(
  // deno-lint-ignore no-control-regex
  /^[^\u0000-\u001f]+$/,
  "control characters are not allowed",
);

export const FolderBody = z.object({
  timestamp: z.number().int().min(0),
  parents: z.array(z.string().min(1).max(512)).max(64).nullable().optional(),
  parent_id: z.string().max(512).nullable().optional(),
  title: z.string().max(1024),
  mime_type: z.string().min(1).max(255),
  source_url: z.string().max(4096).nullable().optional(),
  provider_visibility: z.enum(["public", "private"]).nullable().optional(),
});

const Folder = z.object({
  data_source_id: z.string(),
  folder_id: z.string(),
  title: z.string(),
  parents: z.array(z.string()),
  parent_id: z.string().nullable(),
  timestamp: z.number(),
  mime_type: z.string(),
  source_url: z.string().nullable(),
  provider_visibility: z.string().nullable(),
});

function documentFolderRoutes(path: string, where: string): void {
  const tags = ["Data sources"];
  const common = { tags, pathParams: { folderId: FolderIdParam } };
  documentRoute({
    ...common,
    method: "get",
    path,
    summary: `Get a folder of a data source (${where})`,
    response: z.object({ folder: Folder }),
  });
  documentRoute({
    ...common,
    method: "post",
    path,
    summary: `Create or replace a folder of a data source (${where})`,
    description: "Writers of the data source's space. parents[0] is the folder id, parents[1] " +
      "its parent_id.",
    body: FolderBody,
    response: z.object({ folder: Folder, data_source: DataSourceSchema }),
  });
  documentRoute({
    ...common,
    method: "delete",
    path,
    summary: `Delete a folder (its documents stay; ${where})`,
    response: z.object({ folder: z.object({ folder_id: z.string() }) }),
  });
}

/** Mounted at `/api/v1/w/:wId`. */
export function dataSourceViewRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const tags = ["Data sources"];

  documentRoute({
    method: "get",
    path: `${W}/data_source_views/search`,
    summary: "Data source views the caller reads, filtered (Dust: its system key only)",
    tags,
    query: ViewSearchQuery,
    response: z.object({ data_source_views: z.array(DataSourceViewSchema) }),
  });
  app.get("/data_source_views/search", async (c) => {
    const q = parseQuery(c, ViewSearchQuery);
    return c.json(await searchDataSourceViews(c.var.deps, getActor(c), q));
  });

  const view = "/spaces/:spaceId/data_source_views/:dsvId";
  documentRoute({
    method: "get",
    path: `${W}${view}`,
    summary: "Get a data source view",
    tags,
    response: z.object({ dataSourceView: DataSourceViewSchema }),
  });
  app.get(view, async (c) =>
    c.json(
      await getDataSourceView(c.var.deps, getActor(c), {
        spaceId: c.req.param("spaceId"),
        viewId: c.req.param("dsvId"),
      }),
    ));

  documentRoute({
    method: "patch",
    path: `${W}${view}`,
    summary: "Change what a data source view shows (parentsIn; builders who write the space)",
    tags,
    body: ViewPatchBody,
    response: z.object({ dataSourceView: DataSourceViewSchema }),
  });
  app.patch(view, async (c) => {
    const patch = await parseJson(c, ViewPatchBody);
    return c.json(
      await patchDataSourceView(c.var.deps, getActor(c), {
        spaceId: c.req.param("spaceId"),
        viewId: c.req.param("dsvId"),
        patch,
      }),
    );
  });

  for (
    const [path, where] of [
      ["/data_sources/:dsId/folders/:folderId", "by its id alone, Dust's legacy path"],
      ["/spaces/:spaceId/data_sources/:dsId/folders/:folderId", "in its space"],
    ] as const
  ) {
    documentFolderRoutes(`${W}${path}`, where);
    const at = (c: { req: { param: (k: string) => string | undefined } }) => ({
      spaceId: c.req.param("spaceId"),
      dataSourceId: c.req.param("dsId")!,
      folderId: c.req.param("folderId")!,
    });
    app.get(path, async (c) => c.json(await getFolder(c.var.deps, getActor(c), at(c))));
    app.post(path, async (c) => {
      const body = await parseJson(c, FolderBody);
      return c.json(await upsertFolder(c.var.deps, getActor(c), { ...at(c), body }));
    });
    app.delete(path, async (c) => c.json(await deleteFolder(c.var.deps, getActor(c), at(c))));
  }
  return app;
}
