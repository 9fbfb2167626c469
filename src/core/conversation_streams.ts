/**
 * The conversation and agent-message event streams (`GET .../events`,
 * `GET .../messages/{mId}/events`) in Dust's SSE framing: `event: dust-handshake` +
 * `data: {}` first, one unnamed `data: {"eventId","data"}` frame per event, `data: done` at the
 * end. Replay of the log strictly after `lastEventId` comes first; live events published
 * meanwhile are buffered and deduplicated by id, so each event is delivered exactly once.
 * A comment keep-alive goes out every 25 s (clients treat ~45 s of silence as a dead stream;
 * Dust itself sends none). A stream ends after 5 idle minutes, on server shutdown, when a
 * client stops reading (its queue passes a bound), and — for a message stream — right after
 * the message's terminal event. Access is checked before the first byte and again before every
 * live event: a reader who lost it (removed from the Pod, the space or the workspace; the
 * conversation deleted; the token revoked) gets `data: done` instead of the event.
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
  parseLastEventId,
  readEventsAfter,
  type StreamEvent,
  TERMINAL_MESSAGE_EVENTS,
} from "./conversation_events.ts";
import {
  findReadableConversation,
  loadMessagesBySId,
  requireReadableConversation,
} from "./conversation_views.ts";
import { getRole } from "./workspaces.ts";
import { isCredentialActive } from "./credential_state.ts";

/** Stream timings; tests running the server in-process may shorten them. */
export const conversationStreamTimings = {
  keepAliveMs: 25_000,
  idleMs: 5 * 60_000,
};

/** A reader that stops reading is cut off once this many bytes wait in its queue. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const REPLAY_PAGE = 500;
const REPLAY_MAX_PAGES = 200;

const encoder = new TextEncoder();
const HANDSHAKE = encoder.encode("event: dust-handshake\ndata: {}\n\n");
const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");
const DONE = encoder.encode("data: done\n\n");

/** Open a conversation's event stream (never ends on its own event; idle/shutdown end it). */
export function openConversationEvents(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; lastEventId?: string | null },
): ReadableStream<Uint8Array> {
  const after = parseLastEventId(input.lastEventId);
  const c = requireReadableConversation(deps, actor, input.conversationId);
  return pumpStream(deps, conversationStream(c.sId), after, false, accessCheck(deps, actor, c.sId));
}

/**
 * Open an agent message's event stream. A message that finished after its events expired
 * gets its terminal event again from the stored state, so a late reader still sees the end.
 */
export function openMessageEvents(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; messageId: string; lastEventId?: string | null },
): ReadableStream<Uint8Array> {
  const after = parseLastEventId(input.lastEventId);
  const c = requireReadableConversation(deps, actor, input.conversationId);
  const [m] = loadMessagesBySId(deps, actor.workspace.sId, c.id, [input.messageId]);
  if (!m || m.type !== "agent_message") {
    throw new AppError(404, "message_not_found", "Message not found.");
  }
  const stream = messageStream(m.sId);
  const terminal = terminalEventFor(m.json);
  if (terminal && !hasTerminalEvent(deps, stream)) appendEvent(deps, stream, terminal);
  return pumpStream(deps, stream, after, true, accessCheck(deps, actor, c.sId));
}

/**
 * Whether the actor still reads the conversation: its credential is still live and, for a
 * user, still a member who reads it.
 */
function accessCheck(deps: Deps, actor: Actor, conversationSId: string): () => boolean {
  return () => {
    if (!isCredentialActive(deps.db, actor.credential)) return false;
    if (actor.kind === "user" && getRole(deps.db, actor.workspace.id, actor.user.id) === null) {
      return false;
    }
    return findReadableConversation(deps, actor, conversationSId) !== null;
  };
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

function pumpStream(
  deps: Deps,
  stream: string,
  after: number,
  endOnTerminal: boolean,
  allowed: () => boolean,
): ReadableStream<Uint8Array> {
  let stop = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stop = runStream(deps, stream, after, endOnTerminal, allowed, controller);
    },
    cancel() {
      stop();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }));
}

/** Wire one stream: subscribe, replay, then live. Returns the cleanup. */
function runStream(
  deps: Deps,
  stream: string,
  after: number,
  endOnTerminal: boolean,
  allowed: () => boolean,
  controller: ReadableStreamDefaultController<Uint8Array>,
): () => void {
  let lastSent = after;
  let replaying = true;
  let closed = false;
  let lastActivity = Date.now();
  const buffered: StreamEvent[] = [];
  const write = (bytes: Uint8Array) => {
    if (closed) return;
    try {
      controller.enqueue(bytes);
    } catch {
      // The client went away between two events: nothing more to write.
      cleanup();
      return;
    }
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED_BYTES) end(false);
  };
  const send = (e: StreamEvent) => {
    const id = Number(e.eventId);
    if (closed || id <= lastSent) return;
    lastSent = id;
    lastActivity = Date.now();
    write(encoder.encode(`data: ${JSON.stringify(e)}\n\n`));
    if (endOnTerminal && TERMINAL_MESSAGE_EVENTS.has(String(e.data.type))) end(true);
  };
  const cleanup = () => {
    closed = true;
    unsubscribe();
    clearInterval(timer);
    deps.shutdown.removeEventListener("abort", onShutdown);
  };
  const end = (sayDone: boolean) => {
    if (closed) return;
    if (sayDone) write(DONE);
    cleanup();
    try {
      controller.close();
    } catch { /* the client already went away */ }
  };
  const onShutdown = () => end(true);
  // Subscribe before reading the log so that nothing published in between is lost.
  const unsubscribe = deps.events.subscribe(stream, (payload) => {
    if (replaying) buffered.push(payload as StreamEvent);
    else if (!closed && !allowed()) end(true);
    else send(payload as StreamEvent);
  });
  const timer = setInterval(() => {
    if (Date.now() - lastActivity >= conversationStreamTimings.idleMs) end(true);
    else write(KEEP_ALIVE);
  }, conversationStreamTimings.keepAliveMs);
  deps.shutdown.addEventListener("abort", onShutdown);
  write(HANDSHAKE);
  for (let page = 0; page < REPLAY_MAX_PAGES && !closed; page++) {
    const events = readEventsAfter(deps, stream, lastSent, REPLAY_PAGE);
    events.forEach(send);
    if (events.length < REPLAY_PAGE) break;
  }
  replaying = false;
  buffered.sort((a, b) => Number(a.eventId) - Number(b.eventId)).forEach(send);
  buffered.length = 0;
  if (deps.shutdown.aborted) end(true);
  return cleanup;
}
