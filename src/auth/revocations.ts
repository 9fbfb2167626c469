/**
 * Revocations every instance hears at once: on PostgreSQL, triggers (migration 0010) notify the
 * bus's `auth:revoked` channel when an OAuth grant or an MCP token is revoked, or a membership
 * removed — whoever wrote the row (a request on any instance, an operator command). Holders of
 * memoised verifications (the verified-token cache, `/mcp`'s credential memo) drop the matching
 * entries. The per-request database check is what refuses a revoked credential; this only stops
 * memos from holding it (and their short TTLs are the backstop when a note is lost).
 * @module
 */
import type { EventBus } from "../events/bus.ts";
import { isResync } from "../events/bus.ts";

export const AUTH_REVOKED_CHANNEL = "auth:revoked";

/** The trigger's note. */
export interface RevokedNote {
  kind: "oauth" | "mcp_token" | "member";
  /** The grant or token sId (absent for a membership). */
  sId?: string;
  userId: number;
  workspaceId: number;
}

/**
 * Call `listener` with each revocation, and with null after a gap on the bus (anything may have
 * been revoked meanwhile: drop everything). Returns the unsubscribe function.
 */
export function onRevoked(
  events: EventBus,
  listener: (note: RevokedNote | null) => void,
): () => void {
  return events.subscribe(AUTH_REVOKED_CHANNEL, (payload) => {
    if (isResync(payload)) return listener(null);
    const note = payload as RevokedNote;
    if (note && typeof note.kind === "string") listener(note);
  });
}
