/**
 * Data sources and documents, Dust's paths under `spaces/{spaceId}/data_sources`: list,
 * create (this server's own route: Dust creates folders in its UI), document upsert / get /
 * delete / list, and `data_sources/{dsId}/search` with Dust's query parameters.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  createDataSource,
  listDataSources,
  listDataSourceViews,
  listReadableDataSources,
  locateDataSource,
} from "../core/data_sources.ts";
import {
  deleteDocument,
  DOCUMENT_LIST_MAX,
  DOCUMENT_TEXT_MAX_CHARS,
  getDocument,
  listDocuments,
  TAGS_MAX,
  upsertDocument,
} from "../core/documents.ts";
import { searchDataSource, TOP_K_MAX } from "../core/search.ts";
import { invalid } from "../errors.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { EditedByUserSchema } from "./dust_schemas.ts";

const DS = "/api/v1/w/:wId/spaces/:spaceId/data_sources";
/** Searches run on the worker pool: 429 past the caller's share, 503 when its queue is full. */
const BUSY = [429, 503];

export const DataSourceSchema = z.object({
  id: z.number(),
  sId: z.string(),
  createdAt: z.number(),
  name: z.string(),
  description: z.string().nullable(),
  assistantDefaultSelected: z.boolean(),
  dustAPIProjectId: z.string(),
  dustAPIDataSourceId: z.string(),
  connectorId: z.string().nullable(),
  connectorProvider: z.string().nullable(),
  editedByUser: EditedByUserSchema.nullable(),
  spaceId: z.string(),
  dataSourceViewId: z.string(),
});

export const DataSourceViewSchema = z.object({
  id: z.number(),
  sId: z.string(),
  category: z.string(),
  kind: z.string(),
  parentsIn: z.array(z.string()).nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  spaceId: z.string(),
  editedByUser: EditedByUserSchema.nullable(),
  dataSource: DataSourceSchema,
});

const ChunkSchema = z.object({
  text: z.string(),
  hash: z.string(),
  offset: z.number(),
  score: z.number().nullable(),
});

const DocumentSchema = z.object({
  data_source_id: z.string(),
  created: z.number(),
  document_id: z.string(),
  title: z.string().nullable(),
  mime_type: z.string(),
  timestamp: z.number(),
  parent_id: z.string().nullable(),
  parents: z.array(z.string()),
  tags: z.array(z.string()),
  source_url: z.string().nullable(),
  hash: z.string(),
  text_size: z.number(),
  chunk_count: z.number(),
  chunks: z.array(ChunkSchema),
  text: z.string().nullable(),
});

const CreateBody = z.object({
  name: z.string().max(100).regex(
    /^[\p{L}\p{N} _.\-]*[\p{L}\p{N}_.\-][\p{L}\p{N} _.\-]*$/u,
    "1 to 100 letters, digits, spaces, '_', '.' or '-'",
  ).describe("Letters, digits, spaces, '_', '.', '-'; unique in the workspace (409 otherwise)"),
  description: z.string().max(1000).nullable().optional(),
});

interface Section {
  prefix?: string | null;
  content?: string | null;
  sections?: Section[];
}
const SectionSchema: z.ZodType<Section> = z.lazy(() =>
  z.object({
    prefix: z.string().nullable().optional(),
    content: z.string().nullable().optional(),
    sections: z.array(SectionSchema).optional(),
  })
).meta({ id: "DocumentSection" });

const UpsertBody = z.object({
  text: z.string().max(DOCUMENT_TEXT_MAX_CHARS).nullable().optional(),
  section: SectionSchema.nullable().optional(),
  title: z.string().max(1024).nullable().optional(),
  source_url: z.string().max(4096).nullable().optional(),
  tags: z.array(z.string().min(1).max(256)).max(TAGS_MAX).nullable().optional(),
  timestamp: z.number().int().min(0).nullable().optional(),
  parents: z.array(z.string().max(512)).max(64).nullable().optional(),
  parent_id: z.string().max(512).nullable().optional(),
  mime_type: z.string().max(255).nullable().optional(),
  light_document_output: z.boolean().optional(),
  async: z.boolean().optional(),
  upsert_context: z.unknown().optional(),
}).meta({
  anyOf: [
    { required: ["text"], properties: { text: { type: "string" } } },
    { required: ["section"], properties: { section: { type: "object" } } },
  ],
  description: "Give the text, or a section tree whose prefixes and contents make it.",
});

/** Dust's document ids: any text of 1 to 512 characters without control characters. */
const DocumentIdParam = z.string().min(1).max(512).regex(
  // deno-lint-ignore no-control-regex
  /^[^\u0000-\u001f]+$/,
  "control characters are not allowed",
);

