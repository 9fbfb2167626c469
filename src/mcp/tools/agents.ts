/**
 * `list_agents` (dust.md §1.3): the agents the user can use, fuzzy-filtered by name, 25 per
 * page. Calls `listAgents` from the agents core, as the REST API does.
 * @module
 */
import * as z from "zod";
import { listAgents } from "../../core/agents.ts";
import { defineTool, type ToolDef } from "../tool_kit.ts";

/** The agents tool group. */
export const AGENT_TOOLS: ToolDef[] = [
  defineTool({
    name: "list_agents",
    title: "List agents",
    description:
      "List the agents available to the user in this workspace (25 per page). Optionally filter by a fuzzy match on the agent name. Pass the returned lastValue to get the next page.",
    input: z.object({
      name: z.string().max(256).optional().describe("Fuzzy filter on the agent name"),
      lastValue: z.string().max(256).optional().describe(
        "Cursor: the lastValue of the previous page (the id of its last agent)",
      ),
    }),
    write: false,
    run: async ({ deps, actor }, args) => await listAgents(deps, actor, args),
  }),
];
