/**
 * Tool approval, the user side (Dust's routes, `@dust-tt/client` `getBlockedActions`,
 * `validateAction`, `answerUserQuestion`):
 *
 * - {@link listBlockedActions}: the calls of a conversation waiting for a decision, in Dust's
 *   `BlockedActionExecution` shape (plus `expiresAt`), for anyone who reads it;
 * - {@link validateAction}: the poster approves (`approved`), rejects (`rejected`) or always
 *   allows (`always_approved`: remembered per user and tool for `low` stakes) one call; when
 *   none of the message's calls waits any more, the run resumes on any instance;
 * - {@link answerUserQuestion}: Dust's answer to a tool's question. No tool of this server
 *   asks questions, so every existing action answers `action_not_blocked`.
 *
 * Who decides: the user who posted the message the agent answers (Dust's rule); a message an
 * API key posted is decided by the workspace's API keys (in Dust nobody can).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { requireScope } from "./access.ts";
import { requireReadableConversation } from "./conversation_views.ts";
import { actionStatus } from "./message_json.ts";
import {
  announceResume,
  APPROVALS_LOCK,
  findAgentMessageFacts,
  settleDecided,
} from "./tool_approvals.ts";
import type { Stake } from "./tool_stakes.ts";

/** Dust's `BlockedActionExecution`, as `GET …/actions/blocked` lists it. */
export interface BlockedAction {
  messageId: string;
  conversationId: string;
  actionId: string;
  inputs: Record<string, unknown>;
  stake: Stake;
  status: "blocked_validation_required";
  userId?: string;
  metadata: {
    toolName: string;
    mcpServerName: string;
    agentName: string;
    mcpServerId?: string;
    mcpServerDisplayName: string;
  };
  /** When the call stops waiting and is refused as timed out (epoch ms; this server's). */
  expiresAt: number;
}

/** Pending (not yet expired) approvals of a conversation, oldest first. */
export async function pendingApprovals(
  deps: Deps,
  conversation: { id: number; sId: string },
  at = now(),
): Promise<BlockedAction[]> {
  const rows = await deps.db.all(
    `SELECT t.stake, t.server_name, t.tool_name, t.expires_at, a.s_id AS action_s_id, a.params,
       a.mcp_server_id, m.s_id AS message_s_id, ac.name AS agent_name, am.agent_s_id,
       u.s_id AS poster_s_id
     FROM tool_approvals t JOIN agent_actions a ON a.id = t.action_id
     JOIN messages m ON m.id = t.agent_message_id
     JOIN agent_messages am ON am.message_id = m.id
     LEFT JOIN agent_configurations ac ON ac.id = am.agent_configuration_id
     LEFT JOIN user_messages um ON um.message_id = am.parent_message_id
     LEFT JOIN users u ON u.id = um.user_id
     WHERE t.conversation_id = ? AND t.state = 'pending' AND t.expires_at > ?
       AND am.status = 'created'
     ORDER BY t.created_at, t.action_id LIMIT 100`,
    conversation.id,
    at,
  ) as Record<string, never>[];
  return rows.map((r) => ({
    messageId: r.message_s_id,
    conversationId: conversation.sId,
    actionId: r.action_s_id,
    inputs: JSON.parse(r.params),
    stake: r.stake,
    status: "blocked_validation_required",
    ...(r.poster_s_id ? { userId: r.poster_s_id } : {}),
    metadata: {
      toolName: r.tool_name,
      mcpServerName: r.server_name,
      agentName: r.agent_name ?? r.agent_s_id,
      ...(r.mcp_server_id ? { mcpServerId: r.mcp_server_id } : {}),
      mcpServerDisplayName: r.server_name,
    },
    expiresAt: r.expires_at,
  }));
}

/** `GET …/conversations/{cId}/actions/blocked` → `{ blockedActions }`. */
export async function listBlockedActions(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string },
): Promise<{ blockedActions: BlockedAction[] }> {
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  return { blockedActions: await pendingApprovals(deps, c) };
}

export type ApprovalDecision = "approved" | "rejected" | "always_approved";

/** The agent message of a readable conversation and whether the actor is its poster. */
async function requirePostersMessage(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; messageId: string },
  refusal: string,
) {
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const m = await findAgentMessageFacts(deps, { messageSId: input.messageId });
  if (!m || m.conversationId !== c.id) {
    throw new AppError(404, "message_not_found", "Message not found.");
  }
  const poster = m.posterUserId === null
    ? actor.kind === "api_key"
    : actor.kind === "user" && actor.user.id === m.posterUserId;
  if (!poster) throw new AppError(403, "workspace_auth_error", refusal);
  return m;
}

