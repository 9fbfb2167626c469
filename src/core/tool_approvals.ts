/**
 * Tool approval, the run side: a run whose step calls a tool that must ask (tool_stakes.ts)
 * PARKS instead of waiting in memory. In one transaction it records a pending approval per
 * such call (`tool_approvals`, expiring after `--tool-approval-timeout-seconds`) and where the
 * run stands (`agent_run_checkpoints`: the model messages so far and the step's calls), and
 * sets the poster's `actionRequired`; then it publishes Dust's `tool_approve_execution`
 * events and ends. The agent message stays `created`.
 *
 * When the last pending approval of the message is decided (validate-action, or expiry by
 * {@link expireDueApprovals}), the message is announced again on the agent-message channel
 * with `resume: true`; whichever instance runs it claims the checkpoint
 * ({@link claimParkedRun}, a DELETE … RETURNING: one claimant) and goes on from the parked
 * step. Everything lives in the database and travels on the event bus, so a parked message
 * survives a restart and is resumed by any instance ({@link resumeDecidedRuns} at start).
 * @module
 */
import type { Deps } from "../deps.ts";
import { now } from "../db/db.ts";
import { mapSeries } from "../util/async.ts";
import { insertEvents, messageStream, publishEvents } from "./conversation_events.ts";
import { AGENT_MESSAGE_CREATED_CHANNEL, type AgentMessageCreated } from "./agent_messages.ts";
import { leaseAgentRunHere } from "./agent_runs.ts";
import type { Stake, ToolIdentity } from "./tool_stakes.ts";

/** A tool call of the parked step, as the resumed run replays it. */
export interface ParkedCall {
  callId: string;
  /** The name the model called (`<server>__<tool>` for client-side tools). */
  name: string;
  args: Record<string, unknown>;
  parseError: string | null;
  /** The action recorded for it (`act_…`). */
  actionSId: string;
}

/** A call that must ask before it runs. */
export interface ApprovalRequest {
  actionSId: string;
  tool: ToolIdentity;
  inputs: Record<string, unknown>;
  mcpServerId: string | null;
}

export interface ParkInput {
  messageSId: string;
  agentSId: string;
  agentName: string;
  step: number;
  content: string;
  /** The model messages so far, the step's assistant turn included. */
  chat: unknown[];
  calls: ParkedCall[];
  approvals: ApprovalRequest[];
}

/** What became of a call's approval when the run resumes (null: it never asked). */
export type Decision = "approved" | "rejected" | "expired" | "cancelled" | null;

export interface ParkedRun {
  step: number;
  content: string;
  chat: unknown[];
  calls: (ParkedCall & { decision: Decision })[];
}

/** Whether a call of `tool` must ask the poster before it runs. */
export async function needsApproval(
  deps: Deps,
  input: { workspaceId: number; posterUserId: number | null; skip: boolean; tool: ToolIdentity },
): Promise<boolean> {
  if (input.skip || input.tool.stake === "never_ask") return false;
  if (input.tool.stake !== "low" || input.posterUserId === null) return true;
  const always = await deps.db.get(
    `SELECT 1 FROM tool_always_approved WHERE workspace_id = ? AND user_id = ? AND server_key = ?
     AND tool_name = ?`,
    input.workspaceId,
    input.posterUserId,
    input.tool.serverKey,
    input.tool.toolName,
  );
  return !always;
}

/** The stake as stored (`never_ask` never is: such calls do not ask). */
function storedStake(s: Stake): "low" | "medium" | "high" {
  return s === "never_ask" ? "low" : s;
}

interface MessageFacts {
  id: number;
  workspaceId: number;
  workspaceSId: string;
  conversationId: number;
  conversationSId: string;
  agentSId: string;
  status: string;
  posterUserId: number | null;
  posterSId: string | null;
  skip: boolean;
  /** The grant that launched the run (agent_messages.grant_id), null for other credentials. */
  grantId: number | null;
}

