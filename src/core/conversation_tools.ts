/**
 * Tools added to a conversation (`@dust-tt/client` `postConversationTools`,
 * `POST …/conversations/{cId}/tools` `{ action: add | delete, mcp_server_view_id }` →
 * `{ success }`): an MCP server view of a space the caller reads is enabled (or disabled) for
 * the conversation, and every agent run in it gets that server's tools besides the agent's
 * own. Dust serves this to its system key only; here whoever reads the conversation and may
 * write does (API keys included). `agent_configuration_id` is accepted and must name an agent
 * the caller reads; the tools apply to every agent of the conversation.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { canReadSpace, requireScope } from "./access.ts";
import { requireReadableConversation } from "./conversation_views.ts";
import { findSpaceById } from "./space_rows.ts";
import { getAgentConfiguration } from "./agents.ts";

export async function setConversationTool(
  deps: Deps,
  actor: Actor,
  input: {
    conversationId: string;
    action: "add" | "delete";
    mcpServerViewId: string;
    agentConfigurationId?: string;
  },
): Promise<{ success: true }> {
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  if (input.agentConfigurationId !== undefined) {
    await getAgentConfiguration(deps, actor, { agentId: input.agentConfigurationId });
  }
  const v = await deps.db.get(
    "SELECT id, space_id FROM mcp_server_views WHERE s_id = ? AND workspace_id = ?",
    input.mcpServerViewId,
    actor.workspace.id,
  ) as { id: number; space_id: number } | undefined;
  const space = v ? await findSpaceById(deps.db, actor.workspace.id, v.space_id) : null;
  if (!v || !space || !await canReadSpace(deps.db, actor, space)) {
    throw new AppError(404, "mcp_server_view_not_found", "MCP server view not found");
  }
  if (input.action === "add") {
    await deps.db.run(
      `INSERT INTO conversation_mcp_server_views (conversation_id, mcp_server_view_id, created_at)
       VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
      c.id,
      v.id,
      now(),
    );
  } else {
    await deps.db.run(
      "DELETE FROM conversation_mcp_server_views WHERE conversation_id = ? AND mcp_server_view_id = ?",
      c.id,
      v.id,
    );
  }
  return { success: true };
}

/** The internal servers (by name) of the views added to a conversation (agent runs). */
export async function listConversationToolServers(
  deps: Deps,
  conversationId: number,
): Promise<string[]> {
  const rows = await deps.db.all(
    `SELECT DISTINCT v.server_name FROM conversation_mcp_server_views cv
     JOIN mcp_server_views v ON v.id = cv.mcp_server_view_id
     WHERE cv.conversation_id = ? AND v.server_type = 'internal' ORDER BY v.server_name`,
    conversationId,
  ) as { server_name: string }[];
  return rows.map((r) => r.server_name);
}
