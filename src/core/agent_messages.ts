/**
 * Agent messages after they are created: the API the agent runner uses (status/content
 * updates, actions, events) and the one the REST API uses (cancel, `blocking` waits).
 *
 * Hook for the agent runner: every agent message created by a post is announced on
 * `deps.events` channel {@link AGENT_MESSAGE_CREATED_CHANNEL} with an
 * {@link AgentMessageCreated} payload, after its transaction committed; subscribe with
 * {@link onAgentMessageCreated}. A cancelled message gets `agent_generation_cancelled` on its
 * message stream (channel `message:<sId>`), and {@link updateAgentMessage} refuses to change
 * a message that is already terminal, so a runner notices the cancel on its next write.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { newResourceId } from "../util/ids.ts";
import { requireScope } from "./access.ts";
import {
  appendEvent,
  conversationStream,
  insertEvents,
  messageStream,
  publishEvents,
  type StreamEvent,
} from "./conversation_events.ts";
import {
  type ConversationRow,
  loadMessages,
  loadMessagesBySId,
  type MessageRecord,
  requireReadableConversation,
} from "./conversation_views.ts";
import { agentActionJson } from "./message_json.ts";
import { mapSeries } from "../util/async.ts";
import { dropParkedRuns } from "./tool_approvals.ts";

/** Channel announcing created agent messages to the agent runner. */
export const AGENT_MESSAGE_CREATED_CHANNEL = "agent_messages:created";

/** Payload of {@link AGENT_MESSAGE_CREATED_CHANNEL}. */
export interface AgentMessageCreated {
  workspaceId: number;
  workspaceSId: string;
  conversationSId: string;
  messageSId: string;
  /** The agent configuration sId (e.g. `dust`). */
  agentSId: string;
  /** The user who posted the triggering message (null for API keys). */
  userId: number | null;
  /**
   * The OAuth grant (row id) of the credential that launched the run, when it was one: the run
   * acts within that grant's choice of spaces (core/grant_access.ts `narrowRunActor`).
   */
  grantId?: number | null;
  /**
   * True when the message was parked on tool approvals and they are all decided: the run
   * resumes from its checkpoint (tool_approvals.ts) instead of starting over.
   */
  resume?: boolean;
}

export type AgentMessageStatus = "created" | "succeeded" | "failed" | "cancelled";
const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/** Subscribe to created agent messages; returns the unsubscribe function. */
export function onAgentMessageCreated(
  deps: Deps,
  listener: (m: AgentMessageCreated) => void,
): () => void {
  return deps.events.subscribe(
    AGENT_MESSAGE_CREATED_CHANNEL,
    (p) => listener(p as AgentMessageCreated),
  );
}

/** Append an event to an agent message's stream (`message:<sId>`) and publish it. */
export async function appendMessageEvent(
  deps: Deps,
  messageSId: string,
  event: Record<string, unknown>,
): Promise<StreamEvent> {
  return await appendEvent(deps, messageStream(messageSId), { created: now(), ...event });
}

/** Append an event to a conversation's stream (`conversation:<sId>`) and publish it. */
export async function appendConversationEvent(
  deps: Deps,
  conversationSId: string,
  event: Record<string, unknown>,
): Promise<StreamEvent> {
  return await appendEvent(deps, conversationStream(conversationSId), { created: now(), ...event });
}

interface AgentMessageRef {
  id: number;
  sId: string;
  workspaceId: number;
  workspaceSId: string;
  conversationId: number;
  conversationSId: string;
  status: string;
}

async function findAgentMessage(deps: Deps, messageSId: string): Promise<AgentMessageRef | null> {
  const r = await deps.db.get(
    `SELECT m.id, m.s_id, m.workspace_id, w.s_id AS w_s_id, m.conversation_id,
       c.s_id AS c_s_id, am.status
     FROM messages m JOIN agent_messages am ON am.message_id = m.id
     JOIN conversations c ON c.id = m.conversation_id JOIN workspaces w ON w.id = m.workspace_id
     WHERE m.s_id = ?`,
    messageSId,
  ) as Record<string, never> | undefined;
  if (!r) return null;
  return {
    id: r.id,
    sId: r.s_id,
    workspaceId: r.workspace_id,
    workspaceSId: r.w_s_id,
    conversationId: r.conversation_id,
    conversationSId: r.c_s_id,
    status: r.status,
  };
}

async function requireAgentMessage(deps: Deps, messageSId: string): Promise<AgentMessageRef> {
  const m = await findAgentMessage(deps, messageSId);
  if (!m) throw new AppError(404, "message_not_found", "Message not found.");
  return m;
}

/** Input of {@link updateAgentMessage}; omitted fields are left unchanged. */
export interface AgentMessageUpdate {
  messageId: string;
  status?: AgentMessageStatus;
  content?: string | null;
  chainOfThought?: string | null;
  error?: { code: string; message: string; metadata?: Record<string, unknown> | null } | null;
}

