/**
 * The relay's request log and result routing (`../reference/dust.md` §3.5–3.8). Every JSON-RPC
 * message the server side sends to a client-side server is written to `relay_requests` (so a
 * reconnecting stream can replay it, for 10 minutes) and published live on
 * `relay:<serverId>`; the client's answers, posted to `mcp/results`, are written to
 * `relay_results` and announced on `relay-results:<serverId>` where the waiting
 * {@link RelayClientTransport} picks its own by rewritten id (and deletes the row). Answered
 * requests leave the log so they are never replayed.
 *
 * Across instances (the request stream open on one, the agent run on another, the result posted
 * to a third) the bus carries row ids only: `{eventId}` for a request (the stream reads the log
 * after its cursor; a server's requests commit in id order under its lock), `{resultId, id}`
 * for a result (the rewritten JSON-RPC id when short, so only the run waiting for it reads it).
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
    await deps.db.txLock(requestChannel(serverId));
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
  deps.events.publish(requestChannel(serverId), { eventId: event.eventId }, event);
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

/** The newest id of a registration's pending requests (0 when none). */
export async function newestRelayRequestId(deps: Deps, serverId: string): Promise<number> {
  const row = await deps.db.get<{ id: number | null }>(
    "SELECT MAX(id) AS id FROM relay_requests WHERE server_id = ? AND expires_at > ?",
    serverId,
    now(),
  );
  return Number(row?.id ?? 0);
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
  const requestId = typeof id === "string" || typeof id === "number" ? String(id) : null;
  const t = now();
  const stored = await deps.db.tx(async () => {
    if (requestId !== null) {
      await deps.db.run(
        "DELETE FROM relay_requests WHERE server_id = ? AND request_id = ?",
        reg.serverId,
        requestId,
      );
    }
    await deps.db.run(
      "DELETE FROM relay_requests WHERE server_id = ? AND request_id IS NULL",
      reg.serverId,
    );
    await deps.db.run(
      "DELETE FROM relay_results WHERE server_id = ? AND expires_at <= ?",
      reg.serverId,
      t,
    );
    return await deps.db.get(
      `INSERT INTO relay_results (server_id, request_id, payload, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?) RETURNING id`,
      reg.serverId,
      requestId,
      JSON.stringify(result),
      t,
      t + deps.relay.timings.callTimeoutMs + RESULT_SLACK_MS,
    ) as { id: number };
  });
  const note: RelayResultNote = { resultId: stored.id };
  if (requestId !== null && requestId.length <= MAX_NOTED_ID_CHARS) note.id = requestId;
  deps.events.publish(resultChannel(reg.serverId), note, { ...note, result });
  return { success: true };
}

/** A result waits at most the call timeout plus this for the run that asked. */
const RESULT_SLACK_MS = 60_000;
/** Longer JSON-RPC ids are left out of the note (every waiting run then reads the row). */
const MAX_NOTED_ID_CHARS = 512;

/** What the bus carries for a posted result (plus `result` itself on the in-process bus). */
export interface RelayResultNote {
  resultId: number;
  /** The answered JSON-RPC id, when short enough to go on the bus. */
  id?: string;
}

/**
 * Take a posted result for a waiting run: the row is deleted (one run consumes an answer);
 * notifications (no id) are read and left for every run of the server. Null once gone.
 */
export async function takeRelayResult(
  deps: Deps,
  serverId: string,
  resultId: number,
  consume: boolean,
): Promise<JsonRpcMessage | null> {
  const row = consume
    ? await deps.db.get(
      "DELETE FROM relay_results WHERE id = ? AND server_id = ? RETURNING payload",
      resultId,
      serverId,
    )
    : await deps.db.get(
      "SELECT payload FROM relay_results WHERE id = ? AND server_id = ?",
      resultId,
      serverId,
    );
  return row ? JSON.parse(String((row as { payload: string }).payload)) : null;
}

/** Results posted for any of `requestIds` (after a gap on the bus), consumed. */
export async function takeRelayResultsFor(
  deps: Deps,
  serverId: string,
  requestIds: string[],
): Promise<JsonRpcMessage[]> {
  if (requestIds.length === 0) return [];
  const rows = await deps.db.all(
    `DELETE FROM relay_results WHERE server_id = ?
       AND request_id IN (SELECT value FROM json_each(?)) RETURNING payload`,
    serverId,
    requestIds,
  ) as { payload: string }[];
  return rows.map((r) => JSON.parse(r.payload));
}

/** Forget a result already handed over from the in-process bus's payload. */
export async function dropRelayResult(deps: Deps, resultId: number): Promise<void> {
  await deps.db.run("DELETE FROM relay_results WHERE id = ?", resultId);
}