/** An agent message with its conversation and the poster of its user message. */
export async function findAgentMessageFacts(
  deps: Deps,
  by: { messageSId: string } | { messageId: number },
): Promise<MessageFacts | null> {
  const where = "messageSId" in by ? "m.s_id = ?" : "m.id = ?";
  const r = await deps.db.get(
    `SELECT m.id, m.workspace_id, w.s_id AS w_s_id, m.conversation_id, c.s_id AS c_s_id,
       am.agent_s_id, am.status, am.skip_tools_validation, am.grant_id, um.user_id AS poster_id,
       u.s_id AS poster_s_id
     FROM messages m JOIN agent_messages am ON am.message_id = m.id
     JOIN conversations c ON c.id = m.conversation_id JOIN workspaces w ON w.id = m.workspace_id
     LEFT JOIN user_messages um ON um.message_id = am.parent_message_id
     LEFT JOIN users u ON u.id = um.user_id
     WHERE ${where}`,
    "messageSId" in by ? by.messageSId : by.messageId,
  ) as Record<string, never> | undefined;
  if (!r) return null;
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    workspaceSId: r.w_s_id,
    conversationId: r.conversation_id,
    conversationSId: r.c_s_id,
    agentSId: r.agent_s_id,
    status: r.status,
    posterUserId: r.poster_id ?? null,
    posterSId: r.poster_s_id ?? null,
    skip: r.skip_tools_validation === 1,
    grantId: r.grant_id ?? null,
  };
}

/** Dust's `tool_approve_execution` event, and the older `mcp_approve_execution` twin. */
function approvalEvents(
  m: MessageFacts,
  input: ParkInput,
  a: ApprovalRequest,
  last: boolean,
  t: number,
): Record<string, unknown>[] {
  const common = {
    created: t,
    configurationId: input.agentSId,
    messageId: input.messageSId,
    conversationId: m.conversationSId,
    actionId: a.actionSId,
    stake: a.tool.stake,
  };
  return [{
    type: "tool_approve_execution",
    ...common,
    inputs: a.inputs,
    ...(m.posterSId ? { userId: m.posterSId } : {}),
    metadata: {
      toolName: a.tool.toolName,
      mcpServerName: a.tool.serverName,
      agentName: input.agentName,
      ...(a.mcpServerId ? { mcpServerId: a.mcpServerId } : {}),
      mcpServerDisplayName: a.tool.serverName,
    },
    isLastBlockingEventForStep: last,
  }, {
    // The shape `@dust-tt/client`'s high-level `agents.streamMessage` still maps.
    type: "mcp_approve_execution",
    ...common,
    toolName: a.tool.toolName,
    serverName: a.tool.serverName,
    input: a.inputs,
    description: `${input.agentName} wants to run ${a.tool.toolName} (${a.tool.serverName}).`,
  }];
}

/**
 * Park a run on its step's approvals (one transaction), then publish the approval requests.
 * Returns false when the message is no longer `created` (cancelled meanwhile): nothing parked.
 */
