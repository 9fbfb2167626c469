/**
 * The request stream of one client-side server (`GET mcp/requests`, dust.md §3.5), in Dust's
 * framing: `event: dust-handshake` + `data: {}` first, then one unnamed
 * `data: {"eventId","data"}` frame per JSON-RPC message, comment keep-alives (the SDK's
 * EventSource reconnects after 45 s of silence; Dust sends none, which is why its clients
 * reconnect so often), and `data: done` when the stream ends after 5 idle minutes, on server
 * shutdown, or never for a client that left. Replay of the unanswered log after `lastEventId`
 * comes first; live messages that arrive meanwhile are buffered and deduplicated by event id,
 * so each is delivered exactly once.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { relayControlChannel, requireOwnedRegistration } from "../core/relay_registry.ts";
import { isCredentialActive } from "../core/credential_state.ts";
import { getRole } from "../core/workspaces.ts";
import {
  listReplayRequests,
  parseEventCursor,
  type RelayEvent,
  requestChannel,
} from "../core/relay_requests.ts";

const encoder = new TextEncoder();
const HANDSHAKE = encoder.encode("event: dust-handshake\ndata: {}\n\n");
const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");
const DONE = encoder.encode("data: done\n\n");
/** Replay pages: the log is bounded by its 10-minute expiry, this bounds one read. */
const REPLAY_PAGE = 100;
const REPLAY_MAX_PAGES = 50;

/**
 * Open the request stream of a server the caller owns (403 `mcp_auth_error` otherwise, before
 * any byte). Returns the SSE body; access checks and the replay cursor are validated first.
 */
export function openRelayRequestStream(
  deps: Deps,
  actor: Actor,
  input: { serverId: string; lastEventId?: string | null },
): ReadableStream<Uint8Array> {
  const cursor = parseEventCursor(input.lastEventId);
  const reg = requireOwnedRegistration(deps, actor, input.serverId);
  // Re-checked before every live request: a revoked token or a removed member stops receiving.
  const allowed = () =>
    isCredentialActive(deps.db, actor.credential) &&
    (actor.kind !== "user" || getRole(deps.db, actor.workspace.id, actor.user.id) !== null);
  let cleanup = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      cleanup = pumpRelayEvents(deps, reg.serverId, cursor, allowed, controller);
    },
    cancel() {
      cleanup();
    },
  });
}

/** Wire the stream: subscribe, replay, then live; returns the cleanup for a client cancel. */
function pumpRelayEvents(
  deps: Deps,
  serverId: string,
  cursor: number,
  allowed: () => boolean,
  controller: ReadableStreamDefaultController<Uint8Array>,
): () => void {
  let lastSent = cursor;
  let replaying = true;
  let closed = false;
  const buffered: RelayEvent[] = [];
  let untrack = () => {};
  const write = (bytes: Uint8Array): boolean => {
    if (closed) return false;
    try {
      controller.enqueue(bytes);
      return true;
    } catch {
      return false;
    }
  };
  const send = (e: RelayEvent) => {
    const id = Number(e.eventId);
    if (id <= lastSent) return;
    lastSent = id;
    handle.lastEventAt = Date.now();
    write(encoder.encode(`data: ${JSON.stringify(e)}\n\n`));
  };
  const stop = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    unsubscribeControl();
    untrack();
  };
  const handle = {
    lastEventAt: Date.now(),
    keepAlive: () => write(KEEP_ALIVE),
    end: () => {
      if (closed) return;
      write(DONE);
      stop();
      try {
        controller.close();
      } catch { /* already closed by the client */ }
    },
  };
  // Subscribe before reading the log so nothing published in between is lost.
  const unsubscribe = deps.events.subscribe(requestChannel(serverId), (payload) => {
    if (replaying) buffered.push(payload as RelayEvent);
    else if (!closed && !allowed()) handle.end();
    else send(payload as RelayEvent);
  });
  // A revoked registration ends its streams at once.
  const unsubscribeControl = deps.events.subscribe(
    relayControlChannel(serverId),
    () => handle.end(),
  );
  untrack = deps.relay.track(handle);
  write(HANDSHAKE);
  for (let page = 0; page < REPLAY_MAX_PAGES && !closed; page++) {
    const events = listReplayRequests(deps, serverId, lastSent, REPLAY_PAGE);
    for (const e of events) send(e);
    if (events.length < REPLAY_PAGE) break;
  }
  replaying = false;
  buffered.sort((a, b) => Number(a.eventId) - Number(b.eventId)).forEach(send);
  buffered.length = 0;
  return stop;
}
