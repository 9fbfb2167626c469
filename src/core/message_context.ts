/**
 * The context of a user message, validated like Dust's `UserMessageContextSchema`: username
 * required, timezone a valid IANA name, username/timezone/fullName/email under 255 chars.
 * @module
 */
import type { Actor } from "../auth/actor.ts";
import { fullName } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { requireUser } from "./access.ts";

/** Dust's `UserMessageContextSchema` (validated by {@link validateContext}). */
export interface MessageContext {
  username: string;
  timezone: string;
  fullName?: string | null;
  email?: string | null;
  profilePictureUrl?: string | null;
  origin?: string | null;
  clientSideMCPServerIds?: string[] | null;
  selectedMCPServerViewIds?: string[] | null;
  lastTriggerRunAt?: number | null;
}

const MAX_CONTEXT_FIELD = 255;

/**
 * Time zones already accepted. Building an `Intl.DateTimeFormat` to test a name costs ~0.4 ms
 * and every posted message checks its context's zone (2 % of the server's CPU under
 * bench/load_mixed.ts); the IANA list is finite, so remembering the valid ones is bounded.
 */
const knownTimezones = new Set<string>();

/** True when `tz` is an IANA time zone name the runtime knows. */
export function isValidTimezone(tz: string): boolean {
  if (tz.length === 0 || tz.length >= MAX_CONTEXT_FIELD) return false;
  if (knownTimezones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    return false;
  }
  if (knownTimezones.size < 2048) knownTimezones.add(tz);
  return true;
}

/** Validate and normalise a message context as Dust does (400 naming the field). */
export function validateContext(ctx: MessageContext): MessageContext {
  if (!ctx.username) throw invalid("context.username: required");
  for (const f of ["username", "timezone", "fullName", "email"] as const) {
    const v = ctx[f];
    if (typeof v === "string" && v.length >= MAX_CONTEXT_FIELD) {
      throw invalid(`context.${f}: must be less than ${MAX_CONTEXT_FIELD} characters`);
    }
  }
  if (!isValidTimezone(ctx.timezone)) {
    throw invalid(`context.timezone: "${ctx.timezone}" is not a valid IANA time zone name`);
  }
  return {
    username: ctx.username,
    timezone: ctx.timezone,
    fullName: ctx.fullName ?? null,
    email: ctx.email?.toLowerCase() ?? null,
    profilePictureUrl: ctx.profilePictureUrl ?? null,
    origin: ctx.origin ?? "api",
    clientSideMCPServerIds: ctx.clientSideMCPServerIds ?? [],
    selectedMCPServerViewIds: ctx.selectedMCPServerViewIds ?? [],
    lastTriggerRunAt: ctx.lastTriggerRunAt ?? null,
  };
}

function serverTimezone(): string {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return tz && isValidTimezone(tz) ? tz : "UTC";
}

/**
 * The context Dust's MCP tools post with: the user's identity, the server's time zone, and the
 * client-side MCP servers the caller named (none unless given; `preparePost` checks them).
 */
export function defaultMessageContext(
  actor: Actor,
  clientSideMCPServerIds: string[] = [],
): MessageContext {
  const { user } = requireUser(actor);
  return {
    username: user.username,
    timezone: serverTimezone(),
    fullName: fullName(user),
    email: user.email,
    profilePictureUrl: user.imageUrl,
    origin: "api",
    clientSideMCPServerIds,
    selectedMCPServerViewIds: [],
    lastTriggerRunAt: null,
  };
}
