/**
 * The request stream of one client-side server (`GET mcp/requests`, dust.md §3.5), in Dust's
 * framing (`src/events/log_stream.ts`): `event: dust-handshake` + `data: {}` first, then one
 * unnamed `data: {"eventId","data"}` frame per JSON-RPC message, comment keep-alives (the SDK's
 * EventSource reconnects after 45 s of silence; Dust sends none, which is why its clients
 * reconnect so often), and `data: done` when the stream ends after 5 idle minutes, on server
 * shutdown or when the registration is revoked. Replay of the unanswered log after
 * `lastEventId` comes first, read lazily as the reader drains; live messages follow, each
 * delivered once. Opening one takes a slot of the caller's stream budget (429 past it); a
 * reader that takes nothing while its buffer is full is cut and resumes with `lastEventId`.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { relayControlChannel, requireOwnedRegistration } from "../core/relay_registry.ts";
import { isCredentialActive } from "../core/credential_state.ts";
import { getRole } from "../core/workspaces.ts";
import {
  newestRelayRequestId,
  pageRelayLog,
  parseEventCursor,
  readRelayPayload,
  requestChannel,
} from "../core/relay_requests.ts";
import { openLogStream } from "../events/log_stream.ts";
import { streamOwnerOf } from "../events/stream_budget.ts";

/**
 * Open the request stream of a server the caller owns (403 `mcp_auth_error` otherwise, before
 * any byte). Returns the SSE body; access checks and the replay cursor are validated first.
 * `connection` settles when the HTTP response is over: the stream's slot is held until then.
 */
export async function openRelayRequestStream(
  deps: Deps,
  actor: Actor,
  input: { serverId: string; lastEventId?: string | null; connection?: Promise<unknown> },
): Promise<ReadableStream<Uint8Array>> {
  const cursor = parseEventCursor(input.lastEventId);
  const reg = await requireOwnedRegistration(deps, actor, input.serverId);
  const serverId = reg.serverId;
  const lease = deps.streams.acquire(streamOwnerOf(actor));
  lease.holdUntil(input.connection);
  const source = {
    log: "relay",
    channel: requestChannel(serverId),
    page: async (after: number, limit: number, inline: number) =>
      await pageRelayLog(deps, serverId, after, limit, inline),
    payload: async (id: number) => await readRelayPayload(deps, serverId, id),
    newest: async () => await newestRelayRequestId(deps, serverId),
    // Re-checked before every live request: a revoked token or a removed member stops receiving.
    allowed: async () =>
      await isCredentialActive(deps.db, actor.credential) &&
      (actor.kind !== "user" || await getRole(deps.db, actor.workspace.id, actor.user.id) !== null),
  };
  return openLogStream(deps, lease, source, cursor, (handle) => {
    // Keep-alives and the idle end come from the relay's one shared ticker.
    const untrack = deps.relay.track(handle);
    // A revoked registration ends its streams at once.
    const unsubscribe = deps.events.subscribe(relayControlChannel(serverId), (note) => {
      if ((note as { type?: string } | null)?.type === "revoked") handle.end();
    });
    return () => {
      untrack();
      unsubscribe();
    };
  });
}