export async function parkAgentRun(deps: Deps, input: ParkInput): Promise<boolean> {
  const m = await findAgentMessageFacts(deps, { messageSId: input.messageSId });
  if (!m) return false;
  const ttlMs = deps.config.toolApprovalTimeoutSeconds * 1000;
  const stored = await deps.db.tx(async () => {
    const st = await deps.db.get(
      "SELECT status FROM agent_messages WHERE message_id = ?",
      m.id,
    ) as { status: string };
    if (st.status !== "created") return null;
    const t = now();
    for (const a of input.approvals) {
      await deps.db.run(
        `INSERT INTO tool_approvals (action_id, workspace_id, conversation_id, agent_message_id,
           stake, server_key, server_name, tool_name, state, expires_at, created_at)
         SELECT id, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ? FROM agent_actions
         WHERE s_id = ? AND agent_message_id = ?`,
        m.workspaceId,
        m.conversationId,
        m.id,
        storedStake(a.tool.stake),
        a.tool.serverKey,
        a.tool.serverName,
        a.tool.toolName,
        t + ttlMs,
        t,
        a.actionSId,
        m.id,
      );
    }
    await deps.db.run(
      `INSERT INTO agent_run_checkpoints (agent_message_id, step, content, chat, calls, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
      m.id,
      input.step,
      input.content,
      JSON.stringify(input.chat),
      JSON.stringify(input.calls),
      t,
    );
    // Parked, the message has no run: whichever instance takes the resume leases it anew
    // (resumeParkedRun), possibly before this run has quite finished here.
    await deps.db.run("DELETE FROM agent_runs WHERE message_id = ?", m.id);
    if (m.posterUserId !== null) {
      await deps.db.run(
        `UPDATE conversation_participants SET action_required = 1
         WHERE conversation_id = ? AND user_id = ?`,
        m.conversationId,
        m.posterUserId,
      );
    }
    const stream = messageStream(input.messageSId);
    const events = input.approvals.flatMap((a, i) =>
      approvalEvents(m, input, a, i === input.approvals.length - 1, t)
    ).map((data) => ({ stream, data }));
    return await insertEvents(deps.db, events);
  });
  if (!stored) return false;
  await publishEvents(deps, stored);
  return true;
}

/**
 * Claim a parked run to resume it: only when none of its approvals is still pending and the
 * message is still `created`; the checkpoint is deleted by the claim (one claimant wins).
 * A cancelled message's checkpoint is dropped and null returned.
 */
export async function claimParkedRun(deps: Deps, messageSId: string): Promise<ParkedRun | null> {
  return await deps.db.tx(async () => {
    const m = await deps.db.get(
      `SELECT m.id, am.status FROM messages m JOIN agent_messages am ON am.message_id = m.id
       WHERE m.s_id = ?`,
      messageSId,
    ) as { id: number; status: string } | undefined;
    if (!m) return null;
    const pending = await deps.db.get(
      "SELECT 1 FROM tool_approvals WHERE agent_message_id = ? AND state = 'pending'",
      m.id,
    );
    if (pending && m.status === "created") return null;
    const k = await deps.db.get(
      "DELETE FROM agent_run_checkpoints WHERE agent_message_id = ? RETURNING step, content, chat, calls",
      m.id,
    ) as { step: number; content: string; chat: string; calls: string } | undefined;
    if (!k || m.status !== "created") return null;
    const states = await deps.db.all(
      `SELECT a.s_id, t.state FROM agent_actions a JOIN tool_approvals t ON t.action_id = a.id
       WHERE a.agent_message_id = ?`,
      m.id,
    ) as { s_id: string; state: Exclude<Decision, null> }[];
    const decisions = new Map(states.map((s) => [s.s_id, s.state]));
    const calls = JSON.parse(k.calls) as ParkedCall[];
    return {
      step: k.step,
      content: k.content,
      chat: JSON.parse(k.chat),
      calls: calls.map((c) => ({ ...c, decision: decisions.get(c.actionSId) ?? null })),
    };
  });
}

/** Announce a parked message whose approvals are all decided: a runner resumes it. */
export async function announceResume(deps: Deps, messageId: number): Promise<void> {
  const m = await findAgentMessageFacts(deps, { messageId });
  if (!m || m.status !== "created") return;
  const job: AgentMessageCreated = {
    workspaceId: m.workspaceId,
    workspaceSId: m.workspaceSId,
    conversationSId: m.conversationSId,
    messageSId: (await deps.db.get("SELECT s_id FROM messages WHERE id = ?", m.id) as {
      s_id: string;
    }).s_id,
    agentSId: m.agentSId,
    userId: m.posterUserId,
    grantId: m.grantId,
    resume: true,
  };
  // The instance that takes the lease runs it (any instance may announce: a decision, the
  // expiry sweeper, a start); the others leave it.
  if (!(await leaseAgentRunHere(deps, job.messageSId))) return;
  deps.events.publishLocal(AGENT_MESSAGE_CREATED_CHANNEL, job);
}

/**
 * After approvals of `messageIds` were decided (inside the caller's transaction): drop their
 * requests from the message streams, clear `actionRequired` in conversations where nothing is
 * pending any more, and return the messages that have no pending approval left.
 */
export async function settleDecided(
  deps: Deps,
  decided: { messageId: number; conversationId: number; actionSId: string }[],
): Promise<number[]> {
  for (const d of decided) {
    const sId = (await deps.db.get("SELECT s_id FROM messages WHERE id = ?", d.messageId) as {
      s_id: string;
    }).s_id;
    await deps.db.run(
      `DELETE FROM stream_events WHERE stream = ?
       AND type IN ('tool_approve_execution', 'mcp_approve_execution') AND payload LIKE ? ESCAPE '!'`,
      messageStream(sId),
      `%"actionId":"${d.actionSId.replace(/[!%_]/g, "!$&")}"%`,
    );
  }
  const conversations = [...new Set(decided.map((d) => d.conversationId))];
  for (const c of conversations) {
    await deps.db.run(
      `UPDATE conversation_participants SET action_required = 0 WHERE conversation_id = ?
       AND NOT EXISTS (SELECT 1 FROM tool_approvals t WHERE t.conversation_id = ?
         AND t.state = 'pending')`,
      c,
      c,
    );
  }
  const messages = [...new Set(decided.map((d) => d.messageId))];
  const ready = await mapSeries(messages, async (id) =>
    await deps.db.get(
        "SELECT 1 FROM tool_approvals WHERE agent_message_id = ? AND state = 'pending'",
        id,
      )
      ? null
      : id);
  return ready.filter((id): id is number => id !== null);
}

/** The lock every decision takes (tool_validation.ts and expiry). */
export const APPROVALS_LOCK = "tool_approvals";

/** Most approvals one sweep expires (the rest wait for the next sweep). */
const EXPIRE_BATCH = 500;

/** Expire pending approvals past their deadline; resume the messages they held. */
export async function expireDueApprovals(deps: Deps, at = now()): Promise<number> {
  const due = await deps.db.get(
    "SELECT 1 FROM tool_approvals WHERE state = 'pending' AND expires_at <= ? LIMIT 1",
    at,
  );
  if (!due) return 0;
  const { count, ready } = await deps.db.lockedTx(APPROVALS_LOCK, async () => {
    const rows = await deps.db.all(
      `UPDATE tool_approvals SET state = 'expired', decided_at = ?
       WHERE action_id IN (SELECT action_id FROM tool_approvals
         WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?)
       RETURNING action_id, agent_message_id, conversation_id`,
      at,
      at,
      EXPIRE_BATCH,
    ) as { action_id: number; agent_message_id: number; conversation_id: number }[];
    if (rows.length === 0) return { count: 0, ready: [] as number[] };
    const decided = await mapSeries(rows, async (r) => ({
      messageId: r.agent_message_id,
      conversationId: r.conversation_id,
      actionSId: (await deps.db.get("SELECT s_id FROM agent_actions WHERE id = ?", r.action_id) as {
        s_id: string;
      }).s_id,
    }));
    return { count: rows.length, ready: await settleDecided(deps, decided) };
  });
  for (const id of ready) await announceResume(deps, id);
  return count;
}

/**
 * At start: parked messages whose approvals were all decided while no run took them (a crash
 * between a decision and the resume) are announced again.
 */
export async function resumeDecidedRuns(deps: Deps, limit = 1000): Promise<number> {
  const rows = await deps.db.all(
    `SELECT k.agent_message_id AS id FROM agent_run_checkpoints k
     JOIN agent_messages am ON am.message_id = k.agent_message_id
     WHERE am.status = 'created' AND NOT EXISTS (SELECT 1 FROM tool_approvals t
       WHERE t.agent_message_id = k.agent_message_id AND t.state = 'pending')
     ORDER BY k.agent_message_id LIMIT ?`,
    limit,
  ) as { id: number }[];
  for (const r of rows) await announceResume(deps, r.id);
  return rows.length;
}

/** Cancel the pending approvals of cancelled messages and drop their checkpoints (in a tx). */
export async function dropParkedRuns(deps: Deps, messageIds: number[]): Promise<void> {
  if (messageIds.length === 0) return;
  const ids = JSON.stringify(messageIds);
  await deps.db.run(
    `UPDATE tool_approvals SET state = 'cancelled', decided_at = ?
     WHERE state = 'pending' AND agent_message_id IN (SELECT value FROM json_each(?))`,
    now(),
    ids,
  );
  await deps.db.run(
    "DELETE FROM agent_run_checkpoints WHERE agent_message_id IN (SELECT value FROM json_each(?))",
    ids,
  );
}
