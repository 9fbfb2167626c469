/**
 * Dust's node search (`POST /api/v1/w/{wId}/search`, `@dust-tt/client`'s `searchNodes`): find
 * documents (and, on request, data sources) by title or by id in every space the caller reads,
 * as Dust's `DataSourceContentNode`s. This is title search, not the ranked full-text search of
 * `search.ts` (the MCP `search` tool). This server has no tables, so `viewType: "table"` finds
 * nothing.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import {
  listSearchableDataSources,
  type SearchableDataSource,
  toDataSourceJSON,
  toDataSourceViewJSON,
} from "./data_sources.ts";
import type { DocumentHit } from "./node_query.ts";
import { searchOwnerOf } from "./search_worker.ts";

/** Dust's mime type of a data source node (`@dust-tt/client` `DATA_SOURCE_MIME_TYPE`). */
export const DATA_SOURCE_MIME_TYPE = "application/vnd.dust.datasource";

export interface NodeSearchInput {
  /** Title search (case-insensitive substring); exactly one of `query` and `nodeIds`. */
  query?: string;
  /** Document ids to fetch as nodes. */
  nodeIds?: string[];
  viewType: "all" | "document" | "table";
  /** Restrict to these spaces; empty = every space the caller reads. */
  spaceIds: string[];
  /** Also return the data sources whose name matches `query`, as expandable nodes. */
  includeDataSources: boolean;
  limit: number;
}

function owners(ds: SearchableDataSource) {
  const space = { sId: ds.spaceSId };
  return {
    dataSource: toDataSourceJSON(ds, space),
    dataSourceViews: [toDataSourceViewJSON(ds, space)],
  };
}

function documentNode(hit: DocumentHit, ds: SearchableDataSource) {
  return {
    expandable: false,
    internalId: hit.document_id,
    lastUpdatedAt: hit.timestamp,
    mimeType: hit.mime_type,
    parentInternalId: hit.parent_id,
    providerVisibility: null,
    sourceUrl: hit.source_url,
    title: hit.title ?? hit.document_id,
    type: "document" as const,
    parentsInternalIds: JSON.parse(hit.parents) as string[],
    parentTitle: null,
    ...owners(ds),
  };
}

function dataSourceNode(ds: SearchableDataSource) {
  return {
    expandable: true,
    internalId: ds.sId,
    lastUpdatedAt: ds.updatedAt,
    mimeType: DATA_SOURCE_MIME_TYPE,
    parentInternalId: null,
    providerVisibility: null,
    sourceUrl: null,
    title: ds.name,
    type: "folder" as const,
    parentsInternalIds: [],
    parentTitle: null,
    ...owners(ds),
  };
}

/** `POST /search` → `{ nodes, warningCode, resultsCount }` in Dust's shape. */
export async function searchNodes(deps: Deps, actor: Actor, input: NodeSearchInput) {
  const { nodes } = await searchNodesPage(deps, actor, { ...input, offset: 0 });
  return { nodes, warningCode: null, resultsCount: nodes.length };
}

/**
 * One page of the node search, for the unified (SSE) search's cursor: `nextOffset` is where
 * the next page starts, or null on the last page. Data source nodes come on the first page.
 */
export async function searchNodesPage(
  deps: Deps,
  actor: Actor,
  input: NodeSearchInput & { offset: number },
) {
  const sources = await listSearchableDataSources(deps, actor, input.spaceIds);
  const byId = new Map(sources.map((s) => [s.id, s]));
  const wantDocuments = input.viewType !== "table" && sources.length > 0;
  const nodes:
    (Awaited<ReturnType<typeof documentNode>> | Awaited<ReturnType<typeof dataSourceNode>>)[] = [];
  if (input.includeDataSources && input.query !== undefined && input.offset === 0) {
    const q = input.query.toLowerCase();
    // Leave room for at least one document, so a page is never data sources only.
    const room = wantDocuments ? input.limit - 1 : input.limit;
    for (const ds of sources) {
      if (nodes.length < room && ds.name.toLowerCase().includes(q)) nodes.push(dataSourceNode(ds));
    }
  }
  if (!wantDocuments) return { nodes, nextOffset: null };
  const limit = input.limit - nodes.length;
  const hits = await deps.searchWorkers.nodes({
    dataSourceIds: sources.map((s) => s.id),
    nodeIds: input.nodeIds ?? null,
    query: input.nodeIds ? null : input.query ?? "",
    limit,
    offset: input.offset,
  }, { owner: searchOwnerOf(actor) });
  for (const hit of hits) nodes.push(documentNode(hit, byId.get(hit.data_source_id)!));
  return { nodes, nextOffset: hits.length === limit ? input.offset + limit : null };
}
