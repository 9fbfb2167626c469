/**
 * `POST …/messages/{mId}/retry` (`@dust-tt/client` `retryMessage`) → `{ message }`:
 *
 * - a finished agent message (succeeded, failed, cancelled) gets a new version at the same
 *   rank, in status `created`, answering the same user message; the agent runs it (and the
 *   conversation stream says `agent_message_new`). Only the latest version can be retried.
 * - `blocked_only=true`: the message must be waiting for tool approvals; its waiting calls'
 *   `tool_approve_execution` events are published again (a client whose stream expired sees
 *   them) and the message is returned as it is. Otherwise 400.
 *
 * Who: the user who posted the message the agent answers (API keys for an API key's post),
 * because the run acts as that poster — with their tools, their data and their approvals.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { newSId } from "../util/ids.ts";
import { requireScope } from "./access.ts";
import { launchingGrantId } from "./grant_access.ts";
import {
  conversationStamp,
  loadMessagesBySId,
  requireReadableConversation,
} from "./conversation_views.ts";
import {
  conversationStream,
  insertEvents,
  messageStream,
  publishEvents,
} from "./conversation_events.ts";
import { AGENT_MESSAGE_CREATED_CHANNEL, type AgentMessageCreated } from "./agent_messages.ts";
import { insertAgentRun } from "./agent_runs.ts";
import { findAgentMessageFacts } from "./tool_approvals.ts";
import { pendingApprovals } from "./tool_validation.ts";

export async function retryAgentMessage(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; messageId: string; blockedOnly: boolean },
): Promise<{ message: Record<string, unknown> }> {
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const row = await deps.db.get(
    `SELECT m.id, m.rank, m.version, m.type FROM messages m
     WHERE m.s_id = ? AND m.conversation_id = ?`,
    input.messageId,
    c.id,
  ) as { id: number; rank: number; version: number; type: string } | undefined;
  if (!row) {
    throw new AppError(
      404,
      "message_not_found",
      "The message you're trying to retry does not exist or is not accessible.",
    );
  }
  const m = row.type === "agent_message"
    ? await findAgentMessageFacts(deps, { messageId: row.id })
    : null;
  if (!m) {
    throw invalid("The message you're trying to retry does not exist or is not an agent message.");
  }
  const poster = m.posterUserId === null
    ? actor.kind === "api_key"
    : actor.kind === "user" && actor.user.id === m.posterUserId;
  if (!poster) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "Only the user who posted the message the agent answers can retry it.",
    );
  }
  if (input.blockedOnly) return await republishApprovals(deps, actor, c, input.messageId);
  const latest = await deps.db.get(
    "SELECT MAX(version) AS v FROM messages WHERE conversation_id = ? AND rank = ?",
    c.id,
    row.rank,
  ) as { v: number };
  if (latest.v !== row.version) {
    throw invalid("Only the latest version of a message can be retried.");
  }
  if (m.status === "created") {
    throw invalid("The agent message is still being generated (or waits for an approval).");
  }
  const t = conversationStamp();
  const sId = newSId();
  const stored = await deps.db.tx(async () => {
    const parent = await deps.db.get(
      `SELECT am.agent_configuration_id, am.agent_version, am.parent_message_id,
         am.skip_tools_validation FROM agent_messages am WHERE am.message_id = ?`,
      row.id,
    ) as Record<string, number | null>;
    const inserted = await deps.db.get(
      `INSERT INTO messages (s_id, workspace_id, conversation_id, rank, version, type, created_at)
       VALUES (?, ?, ?, ?, ?, 'agent_message', ?) RETURNING id`,
      sId,
      c.workspaceId,
      c.id,
      row.rank,
      row.version + 1,
      t,
    ) as { id: number };
    await deps.db.run(
      `INSERT INTO agent_messages (message_id, agent_configuration_id, agent_s_id, agent_version,
         status, parent_message_id, skip_tools_validation, grant_id)
         VALUES (?, ?, ?, ?, 'created', ?, ?, ?)`,
      inserted.id,
      parent.agent_configuration_id,
      m.agentSId,
      parent.agent_version ?? 0,
      parent.parent_message_id,
      parent.skip_tools_validation ?? 0,
      launchingGrantId(actor),
    );
    // The run is this instance's (it announces the message to its runner below).
    const at = Date.now();
    await insertAgentRun(deps.db, {
      messageId: inserted.id,
      instanceId: deps.instanceId,
      at,
      leaseUntil: at + deps.config.workLeaseSeconds * 1000,
    });
    await deps.db.run("UPDATE conversations SET updated_at = ? WHERE id = ?", t, c.id);
    const [record] = await loadMessagesBySId(deps, actor.workspace.sId, c.id, [sId]);
    return await insertEvents(deps.db, [{
      stream: conversationStream(c.sId),
      data: {
        type: "agent_message_new",
        created: t,
        configurationId: m.agentSId,
        messageId: sId,
        message: { ...record.json, rank: record.rank },
      },
    }]);
  });
  await publishEvents(deps, stored);
  const job: AgentMessageCreated = {
    workspaceId: c.workspaceId,
    workspaceSId: actor.workspace.sId,
    conversationSId: c.sId,
    messageSId: sId,
    agentSId: m.agentSId,
    userId: m.posterUserId,
    grantId: launchingGrantId(actor),
  };
  deps.events.publishLocal(AGENT_MESSAGE_CREATED_CHANNEL, job);
  const [message] = await loadMessagesBySId(deps, actor.workspace.sId, c.id, [sId]);
  return { message: message.json };
}

/** `blocked_only`: publish the waiting calls' approval requests again. */
async function republishApprovals(
  deps: Deps,
  actor: Actor,
  c: { id: number; sId: string },
  messageSId: string,
): Promise<{ message: Record<string, unknown> }> {
  const waiting = (await pendingApprovals(deps, c)).filter((a) => a.messageId === messageSId);
  if (waiting.length === 0) throw invalid("The agent message is not waiting for a tool approval.");
  const [record] = await loadMessagesBySId(deps, actor.workspace.sId, c.id, [messageSId]);
  const t = now();
  // Events are numbered under the transaction's lock (conversation_events.ts).
  const stored = await deps.db.tx(async () =>
    await insertEvents(
      deps.db,
      waiting.map((a, i) => ({
        stream: messageStream(messageSId),
        data: {
          type: "tool_approve_execution",
          created: t,
          configurationId: (record.json.configuration as { sId: string }).sId,
          messageId: messageSId,
          conversationId: c.sId,
          actionId: a.actionId,
          inputs: a.inputs,
          stake: a.stake,
          ...(a.userId ? { userId: a.userId } : {}),
          metadata: a.metadata,
          isLastBlockingEventForStep: i === waiting.length - 1,
        },
      })),
    )
  );
  await publishEvents(deps, stored);
  return { message: record.json };
}
