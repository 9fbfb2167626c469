/**
 * The queries the agent runner needs that are not one agent message's business: which agent
 * messages are still `created` and not parked (to fail them after a crash or restart), and
 * the run-time identity of the message's poster.
 * @module
 */
import type { Deps } from "../deps.ts";

/** A `created` agent message, as the runner re-reads it. */
export interface UnfinishedAgentMessage {
  messageSId: string;
  agentSId: string;
  conversationSId: string;
  workspaceId: number;
  workspaceSId: string;
}

/**
 * Agent messages still `created` (oldest first, bounded by `limit`), except those parked on
 * tool approvals (a checkpoint): nothing runs them, they wait in the database and resume
 * after a restart (tool_approvals.ts).
 */
export async function listUnfinishedAgentMessages(
  deps: Deps,
  limit = 1000,
): Promise<UnfinishedAgentMessage[]> {
  const rows = await deps.db.all(
    `SELECT m.s_id, am.agent_s_id, c.s_id AS c_s_id, w.id AS w_id, w.s_id AS w_s_id
     FROM agent_messages am JOIN messages m ON m.id = am.message_id
     JOIN conversations c ON c.id = m.conversation_id JOIN workspaces w ON w.id = m.workspace_id
     WHERE am.status = 'created' AND NOT EXISTS (SELECT 1 FROM agent_run_checkpoints k
       WHERE k.agent_message_id = am.message_id)
     ORDER BY m.id LIMIT ?`,
    limit,
  ) as {
    s_id: string;
    agent_s_id: string;
    c_s_id: string;
    w_id: number;
    w_s_id: string;
  }[];
  return rows.map((r) => ({
    messageSId: r.s_id,
    agentSId: r.agent_s_id,
    conversationSId: r.c_s_id,
    workspaceId: r.w_id,
    workspaceSId: r.w_s_id,
  }));
}

/** The sId of a user by row id (the poster of a message), or null when gone. */
export async function findUserSId(deps: Deps, userId: number): Promise<string | null> {
  const r = await deps.db.get("SELECT s_id FROM users WHERE id = ?", userId) as
    | { s_id: string }
    | undefined;
  return r?.s_id ?? null;
}

/** The sId of a space by row id (a conversation's Pod), when it is a Pod. */
export async function findPodSId(deps: Deps, spaceId: number | null): Promise<string | null> {
  if (spaceId === null) return null;
  const r = await deps.db.get(
    "SELECT s_id FROM spaces WHERE id = ? AND kind = 'project'",
    spaceId,
  ) as { s_id: string } | undefined;
  return r?.s_id ?? null;
}