/** An action of an agent message with its approval, or 404 `action_not_found`. */
async function requireAction(deps: Deps, messageId: number, actionSId: string) {
  const a = await deps.db.get(
    `SELECT a.id, a.status, t.state, t.stake, t.server_key, t.tool_name, t.expires_at
     FROM agent_actions a LEFT JOIN tool_approvals t ON t.action_id = a.id
     WHERE a.s_id = ? AND a.agent_message_id = ?`,
    actionSId,
    messageId,
  ) as {
    id: number;
    status: string;
    state: string | null;
    stake: string | null;
    server_key: string | null;
    tool_name: string | null;
    expires_at: number | null;
  } | undefined;
  if (!a) throw new AppError(404, "action_not_found", `Action not found: ${actionSId}`);
  return a;
}

/**
 * `POST …/messages/{mId}/validate-action` `{ actionId, approved }` → `{ success: true }`.
 * 400 `action_not_blocked` when the call is not waiting (decided, expired, never asked).
 */
export async function validateAction(
  deps: Deps,
  actor: Actor,
  input: {
    conversationId: string;
    messageId: string;
    actionId: string;
    approved: ApprovalDecision;
  },
): Promise<{ success: true }> {
  requireScope(actor, "write");
  const m = await requirePostersMessage(
    deps,
    actor,
    input,
    "User is not authorized to validate this action",
  );
  const a = await requireAction(deps, m.id, input.actionId);
  const t = now();
  // One lock for every decision (here and expiry): two calls of one message decided at once on
  // two connections must not both see the other still pending, and leave the run parked.
  const resume = await deps.db.lockedTx(APPROVALS_LOCK, async () => {
    const decided = await deps.db.get(
      `UPDATE tool_approvals SET state = ?, always = ?, decided_by_user_id = ?, decided_at = ?
       WHERE action_id = ? AND state = 'pending' AND expires_at > ? AND EXISTS (SELECT 1 FROM
         agent_messages am WHERE am.message_id = tool_approvals.agent_message_id
         AND am.status = 'created')
       RETURNING action_id`,
      input.approved === "rejected" ? "rejected" : "approved",
      input.approved === "always_approved" ? 1 : 0,
      actor.kind === "user" ? actor.user.id : null,
      t,
      a.id,
      t,
    );
    if (!decided) {
      const status = a.state === "pending" && (a.expires_at ?? 0) <= t
        ? "denied (the approval expired)"
        : actionStatus(a.status, a.state);
      throw new AppError(400, "action_not_blocked", `Action is not blocked: ${status}`);
    }
    if (input.approved === "always_approved" && a.stake === "low" && m.posterUserId !== null) {
      await deps.db.run(
        `INSERT INTO tool_always_approved (workspace_id, user_id, server_key, tool_name, created_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        m.workspaceId,
        m.posterUserId,
        a.server_key,
        a.tool_name,
        t,
      );
    }
    const ready = await settleDecided(deps, [{
      messageId: m.id,
      conversationId: m.conversationId,
      actionSId: input.actionId,
    }]);
    return ready.includes(m.id);
  });
  if (resume) await announceResume(deps, m.id);
  return { success: true };
}

/** Dust's answer to a tool's multiple-choice question. */
export interface UserQuestionAnswer {
  selectedOptions: number[];
  customResponse?: string;
}

/**
 * `POST …/messages/{mId}/answer-question` `{ actionId, answer }`: Dust's checks and errors. No
 * tool of this server asks the user a question, so an existing action is never waiting for
 * an answer: 400 `action_not_blocked`.
 */
export async function answerUserQuestion(
  deps: Deps,
  actor: Actor,
  input: {
    conversationId: string;
    messageId: string;
    actionId: string;
    answer: UserQuestionAnswer;
  },
): Promise<{ success: true }> {
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const m = await findAgentMessageFacts(deps, { messageSId: input.messageId });
  if (!m || m.conversationId !== c.id) {
    throw new AppError(404, "message_not_found", "Message not found.");
  }
  // Dust: anyone may answer when the message was posted without a user.
  if (m.posterUserId !== null && (actor.kind !== "user" || actor.user.id !== m.posterUserId)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "User is not authorized to answer this question",
    );
  }
  const a = await requireAction(deps, m.id, input.actionId);
  throw new AppError(
    400,
    "action_not_blocked",
    `Action is not blocked for user question: ${actionStatus(a.status, a.state)}`,
  );
}
