/**
 * Every `/mcp` tool, in Dust's registration order. Its own module so that the route's fast
 * path reaches the tools without the SDK server (src/mcp/server.ts, loaded on first use).
 * @module
 */
import type { ToolDef } from "./tool_kit.ts";
import { IDENTITY_TOOLS } from "./tools/identity.ts";
import { AGENT_TOOLS } from "./tools/agents.ts";
import { CONVERSATION_TOOLS } from "./tools/conversations.ts";
import { POD_TOOLS } from "./tools/pods.ts";
import { SEARCH_TOOLS } from "./tools/search.ts";
import { FILE_TOOLS } from "./tools/files.ts";

/** Tool groups in Dust's registration order (identity, agents, conversations, pods, search, files). */
export const TOOL_GROUPS: ToolDef[][] = [
  IDENTITY_TOOLS,
  AGENT_TOOLS,
  CONVERSATION_TOOLS,
  POD_TOOLS,
  SEARCH_TOOLS,
  FILE_TOOLS,
];

/** Every tool, in registration order. */
export const ALL_TOOLS: readonly ToolDef[] = TOOL_GROUPS.flat();
