/**
 * The relay's request log and result routing (`../reference/dust.md` §3.5–3.8). Every JSON-RPC
 * message the server side sends to a client-side server is written to `relay_requests` (so a
 * reconnecting stream can replay it, for 10 minutes) and published live on
 * `relay:<serverId>`; the client's answers, posted to `mcp/results`, are published on
 * `relay-results:<serverId>` where the waiting {@link RelayClientTransport} picks its own by
 * rewritten id. Answered requests leave the log so they are never replayed.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { invalid, notFound } from "../errors.ts";
import { requireOwnedRegistration } from "./relay_registry.ts";
import { requireScope } from "./access.ts";
import type { LogRow } from "../events/log_stream.ts";

/** A JSON-RPC message as relayed (requests, responses and notifications). */
export type JsonRpcMessage =
  & { jsonrpc?: string; id?: string | number; method?: string }
  & Record<
    string,
    unknown
  >;

/** One frame of the request stream: `data: {"eventId", "data"}`. */
export interface RelayEvent {
  eventId: string;
  data: JsonRpcMessage;
}

/** Live channel of the requests for a server. */
export function requestChannel(serverId: string): string {
  return `relay:${serverId}`;
}

/** Live channel of the results posted by a server. */
export function resultChannel(serverId: string): string {
  return `relay-results:${serverId}`;
}

/**
 * Dust's id rewriting: `mcp_req_<conversationId>_<messageId>_<epochMs>_<originalId>`, so the
 * MCP clients of concurrent runs sharing one server never confuse their answers.
 */
export function rewriteRequestId(
  scope: { conversationId: string; messageId: string },
  originalId: string | number,
  at = Date.now(),
): string {
  return `mcp_req_${scope.conversationId}_${scope.messageId}_${at}_${originalId}`;
}

/** A rewritten id: conversation and message sIds have no `_`; the original id may. */
const REWRITTEN_ID = /^mcp_req_([A-Za-z0-9]+)_([A-Za-z0-9]+)_(\d+)_(.*)$/s;

/**
 * Seed 001's 404 for results: an answer whose rewritten id names a conversation or message
 * that no longer exists in the server's workspace (Dust's older `requestId` contract).
 * Ids that are not rewritten ones are accepted and routed (nobody waits for them).
 */
async function requireResultTarget(deps: Deps, workspaceId: number, id: string): Promise<void> {
  const m = REWRITTEN_ID.exec(id);
  if (!m) return;
  const row = await deps.db.get(
    `SELECT m.id AS message_id FROM conversations c
     LEFT JOIN messages m ON m.conversation_id = c.id AND m.s_id = ?
     WHERE c.s_id = ? AND c.workspace_id = ?`,
    m[2],
    m[1],
    workspaceId,
  ) as { message_id: number | null } | undefined;
  if (!row) throw notFound("conversation_not_found", "Conversation not found.");
  if (row.message_id === null) throw notFound("message_not_found", "Message not found.");
}

/** Append a message to the server's log and deliver it live; returns its event. */
export async function publishRelayRequest(
  deps: Deps,
  serverId: string,
  message: JsonRpcMessage,
): Promise<RelayEvent> {
  const t = now();
  const requestId = message.id === undefined ? null : String(message.id);
  const row = await deps.db.tx(async () => {
    await deps.db.run(
      "DELETE FROM relay_requests WHERE server_id = ? AND expires_at <= ?",
      serverId,
      t,
    );
    return await deps.db.get(
      `INSERT INTO relay_requests (server_id, request_id, payload, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?) RETURNING id`,
      serverId,
      requestId,
      JSON.stringify(message),
      t,
      t + deps.relay.timings.requestTtlMs,
    ) as { id: number };
  });
  const event = { eventId: String(row.id), data: message };
  deps.events.publish(requestChannel(serverId), event);
  return event;
}

/** Parse a `lastEventId` cursor: absent/empty → 0 (from the start of the log). */
export function parseEventCursor(lastEventId: string | undefined | null): number {
  if (lastEventId === undefined || lastEventId === null || lastEventId === "") return 0;
  if (!/^\d{1,15}$/.test(lastEventId)) {
    throw invalid("lastEventId: must be an event id received on this stream");
  }
  return Number(lastEventId);
}

/**
 * A page of a server's unanswered, unexpired requests for its stream body
 * (`src/events/log_stream.ts`): ids and sizes, payloads inline only up to `inlineBytes`.
 */
export async function pageRelayLog(
  deps: Deps,
  serverId: string,
  after: number,
  limit: number,
  inlineBytes: number,
): Promise<LogRow[]> {
  return await deps.db.all(
    `SELECT id, octet_length(payload) AS size,
       CASE WHEN octet_length(payload) <= ? THEN payload END AS payload
     FROM relay_requests WHERE server_id = ? AND id > ? AND expires_at > ? ORDER BY id LIMIT ?`,
    inlineBytes,
    serverId,
    after,
    now(),
    limit,
  ) as unknown as LogRow[];
}

/** One request's payload, or null once it was answered or expired. */
export async function readRelayPayload(
  deps: Deps,
  serverId: string,
  id: number,
): Promise<string | null> {
  const row = await deps.db.get(
    "SELECT payload FROM relay_requests WHERE id = ? AND server_id = ? AND expires_at > ?",
    id,
    serverId,
    now(),
  ) as { payload: string } | undefined;
  return row?.payload ?? null;
}

/**
 * Accept a client's JSON-RPC answer for one of its servers: route it to the waiting call and
 * drop the answered request (and relayed notifications) from the replay log. A late answer
 * nobody waits for is accepted and ignored, as in Dust.
 */
export async function postRelayResult(
  deps: Deps,
  actor: Actor,
  input: { serverId: string; result: unknown },
): Promise<{ success: true }> {
  // A result becomes tool output inside the user's conversation: a write.
  requireScope(actor, "write");
  const reg = await requireOwnedRegistration(deps, actor, input.serverId);
  const result = input.result;
  if (result === null || typeof result !== "object" || Array.isArray(result)) {
    throw invalid("result: must be a JSON-RPC message object");
  }
  const id = (result as JsonRpcMessage).id;
  if (typeof id === "string") await requireResultTarget(deps, reg.workspaceId, id);
  await deps.db.tx(async () => {
    if (typeof id === "string" || typeof id === "number") {
      await deps.db.run(
        "DELETE FROM relay_requests WHERE server_id = ? AND request_id = ?",
        reg.serverId,
        String(id),
      );
    }
    await deps.db.run(
      "DELETE FROM relay_requests WHERE server_id = ? AND request_id IS NULL",
      reg.serverId,
    );
  });
  deps.events.publish(resultChannel(reg.serverId), { result });
  return { success: true };
}