/** Dust's section tree → text (prefix, content, then children), depth and size bounded. */
function flattenSection(s: Section, depth = 0): string {
  if (depth > 32) throw invalid("section: nested deeper than 32 levels");
  const own = [s.prefix, s.content].filter((x): x is string => !!x).join("\n");
  const kids = (s.sections ?? []).map((k) => flattenSection(k, depth + 1));
  return [own, ...kids].filter((x) => x.length > 0).join("\n");
}

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(DOCUMENT_LIST_MAX).optional(),
  offset: z.coerce.number().int().min(0).optional(),
  cursor: z.string().regex(/^\d{1,16}\.\d{1,16}$/, "not a cursor returned by this endpoint")
    .optional().describe("nextCursor of the previous page"),
});

const many = z.union([z.string(), z.array(z.string())]).optional()
  .transform((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]));
const flag = z.enum(["true", "false"]).optional().transform((v) => v === "true");

const SearchQuery = z.object({
  query: z.string().min(1).max(2048),
  top_k: z.coerce.number().int().min(1).max(TOP_K_MAX).optional(),
  full_text: flag,
  target_document_tokens: z.coerce.number().int().optional().describe("Accepted, ignored"),
  timestamp_gt: z.coerce.number().int().optional(),
  timestamp_lt: z.coerce.number().int().optional(),
  tags_in: many,
  tags_not: many,
  parents_in: many,
  parents_not: many.describe("Leave out documents with this id or under this parent (folder)"),
});

/** Dust's search query parameters → the core's input. */
function searchInput(q: z.output<typeof SearchQuery>) {
  return {
    query: q.query,
    topK: q.top_k,
    fullText: q.full_text,
    tagsIn: q.tags_in,
    tagsNot: q.tags_not,
    parentsIn: q.parents_in,
    parentsNot: q.parents_not,
    timestampGt: q.timestamp_gt,
    timestampLt: q.timestamp_lt,
  };
}

function docParams(c: { req: { param: (k: string) => string } }) {
  return {
    spaceId: c.req.param("spaceId"),
    dataSourceId: c.req.param("dsId"),
    documentId: c.req.param("documentId"),
  };
}

