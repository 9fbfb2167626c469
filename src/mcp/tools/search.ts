/**
 * `search` (dust.md §1.3) over the company data the user can read, and `fetch` (one
 * document by the id a search result carries) so ChatGPT's search + fetch pair works. Both
 * call the search core, the same the REST API uses.
 * @module
 */
import * as z from "zod";
import { fetchDocument, searchWorkspace, TOP_K_MAX } from "../../core/search.ts";
import { defineTool, type ToolDef } from "../tool_kit.ts";

const strings = (what: string) => z.array(z.string().max(256)).max(64).optional().describe(what);

/** The search tool group. */
export const SEARCH_TOOLS: ToolDef[] = [
  defineTool({
    name: "search",
    title: "Search company data",
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
    write: false,
    run: ({ deps, actor }, args) => searchWorkspace(deps, actor, args),
  }),
  defineTool({
    name: "fetch",
    title: "Fetch document",
    description:
      "Fetch the full text and metadata of one document by the id a search result returned.",
    input: z.object({
      id: z.string().min(1).max(1024).describe("The document id from a search result"),
    }),
    write: false,
    run: async ({ deps, actor }, args) => await fetchDocument(deps, actor, args),
  }),
];