/**
 * Update an agent message (runner API). Returns the message JSON, or null when the message
 * is already terminal (e.g. cancelled by the user) and was left unchanged.
 */
export async function updateAgentMessage(
  deps: Deps,
  input: AgentMessageUpdate,
): Promise<Record<string, unknown> | null> {
  const m = await requireAgentMessage(deps, input.messageId);
  const changed = await deps.db.tx(async () => {
    const cur = await deps.db.get(
      "SELECT status FROM agent_messages WHERE message_id = ?",
      m.id,
    ) as { status: string };
    if (TERMINAL.has(cur.status)) return false;
    const terminal = input.status !== undefined && TERMINAL.has(input.status);
    await deps.db.run(
      `UPDATE agent_messages SET
         status = COALESCE(?, status),
         content = CASE WHEN ? = 1 THEN ? ELSE content END,
         chain_of_thought = CASE WHEN ? = 1 THEN ? ELSE chain_of_thought END,
         error_code = CASE WHEN ? = 1 THEN ? ELSE error_code END,
         error_message = CASE WHEN ? = 1 THEN ? ELSE error_message END,
         error_metadata = CASE WHEN ? = 1 THEN ? ELSE error_metadata END,
         completed_at = CASE WHEN ? = 1 THEN ? ELSE completed_at END
       WHERE message_id = ?`,
      input.status ?? null,
      ...setIf(input.content !== undefined, input.content ?? null),
      ...setIf(input.chainOfThought !== undefined, input.chainOfThought ?? null),
      ...setIf(input.error !== undefined, input.error?.code ?? null),
      ...setIf(input.error !== undefined, input.error?.message ?? null),
      ...setIf(
        input.error !== undefined,
        input.error?.metadata ? JSON.stringify(input.error.metadata) : null,
      ),
      ...setIf(terminal, now()),
      m.id,
    );
    return true;
  });
  if (!changed) return null;
  return (await loadMessagesBySId(deps, m.workspaceSId, m.conversationId, [m.sId]))[0].json;
}

function setIf(cond: boolean, value: string | number | null): [number, string | number | null] {
  return [cond ? 1 : 0, value];
}

/** Input of {@link createAgentAction}. */
export interface AgentActionInput {
  messageId: string;
  step: number;
  functionCallName: string;
  functionCallId: string;
  mcpServerId?: string | null;
  params: Record<string, unknown>;
}

/** Record a tool call of an agent message (status `running`); returns Dust's action JSON. */
export async function createAgentAction(
  deps: Deps,
  input: AgentActionInput,
): Promise<Record<string, unknown>> {
  const m = await requireAgentMessage(deps, input.messageId);
  const t = now();
  const r = await deps.db.get(
    `INSERT INTO agent_actions (s_id, agent_message_id, step, function_call_name, function_call_id,
       mcp_server_id, params, status, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?) RETURNING *`,
    newResourceId("act"),
    m.id,
    input.step,
    input.functionCallName,
    input.functionCallId,
    input.mcpServerId ?? null,
    JSON.stringify(input.params),
    t,
    t,
  );
  return agentActionJson(r as Record<string, unknown>);
}

/** Finish a tool call: status and MCP output content (`[{type:"text",text}]`, ...). */
export async function updateAgentAction(
  deps: Deps,
  input: {
    actionId: string;
    status: "running" | "succeeded" | "errored" | "cancelled";
    output?: unknown[] | null;
  },
): Promise<Record<string, unknown>> {
  const r = await deps.db.get(
    `UPDATE agent_actions SET status = ?, output = CASE WHEN ? = 1 THEN ? ELSE output END,
       updated_at = ? WHERE s_id = ? RETURNING *`,
    input.status,
    input.output !== undefined ? 1 : 0,
    input.output ? JSON.stringify(input.output) : null,
    now(),
    input.actionId,
  );
  if (!r) throw new AppError(404, "message_not_found", "Action not found.");
  return agentActionJson(r as Record<string, unknown>);
}

/** What the agent runner feeds the model for one agent message. */
export interface ConversationForAgent {
  workspaceId: number;
  workspaceSId: string;
  conversation: { id: number; sId: string; title: string | null; spaceId: number | null };
  agentMessage: MessageRecord;
  /** The user message that mentioned the agent (its `context` carries clientSideMCPServerIds). */
  userMessage: MessageRecord | null;
  /** Current (last) visible versions of every earlier message, oldest first. */
  history: MessageRecord[];
}

