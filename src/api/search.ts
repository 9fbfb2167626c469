/**
 * Workspace search, three faces of one knowledge base:
 * - `GET search?query=…` (JSON): this server's full-text search, the MCP `search` tool's shape
 *   (`{count, results:[{ref, title, uri, id, …, score, snippet, chunks}]}`) over every space the
 *   caller reads;
 * - `GET search` with `Accept: text/event-stream`: Dust's unified search (`@dust-tt/client`
 *   `searchUnified`), title matches as one SSE frame of content nodes;
 * - `POST search`: Dust's node search (`searchNodes`);
 * and `GET fetch?id=…`: the full text of one search result (ChatGPT's search + fetch pair).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { fetchDocument, searchWorkspace, TOP_K_MAX } from "../core/search.ts";
import { searchNodes, searchNodesPage } from "../core/node_search.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { DataSourceSchema, DataSourceViewSchema } from "./data_sources.ts";

const W = "/api/v1/w/:wId";

const many = z.union([z.string(), z.array(z.string())]).optional()
  .transform((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]));

const SearchQuery = z.object({
  query: z.string().min(1).max(2048),
  topK: z.coerce.number().int().min(1).max(TOP_K_MAX).optional().describe(
    "Chunks to return (1–64, default 10), grouped per document",
  ),
  spaceIds: z.string().optional()
    .transform((s) => s?.split(",").map((x) => x.trim()).filter(Boolean))
    .describe("Comma-separated space sIds to search in (default: every readable space)"),
  tagsIn: many.describe("Repeat to give several tags; a document needs one of them"),
  tagsNot: many.describe("Repeat to give several tags; documents with any are excluded"),
  relativeTimeFrame: z.string().regex(/^(all|\d+[hdwmy])$/).optional().describe(
    "all or <k>h|d|w|m|y, e.g. 7d",
  ),
  nodeIds: many.describe("Document ids or parent (folder) ids to restrict to"),
});

const ResultSchema = z.object({
  ref: z.string(),
  title: z.string(),
  uri: z.string(),
  id: z.string(),
  provider: z.string().nullable(),
  dataSourceId: z.string(),
  dataSourceViewId: z.string(),
  spaceId: z.string(),
  tags: z.array(z.string()),
  score: z.number(),
  snippet: z.string(),
  chunks: z.array(z.string()),
});

const NodeSearchBody = z.object({
  query: z.string().min(1).max(2048).optional().describe("Title search (case-insensitive)"),
  nodeIds: z.array(z.string().min(1).max(1024)).min(1).max(100).optional().describe(
    "Document ids to return as nodes (instead of query)",
  ),
  viewType: z.enum(["all", "document", "table"]).default("all"),
  spaceIds: z.array(z.string()).max(100).default([]).describe("Empty: every readable space"),
  includeDataSources: z.boolean().default(false),
  limit: z.number().int().min(1).max(100).default(25),
  searchSourceUrls: z.boolean().optional().describe("Accepted; source URLs are not searched"),
}).refine((b) => (b.query === undefined) !== (b.nodeIds === undefined), {
  path: ["query"],
  message: "give exactly one of query and nodeIds",
}).meta({
  description: "Give exactly one of query and nodeIds (as Dust's SearchRequestBodySchema).",
  oneOf: [
    { required: ["query"], properties: { nodeIds: false } },
    { required: ["nodeIds"], properties: { query: false } },
  ],
});

const ContentNodeSchema = z.object({
  expandable: z.boolean(),
  internalId: z.string(),
  lastUpdatedAt: z.number().nullable(),
  mimeType: z.string(),
  parentInternalId: z.string().nullable(),
  providerVisibility: z.null(),
  sourceUrl: z.string().nullable(),
  title: z.string(),
  type: z.enum(["document", "folder"]),
  parentsInternalIds: z.array(z.string()),
  parentTitle: z.null(),
  dataSource: DataSourceSchema,
  dataSourceViews: z.array(DataSourceViewSchema),
});

const bool = z.enum(["true", "false"]).transform((v) => v === "true");

/** `@dust-tt/client` `searchUnified` (GET search with `Accept: text/event-stream`). */
const UnifiedQuery = z.object({
  query: z.string().min(1).max(2048),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().regex(/^\d{1,7}$/, "not a cursor this server gave").optional(),
  viewType: z.enum(["all", "documents", "tables", "document", "table"]).default("all")
    .transform((v) => v === "documents" ? "document" : v === "tables" ? "table" : v),
  spaceIds: z.string().optional()
    .transform((s) => s?.split(",").map((x) => x.trim()).filter(Boolean) ?? []),
  includeDataSources: bool.default(true),
  searchSourceUrls: bool.optional(),
  includeTools: bool.optional(),
});

