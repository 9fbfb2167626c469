/**
 * `list_agents` (dust.md §1.3): the agents the user can use, fuzzy-filtered by name, 25 per
 * page. Calls `listAgents` from the agents core, as the REST API does.
 * @module
 */
import * as z from "zod";
import { listAgents } from "../../core/agents.ts";
import { defineTool, type ToolDef } from "../tool_kit.ts";

const ListAgentsOutput = z.object({
  agents: z.array(z.object({
    id: z.string().describe("The agent's sId"),
    name: z.string().describe("The name to mention it by (agentName)"),
    description: z.string(),
    pictureUrl: z.string(),
    scope: z.string(),
  })),
  hasMore: z.boolean(),
  lastValue: z.string().nullable().describe("Cursor for the next page, when hasMore"),
});

/** The agents tool group. */
export const AGENT_TOOLS: ToolDef[] = [
  defineTool({
    name: "list_agents",
    title: "List agents",
    toolset: "agents",
    description:
      "List the agents available to the user in this workspace (25 per page). Optionally filter by a fuzzy match on the agent name. Pass the returned lastValue to get the next page.",
    input: z.object({
      name: z.string().max(256).optional().describe("Fuzzy filter on the agent name"),
      lastValue: z.string().max(256).optional().describe(
        "Cursor: the lastValue of the previous page (the id of its last agent)",
      ),
    }),
    output: ListAgentsOutput,
    write: false,
    run: async ({ deps, actor }, args) => await listAgents(deps, actor, args),
  }),
];
