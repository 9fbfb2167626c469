/**
 * `search` (dust.md §1.3) over the company data the user can read, and `fetch` (one
 * document by the id a search result carries) so ChatGPT's search + fetch pair works. Both
 * call the search core, the same the REST API uses; each document they name comes with a
 * `resource_link` to its `dust://` resource.
 * @module
 */
import * as z from "zod";
import { fetchDocument, searchWorkspace, TOP_K_MAX } from "../../core/search.ts";
import { defineTool, type ResourceLink, type ToolDef } from "../tool_kit.ts";
import { documentUri } from "../resource_uris.ts";

const strings = (what: string) => z.array(z.string().max(256)).max(64).optional().describe(what);

const SearchOutput = z.object({
  count: z.number().int(),
  results: z.array(z.object({
    ref: z.string().describe("Short citation reference"),
    title: z.string(),
    uri: z.string(),
    url: z.string(),
    id: z.string().describe("The document id, for fetch"),
    provider: z.null(),
    dataSourceId: z.string(),
    dataSourceViewId: z.string(),
    spaceId: z.string(),
    tags: z.array(z.string()),
    score: z.number(),
    snippet: z.string(),
    chunks: z.array(z.string()),
  })),
});

const FetchOutput = z.object({
  id: z.string(),
  title: z.string(),
  text: z.string(),
  url: z.string(),
  metadata: z.object({
    dataSourceId: z.string(),
    dataSourceViewId: z.string(),
    spaceId: z.string(),
    tags: z.array(z.string()),
    timestamp: z.number(),
    sourceUrl: z.string().nullable(),
    mimeType: z.string(),
  }),
});

function documentLink(
  wId: string,
  d: { dataSourceViewId: string; id: string; title: string },
  mimeType?: string,
): ResourceLink {
  return {
    type: "resource_link",
    uri: documentUri(wId, d.dataSourceViewId, d.id),
    name: d.id,
    title: d.title,
    ...(mimeType ? { mimeType } : {}),
  };
}

/** The search tool group. */
export const SEARCH_TOOLS: ToolDef[] = [
  defineTool({
    name: "search",
    title: "Search company data",
    toolset: "search",
    description:
      "Search the company data of the spaces the user can read. Returns the matching documents with their matching chunks; use fetch with a result's id for the full text.",
    input: z.object({
      query: z.string().min(1).max(2048).describe("What to search for"),
      relativeTimeFrame: z.string().max(16).optional().describe(
        'Only documents updated within this window: "all" or <k>h|d|w|m|y such as "7d"',
      ),
      tagsIn: strings("Only documents carrying one of these tags"),
      tagsNot: strings("Exclude documents carrying any of these tags"),
      nodeIds: strings("Restrict the search to these documents or folders"),
      topK: z.number().int().min(1).max(TOP_K_MAX).optional().describe(
        `Number of chunks to return (1-${TOP_K_MAX}, default 10)`,
      ),
    }),
    output: SearchOutput,
    write: false,
    run: ({ deps, actor }, args) => searchWorkspace(deps, actor, args),
    links: (r, _args, { actor }) => r.results.map((d) => documentLink(actor.workspace.sId, d)),
  }),
  defineTool({
    name: "fetch",
    title: "Fetch document",
    toolset: "search",
    description:
      "Fetch the full text and metadata of one document by the id a search result returned.",
    input: z.object({
      id: z.string().min(1).max(1024).describe("The document id from a search result"),
    }),
    output: FetchOutput,
    write: false,
    run: async ({ deps, actor }, args) => await fetchDocument(deps, actor, args),
    links: (d, _args, { actor }) => [
      documentLink(
        actor.workspace.sId,
        { ...d, dataSourceViewId: d.metadata.dataSourceViewId },
        d.metadata.mimeType,
      ),
    ],
  }),
];