/** Mounted at `/api/v1/w/:wId`. */
export function dataSourcesRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const base = "/spaces/:spaceId/data_sources";

  documentRoute({
    method: "get",
    path: DS,
    summary: "List the data sources of a space",
    tags: ["Data sources"],
    response: z.object({ data_sources: z.array(DataSourceSchema) }),
  });
  app.get(
    base,
    async (c) =>
      c.json(await listDataSources(c.var.deps, getActor(c), { spaceId: c.req.param("spaceId") })),
  );

  documentRoute({
    method: "get",
    path: "/api/v1/w/:wId/data_sources",
    summary: "List every data source the caller can read (Dust's legacy route)",
    tags: ["Data sources"],
    response: z.object({ data_sources: z.array(DataSourceSchema) }),
  });
  app.get(
    "/data_sources",
    async (c) => c.json(await listReadableDataSources(c.var.deps, getActor(c))),
  );

  documentRoute({
    method: "get",
    path: "/api/v1/w/:wId/spaces/:spaceId/data_source_views",
    summary: "List the data source views of a space (one default view per data source)",
    tags: ["Data sources"],
    response: z.object({ data_source_views: z.array(DataSourceViewSchema) }),
  });
  app.get(
    "/spaces/:spaceId/data_source_views",
    async (c) =>
      c.json(
        await listDataSourceViews(c.var.deps, getActor(c), { spaceId: c.req.param("spaceId") }),
      ),
  );

  documentRoute({
    method: "post",
    path: DS,
    summary: "Create a folder data source in a space (builders and admins; this server's route)",
    tags: ["Data sources"],
    body: CreateBody,
    response: z.object({ data_source: DataSourceSchema }),
    errors: [409],
  });
  app.post(base, async (c) => {
    const b = await parseJson(c, CreateBody);
    return c.json(
      await createDataSource(c.var.deps, getActor(c), { spaceId: c.req.param("spaceId"), ...b }),
    );
  });

  documentRoute({
    method: "get",
    path: `${DS}/:dsId/documents`,
    summary: "List documents, newest first (limit + offset, or limit + cursor)",
    tags: ["Data sources"],
    query: ListQuery,
    response: z.object({
      documents: z.array(DocumentSchema),
      total: z.number(),
      nextCursor: z.string().nullable(),
    }),
  });
  app.get(`${base}/:dsId/documents`, async (c) => {
    const q = parseQuery(c, ListQuery);
    const { spaceId, dataSourceId } = docParams(c);
    return c.json(await listDocuments(c.var.deps, getActor(c), { spaceId, dataSourceId, ...q }));
  });

  documentRoute({
    method: "post",
    path: `${DS}/:dsId/documents/:documentId`,
    pathParams: { documentId: DocumentIdParam },
    summary: "Create or replace a document (chunked and indexed for search)",
    tags: ["Data sources"],
    body: UpsertBody,
    response: z.object({
      document: z.union([
        DocumentSchema,
        z.object({
          hash: z.string(),
          text_size: z.number(),
          chunk_count: z.number(),
          token_count: z.number(),
          created: z.number(),
        }).describe("With light_document_output: true"),
      ]),
      data_source: DataSourceSchema,
    }),
  });
  app.post(`${base}/:dsId/documents/:documentId`, async (c) => {
    const b = await parseJson(c, UpsertBody);
    const text = b.text ?? (b.section ? flattenSection(b.section) : null);
    if (text === null) throw invalid("text: either text or section is required");
    const r = await upsertDocument(c.var.deps, getActor(c), {
      ...docParams(c),
      text,
      title: b.title,
      source_url: b.source_url,
      tags: b.tags,
      timestamp: b.timestamp,
      parents: b.parents,
      parent_id: b.parent_id,
      mime_type: b.mime_type,
    });
    if (!b.light_document_output) return c.json(r);
    const d = r.document;
    const light = {
      hash: d.hash,
      text_size: d.text_size,
      chunk_count: d.chunk_count,
      token_count: Math.ceil(d.text_size / 4),
      created: d.created,
    };
    return c.json({ document: light, data_source: r.data_source });
  });

  documentRoute({
    method: "get",
    path: `${DS}/:dsId/documents/:documentId`,
    pathParams: { documentId: DocumentIdParam },
    summary: "Get a document with its text",
    tags: ["Data sources"],
    response: z.object({ document: DocumentSchema }),
  });
  app.get(
    `${base}/:dsId/documents/:documentId`,
    async (c) => c.json(await getDocument(c.var.deps, getActor(c), docParams(c))),
  );

  documentRoute({
    method: "delete",
    path: `${DS}/:dsId/documents/:documentId`,
    pathParams: { documentId: DocumentIdParam },
    summary: "Delete a document",
    tags: ["Data sources"],
    response: z.object({ document: z.object({ document_id: z.string() }) }),
  });
  app.delete(
    `${base}/:dsId/documents/:documentId`,
    async (c) => c.json(await deleteDocument(c.var.deps, getActor(c), docParams(c))),
  );

  documentRoute({
    method: "get",
    path: `${DS}/:dsId/search`,
    summary: "Full-text search in one data source (bm25-ranked chunks grouped per document)",
    tags: ["Data sources"],
    query: SearchQuery,
    response: z.object({ documents: z.array(DocumentSchema) }),
    errors: BUSY,
  });
  app.get(`${base}/:dsId/search`, async (c) => {
    const q = parseQuery(c, SearchQuery);
    const { spaceId, dataSourceId } = docParams(c);
    return c.json(
      await searchDataSource(c.var.deps, getActor(c), {
        spaceId,
        dataSourceId,
        ...searchInput(q),
      }),
    );
  });

  documentRoute({
    method: "get",
    path: "/api/v1/w/:wId/spaces/:spaceId/data_source_views/:dsvId/search",
    summary: "Full-text search in a data source through its view (same as the data source search)",
    tags: ["Data sources"],
    query: SearchQuery,
    response: z.object({ documents: z.array(DocumentSchema) }),
    errors: BUSY,
  });
  app.get("/spaces/:spaceId/data_source_views/:dsvId/search", async (c) => {
    const q = parseQuery(c, SearchQuery);
    const actor = getActor(c);
    const where = await locateDataSource(c.var.deps, actor, {
      spaceId: c.req.param("spaceId"),
      viewId: c.req.param("dsvId"),
    });
    return c.json(await searchDataSource(c.var.deps, actor, { ...where, ...searchInput(q) }));
  });

  documentRoute({
    method: "get",
    path: "/api/v1/w/:wId/data_sources/:dsId/search",
    summary: "Full-text search in a data source by its id alone (Dust's legacy route)",
    tags: ["Data sources"],
    query: SearchQuery,
    response: z.object({ documents: z.array(DocumentSchema) }),
    errors: BUSY,
  });
  app.get("/data_sources/:dsId/search", async (c) => {
    const q = parseQuery(c, SearchQuery);
    const actor = getActor(c);
    const where = await locateDataSource(c.var.deps, actor, { dataSourceId: c.req.param("dsId") });
    return c.json(await searchDataSource(c.var.deps, actor, { ...where, ...searchInput(q) }));
  });

  return app;
}