/** Load the conversation as the runner sees it when answering `messageId` (no access check). */
export async function getConversationForAgent(
  deps: Deps,
  input: { messageId: string },
): Promise<ConversationForAgent> {
  const m = await requireAgentMessage(deps, input.messageId);
  const conv = await deps.db.get(
    "SELECT id, s_id, title, space_id FROM conversations WHERE id = ?",
    m.conversationId,
  ) as {
    id: number;
    s_id: string;
    title: string | null;
    space_id: number | null;
  };
  const [self] = await loadMessagesBySId(deps, m.workspaceSId, m.conversationId, [m.sId]);
  const earlier = await loadMessages(deps, m.workspaceSId, m.conversationId, {
    fromRank: 0,
    toRank: self.rank - 1,
  });
  const latest = new Map<number, MessageRecord>();
  for (const r of earlier) latest.set(r.rank, r);
  const history = [...latest.values()].filter((r) => r.visibility === "visible");
  const parentSId = self.json.parentMessageId as string | null;
  return {
    workspaceId: m.workspaceId,
    workspaceSId: m.workspaceSId,
    conversation: { id: conv.id, sId: conv.s_id, title: conv.title, spaceId: conv.space_id },
    agentMessage: self,
    userMessage: history.find((r) => r.sId === parentSId) ?? null,
    history,
  };
}

/**
 * `POST .../cancel {messageIds}`: cancel agent messages of the conversation that are still
 * running; ids of other conversations or already finished messages are ignored, as in Dust.
 */
export async function cancelMessageGeneration(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; messageIds: string[] },
): Promise<{ success: true }> {
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const stored = await deps.db.tx(async () => {
    const rows = await deps.db.all(
      `UPDATE agent_messages SET status = 'cancelled', completed_at = ?
       WHERE status = 'created' AND message_id IN (SELECT m.id FROM messages m
         WHERE m.conversation_id = ? AND m.s_id IN (SELECT value FROM json_each(?)))
       RETURNING message_id, agent_s_id`,
      now(),
      c.id,
      JSON.stringify(input.messageIds),
    ) as {
      message_id: number;
      agent_s_id: string;
    }[];
    const events = await mapSeries(rows, async (r) => await cancelEvents(deps, c, r));
    await dropParkedRuns(deps, rows.map((r) => r.message_id));
    return await insertEvents(deps.db, events.flat());
  });
  publishEvents(deps, stored);
  return { success: true };
}

async function cancelEvents(
  deps: Deps,
  c: ConversationRow,
  r: { message_id: number; agent_s_id: string },
) {
  const sId = (await deps.db.get("SELECT s_id FROM messages WHERE id = ?", r.message_id) as {
    s_id: string;
  }).s_id;
  const data = {
    type: "agent_generation_cancelled",
    created: now(),
    configurationId: r.agent_s_id,
    messageId: sId,
  };
  return [
    { stream: messageStream(sId), data },
    { stream: conversationStream(c.sId), data },
  ];
}

/** Statuses of agent messages by sId (`parked`: waiting for tool approvals). */
async function statuses(deps: Deps, sIds: string[]): Promise<Map<string, string>> {
  const rows = await deps.db.all(
    `SELECT m.s_id, CASE WHEN am.status = 'created' AND EXISTS (SELECT 1 FROM
       agent_run_checkpoints k WHERE k.agent_message_id = m.id) THEN 'parked' ELSE am.status
       END AS status
     FROM messages m JOIN agent_messages am ON am.message_id = m.id
     WHERE m.s_id IN (SELECT value FROM json_each(?))`,
    JSON.stringify(sIds),
  ) as { s_id: string; status: string }[];
  return new Map(rows.map((r) => [r.s_id, r.status]));
}

/** How long `blocking: true` waits for agent messages at most. */
export const BLOCKING_WAIT_MS = 5 * 60 * 1000;

/**
 * Wait until every agent message is terminal or parked on tool approvals (nothing more
 * happens until someone decides), `timeoutMs` passed, or the server stops.
 * Wakes on each event of the messages' streams, and re-checks the database every second in
 * case a status changed without an event.
 */
export async function waitForAgentMessages(
  deps: Deps,
  messageSIds: string[],
  timeoutMs = BLOCKING_WAIT_MS,
): Promise<void> {
  if (messageSIds.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  let wake: () => void = () => {};
  const unsubs = messageSIds.map((s) => deps.events.subscribe(messageStream(s), () => wake()));
  const onShutdown = () => wake();
  deps.shutdown.addEventListener("abort", onShutdown);
  try {
    while (!deps.shutdown.aborted && Date.now() < deadline) {
      const st = await statuses(deps, messageSIds);
      const settled = (s: string) => {
        const status = st.get(s) ?? "cancelled";
        return TERMINAL.has(status) || status === "parked";
      };
      if (messageSIds.every(settled)) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now())));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    unsubs.forEach((u) => u());
    deps.shutdown.removeEventListener("abort", onShutdown);
  }
}
