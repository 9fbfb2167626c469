/**
 * The answer to a posted message, as its poster follows it (MCP tasks): the conversation it
 * was posted in, the agent message answering it with its status, text or error, and the
 * agent's progress (its steps: tool calls so far, the latest one). Everything is read from the
 * message rows, so it survives restarts and is the same on every instance.
 *
 * Only the poster follows a message this way: another user, or a message the caller may no
 * longer read, is "not found" (nothing is revealed).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { type ConversationRow, requireReadableConversation } from "./conversation_views.ts";
import { findSpaceById } from "./space_rows.ts";
import type { AgentMessageStatus } from "./agent_messages.ts";

/** The agent message answering a posted message, and how far it got. */
export interface AgentAnswerState {
  messageSId: string;
  agentSId: string;
  agentName: string;
  status: AgentMessageStatus;
  content: string | null;
  error: { code: string; message: string } | null;
  createdAt: number;
  /** When the message ended (null while it runs). */
  completedAt: number | null;
  /** Tool calls the agent made so far. */
  steps: number;
  /** The latest tool call: its name and status. */
  lastAction: { name: string; status: string; updatedAt: number } | null;
}

/** A posted message and its answer, if an agent was mentioned. */
export interface PostedMessageState {
  conversation: ConversationRow;
  /** The conversation's Pod, when it lives in one. */
  pod: { sId: string; name: string } | null;
  userMessageSId: string;
  postedAt: number;
  answer: AgentAnswerState | null;
}

function notFound(): AppError {
  return new AppError(404, "message_not_found", "Message not found.");
}

/** The answer to a message the caller posted (see the module note for who may read it). */
export async function getPostedMessageState(
  deps: Deps,
  actor: Actor,
  input: { messageId: string },
): Promise<PostedMessageState> {
  if (actor.kind !== "user") throw notFound();
  const m = await deps.db.get(
    `SELECT m.id, m.s_id, m.created_at, um.user_id, c.s_id AS c_s_id FROM messages m
     JOIN user_messages um ON um.message_id = m.id JOIN conversations c ON c.id = m.conversation_id
     WHERE m.s_id = ? AND m.workspace_id = ?`,
    input.messageId,
    actor.workspace.id,
  ) as
    | { id: number; s_id: string; created_at: number; user_id: number | null; c_s_id: string }
    | undefined;
  if (!m || m.user_id !== actor.user.id) throw notFound();
  let conversation: ConversationRow;
  try {
    conversation = await requireReadableConversation(deps, actor, m.c_s_id);
  } catch {
    throw notFound();
  }
  const space = conversation.spaceId === null
    ? null
    : await findSpaceById(deps.db, conversation.workspaceId, conversation.spaceId);
  return {
    conversation,
    pod: space?.kind === "project" ? { sId: space.sId, name: space.name } : null,
    userMessageSId: m.s_id,
    postedAt: m.created_at,
    answer: await findAnswer(deps, m.id),
  };
}

/** The latest agent message answering the message with row id `userMessageId`, or null. */
async function findAnswer(deps: Deps, userMessageId: number): Promise<AgentAnswerState | null> {
  const a = await deps.db.get(
    `SELECT m.id, m.s_id, m.created_at, am.agent_s_id, am.status, am.content, am.error_code,
       am.error_message, am.completed_at, ac.name AS agent_name
     FROM agent_messages am JOIN messages m ON m.id = am.message_id
     LEFT JOIN agent_configurations ac ON ac.id = am.agent_configuration_id
     WHERE am.parent_message_id = ? ORDER BY m.rank DESC, m.version DESC LIMIT 1`,
    userMessageId,
  ) as Record<string, never> | undefined;
  if (!a) return null;
  const steps = (await deps.db.get(
    "SELECT count(*) AS n FROM agent_actions WHERE agent_message_id = ?",
    a.id,
  ) as { n: number }).n;
  const last = await deps.db.get(
    `SELECT function_call_name, status, updated_at FROM agent_actions WHERE agent_message_id = ?
     ORDER BY step DESC, id DESC LIMIT 1`,
    a.id,
  ) as { function_call_name: string; status: string; updated_at: number } | undefined;
  return {
    messageSId: a.s_id,
    agentSId: a.agent_s_id,
    agentName: a.agent_name ?? a.agent_s_id,
    status: a.status,
    content: a.content,
    error: a.error_code ? { code: a.error_code, message: a.error_message ?? "" } : null,
    createdAt: a.created_at,
    completedAt: a.completed_at,
    steps,
    lastAction: last
      ? { name: last.function_call_name, status: last.status, updatedAt: last.updated_at }
      : null,
  };
}
