/**
 * Feedback on agent messages (`@dust-tt/client` `getConversationFeedback`, `postFeedback`,
 * `deleteFeedback`): one thumb up or down per user and agent message, with an optional
 * comment. Feedback belongs to a user: an API key gets Dust's 401 `not_authenticated`.
 * Whoever reads the conversation may give feedback on its agent messages and reads their own.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor, UserActor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { requireScope } from "./access.ts";
import { type ConversationRow, requireReadableConversation } from "./conversation_views.ts";

/** Dust's `AgentMessageFeedback` JSON. */
export interface FeedbackJson {
  messageId: string;
  agentMessageId: number;
  userId: number;
  thumbDirection: "up" | "down";
  content: string | null;
  createdAt: number;
  agentConfigurationId: string;
  agentConfigurationVersion: number;
  isConversationShared: boolean;
}

/** Longest feedback comment kept. */
export const FEEDBACK_CONTENT_MAX = 10_000;

function requireFeedbackUser(actor: Actor): UserActor {
  if (actor.kind !== "user") {
    throw new AppError(
      401,
      "not_authenticated",
      "The user does not have an active session or is not authenticated.",
    );
  }
  return actor;
}

/** `GET …/conversations/{cId}/feedbacks` → the caller's feedback in the conversation. */
export async function listConversationFeedbacks(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string },
): Promise<{ feedbacks: FeedbackJson[] }> {
  const user = requireFeedbackUser(actor);
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const rows = await deps.db.all(
    `SELECT f.agent_message_id, f.user_id, f.thumb_direction, f.content, f.created_at,
       f.is_conversation_shared, m.s_id, am.agent_s_id, am.agent_version
     FROM agent_message_feedbacks f JOIN messages m ON m.id = f.agent_message_id
     JOIN agent_messages am ON am.message_id = m.id
     WHERE f.conversation_id = ? AND f.user_id = ? ORDER BY m.rank, m.version LIMIT 1000`,
    c.id,
    user.user.id,
  ) as Record<string, never>[];
  return {
    feedbacks: rows.map((r) => ({
      messageId: r.s_id,
      agentMessageId: r.agent_message_id,
      userId: r.user_id,
      thumbDirection: r.thumb_direction,
      content: r.content,
      createdAt: r.created_at,
      agentConfigurationId: r.agent_s_id,
      agentConfigurationVersion: r.agent_version,
      isConversationShared: r.is_conversation_shared === 1,
    })),
  };
}

/** An agent message of `c` by sId (Dust's 400 when it is not one). */
async function requireAgentMessageIn(deps: Deps, c: ConversationRow, messageSId: string) {
  const m = await deps.db.get(
    `SELECT m.id FROM messages m JOIN agent_messages am ON am.message_id = m.id
     WHERE m.s_id = ? AND m.conversation_id = ?`,
    messageSId,
    c.id,
  ) as { id: number } | undefined;
  if (!m) throw invalid("The message you're trying to give feedback to does not exist.");
  return m;
}

/** `POST …/messages/{mId}/feedbacks` → `{ success: true }` (creates or replaces). */
export async function postFeedback(
  deps: Deps,
  actor: Actor,
  input: {
    conversationId: string;
    messageId: string;
    thumbDirection: string;
    feedbackContent?: string | null;
    isConversationShared?: boolean;
  },
): Promise<{ success: true }> {
  const user = requireFeedbackUser(actor);
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  if (input.thumbDirection !== "up" && input.thumbDirection !== "down") {
    throw invalid('thumbDirection: must be "up" or "down"');
  }
  const m = await requireAgentMessageIn(deps, c, input.messageId);
  const t = now();
  await deps.db.run(
    `INSERT INTO agent_message_feedbacks (workspace_id, conversation_id, agent_message_id, user_id,
       thumb_direction, content, is_conversation_shared, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (agent_message_id, user_id) DO UPDATE SET
       thumb_direction = excluded.thumb_direction, content = excluded.content,
       is_conversation_shared = excluded.is_conversation_shared, updated_at = excluded.updated_at`,
    c.workspaceId,
    c.id,
    m.id,
    user.user.id,
    input.thumbDirection,
    input.feedbackContent || null,
    input.isConversationShared ? 1 : 0,
    t,
    t,
  );
  return { success: true };
}

/** `DELETE …/messages/{mId}/feedbacks` → `{ success: true }`; Dust's 400 when there is none. */
export async function deleteFeedback(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; messageId: string },
): Promise<{ success: true }> {
  const user = requireFeedbackUser(actor);
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const m = await requireAgentMessageIn(deps, c, input.messageId);
  const r = await deps.db.run(
    "DELETE FROM agent_message_feedbacks WHERE agent_message_id = ? AND user_id = ?",
    m.id,
    user.user.id,
  );
  if (r.changes === 0) {
    throw invalid("The message you're trying to give feedback to does not exist.");
  }
  return { success: true };
}
