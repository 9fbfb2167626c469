/**
 * The conversation and agent-message event streams (`GET .../events`,
 * `GET .../messages/{mId}/events`) in Dust's SSE framing (`src/events/log_stream.ts`): replay of
 * the log strictly after `lastEventId`, read lazily as the reader drains, then live events, each
 * delivered exactly once. A comment keep-alive goes out every 25 s (clients treat ~45 s of
 * silence as a dead stream; Dust itself sends none). A stream ends after 5 idle minutes, on
 * server shutdown, and — for a message stream — right after the message's terminal event; a
 * reader that takes nothing while its buffer is full is cut (it resumes with `lastEventId`).
 * Opening one takes a slot of the caller's stream budget (429 past it). Access is checked
 * before the first byte and again before every live event: a reader who lost it (removed from
 * the Pod, the space or the workspace; the conversation deleted; the token revoked) gets
 * `data: done` instead of the event.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import {
  appendEvent,
  conversationStream,
  hasTerminalEvent,
  messageStream,
  newestStreamEventId,
  pageStreamLog,
  parseLastEventId,
  readStreamPayload,
  TERMINAL_MESSAGE_EVENTS,
} from "./conversation_events.ts";
import {
  findReadableConversation,
  loadMessagesBySId,
  requireReadableConversation,
} from "./conversation_views.ts";
import { getRole } from "./workspaces.ts";
import { isCredentialActive } from "./credential_state.ts";
import { type LogStreamHandle, openLogStream } from "../events/log_stream.ts";
import { streamOwnerOf } from "../events/stream_budget.ts";

/** Stream timings; tests running the server in-process may shorten them. */
export const conversationStreamTimings = {
  keepAliveMs: 25_000,
  idleMs: 5 * 60_000,
};

/** What a stream opener gets besides its ids. */
export interface StreamInput {
  lastEventId?: string | null;
  /**
   * Settles when the HTTP response is over (Deno's `info.completed`): the stream's slot is
   * held until then too, so a reader who stopped reading keeps counting until it disconnects.
   */
  connection?: Promise<unknown>;
}

/** Open a conversation's event stream (never ends on its own event; idle/shutdown end it). */
export async function openConversationEvents(
  deps: Deps,
  actor: Actor,
  input: StreamInput & { conversationId: string },
): Promise<ReadableStream<Uint8Array>> {
  const after = parseLastEventId(input.lastEventId);
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  return openEventLog(deps, actor, input, conversationStream(c.sId), after, c.sId, false);
}

/**
 * Open an agent message's event stream. A message that finished after its events expired
 * gets its terminal event again from the stored state, so a late reader still sees the end.
 */
export async function openMessageEvents(
  deps: Deps,
  actor: Actor,
  input: StreamInput & { conversationId: string; messageId: string },
): Promise<ReadableStream<Uint8Array>> {
  const after = parseLastEventId(input.lastEventId);
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const [m] = await loadMessagesBySId(deps, actor.workspace.sId, c.id, [input.messageId]);
  if (!m || m.type !== "agent_message") {
    throw new AppError(404, "message_not_found", "Message not found.");
  }
  const stream = messageStream(m.sId);
  const terminal = terminalEventFor(m.json);
  if (terminal && !await hasTerminalEvent(deps, stream)) await appendEvent(deps, stream, terminal);
  return openEventLog(deps, actor, input, stream, after, c.sId, true);
}

/**
 * Whether the actor still reads the conversation: its credential is still live and, for a
 * user, still a member who reads it.
 */
function accessCheck(
  deps: Deps,
  actor: Actor,
  conversationSId: string,
): (eventId: number) => Promise<boolean> {
  const check = async () => {
    if (!await isCredentialActive(deps.db, actor.credential)) return false;
    if (
      actor.kind === "user" && await getRole(deps.db, actor.workspace.id, actor.user.id) === null
    ) {
      return false;
    }
    return await findReadableConversation(deps, actor, conversationSId) !== null;
  };
  const reader = [
    actor.workspace.id,
    actor.kind === "user" ? `user:${actor.user.id}:${actor.role}` : "key",
    actor.credential.kind,
    actor.credential.id,
    conversationSId,
  ].join("|");
  return (eventId) =>
    Number.isFinite(eventId) ? sharedCheck(deps, `${reader}|${eventId}`, check) : check();
}

/** How long the check of one event by one reader is shared by that reader's other streams. */
const SHARED_CHECK_MS = 1000;
const sharedChecks = new WeakMap<Deps, Map<string, { at: number; ok: Promise<boolean> }>>();

/**
 * One access check per reader and event, however many streams the reader holds on the
 * conversation (10,000 streams of one reader were 30,000 queries per event). Each event is
 * checked anew, so a revocation acts on the next event as before; entries leave a second later.
 */
function sharedCheck(deps: Deps, key: string, check: () => Promise<boolean>): Promise<boolean> {
  let checks = sharedChecks.get(deps);
  if (!checks) sharedChecks.set(deps, checks = new Map());
  const now = Date.now();
  for (const [k, c] of checks) {
    if (now - c.at < SHARED_CHECK_MS) break;
    checks.delete(k);
  }
  const hit = checks.get(key);
  if (hit) return hit.ok;
  const ok = check();
  checks.set(key, { at: now, ok });
  return ok;
}

// deno-lint-ignore no-explicit-any
function terminalEventFor(msg: Record<string, any>): Record<string, unknown> | null {
  const base = { created: Date.now(), configurationId: msg.configuration.sId, messageId: msg.sId };
  switch (msg.status) {
    case "succeeded":
      return { type: "agent_message_success", ...base, message: msg, runIds: [] };
    case "failed":
      return {
        type: "agent_error",
        ...base,
        error: msg.error ?? { code: "agent_error", message: "The agent failed.", metadata: null },
      };
    case "cancelled":
      return { type: "agent_generation_cancelled", ...base };
    default:
      return null;
  }
}

/** Take a slot of the caller's budget (429 past it) and open the body over `stream`. */
function openEventLog(
  deps: Deps,
  actor: Actor,
  input: StreamInput,
  stream: string,
  after: number,
  conversationSId: string,
  endOnTerminal: boolean,
): ReadableStream<Uint8Array> {
  const lease = deps.streams.acquire(streamOwnerOf(actor));
  lease.holdUntil(input.connection);
  const source = {
    log: "events",
    channel: stream,
    page: async (afterId: number, limit: number, inline: number) =>
      await pageStreamLog(deps, stream, afterId, limit, inline, endOnTerminal),
    payload: async (id: number) => await readStreamPayload(deps, stream, id),
    newest: async () => await newestStreamEventId(deps, stream),
    allowed: accessCheck(deps, actor, conversationSId),
    endsAfter: endOnTerminal
      ? (type: string | null) => type !== null && TERMINAL_MESSAGE_EVENTS.has(type)
      : undefined,
  };
  return openLogStream(deps, lease, source, after, keepAliveAndIdle);
}

/** One timer per stream: a keep-alive every period, the end after the idle limit. */
function keepAliveAndIdle(handle: LogStreamHandle): () => void {
  const timer = setInterval(() => {
    if (Date.now() - handle.lastEventAt >= conversationStreamTimings.idleMs) handle.end();
    else handle.keepAlive();
  }, conversationStreamTimings.keepAliveMs);
  return () => clearInterval(timer);
}