const FetchQuery = z.object({
  id: z.string().min(1).max(1024).describe("A search result id, or <dataSourceId>/<documentId>"),
  dataSourceId: z.string().optional(),
});

/** Mounted at `/api/v1/w/:wId`. */
export function searchRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/search`,
    summary: "Full-text search across every space the caller reads (MCP search tool's shape)",
    description:
      "This server's own JSON shape: ranked by bm25; `topK` counts chunks; one result per document with its matched chunks and a snippet. With `Accept: text/event-stream` it is Dust's unified search instead (`@dust-tt/client` searchUnified: query, limit, cursor, viewType, spaceIds, includeDataSources): one SSE frame `{knowledgeResults:{nodes, warningCode, nextPageCursor, resultsCount}}` of title matches, then the stream ends; no tool results.",
    tags: ["Search"],
    query: SearchQuery,
    response: z.object({ count: z.number(), results: z.array(ResultSchema) }),
    responseContentType: "text/event-stream",
    errors: [429, 503],
  });
  app.get("/search", async (c) => {
    if (/\btext\/event-stream\b/.test(c.req.header("Accept") ?? "")) {
      const q = parseQuery(c, UnifiedQuery);
      const offset = q.cursor ? Number(q.cursor) : 0;
      const page = await searchNodesPage(c.var.deps, getActor(c), { ...q, offset });
      const knowledgeResults = {
        nodes: page.nodes,
        warningCode: null,
        nextPageCursor: page.nextOffset === null ? null : String(page.nextOffset),
        resultsCount: page.nodes.length,
      };
      return new Response(`data: ${JSON.stringify({ knowledgeResults })}\n\n`, {
        headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" },
      });
    }
    const q = parseQuery(c, SearchQuery);
    return c.json(await searchWorkspace(c.var.deps, getActor(c), q));
  });

  documentRoute({
    method: "post",
    path: `${W}/search`,
    summary: "Find documents (and data sources) by title or id, as Dust's content nodes",
    description:
      "Dust's node search (`@dust-tt/client` searchNodes): case-insensitive title match, titles starting with the query first; no tables on this server.",
    tags: ["Search"],
    body: NodeSearchBody,
    response: z.object({
      nodes: z.array(ContentNodeSchema),
      warningCode: z.null(),
      resultsCount: z.number(),
    }),
    errors: [429, 503],
  });
  app.post("/search", async (c) => {
    const b = await parseJson(c, NodeSearchBody);
    return c.json(await searchNodes(c.var.deps, getActor(c), b));
  });

  documentRoute({
    method: "get",
    path: `${W}/fetch`,
    summary: "Full text and metadata of one document by search result id",
    tags: ["Search"],
    query: FetchQuery,
    response: z.object({
      id: z.string(),
      title: z.string(),
      text: z.string(),
      url: z.string(),
      metadata: z.record(z.string(), z.unknown()),
    }),
  });
  app.get("/fetch", async (c) => {
    const q = parseQuery(c, FetchQuery);
    return c.json(await fetchDocument(c.var.deps, getActor(c), q));
  });

  return app;
}
