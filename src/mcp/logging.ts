/**
 * MCP logging: `notifications/message` about the calls a client makes (each call's tool,
 * outcome and latency at `debug`, failures at `warning` / `error`), sent on the response stream
 * of the request they are about — the only stream a stateless server has.
 *
 * The client chooses the level, and nothing is sent before it did:
 * - 2026-07-28: per request, in the `_meta` envelope (`io.modelcontextprotocol/logLevel`);
 * - 2025 revisions: with `logging/setLevel`. There is no session to hold it, so the level is
 *   kept per credential and client ({@link LogLevels}, in memory, an hour after it was last
 *   set): the next requests of the same client on this instance log at that level.
 * @module
 */
import type { LoggingLevel, ServerContext } from "@modelcontextprotocol/server";
import { LOG_LEVEL_META_KEY, PROTOCOL_VERSION_META_KEY } from "./sdk.ts";
import type { McpCaller } from "./tool_kit.ts";

const SEVERITY: readonly LoggingLevel[] = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
];

export function isLoggingLevel(v: unknown): v is LoggingLevel {
  return typeof v === "string" && (SEVERITY as readonly string[]).includes(v);
}

const LEVEL_TTL_MS = 3600_000;

/** The levels legacy clients set, per credential and client; bounded, oldest evicted first. */
export class LogLevels {
  #map = new Map<string, { level: LoggingLevel; until: number }>();
  constructor(readonly max = 10_000) {}

  static keyOf(caller: McpCaller): string {
    return `${caller.actor.credential.id}\u0000${caller.clientId}`;
  }

  set(caller: McpCaller, level: LoggingLevel, at = Date.now()): void {
    const key = LogLevels.keyOf(caller);
    this.#map.delete(key);
    if (this.#map.size >= this.max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(key, { level, until: at + LEVEL_TTL_MS });
  }

  get(caller: McpCaller, at = Date.now()): LoggingLevel | undefined {
    const key = LogLevels.keyOf(caller);
    const e = this.#map.get(key);
    if (e && e.until <= at) this.#map.delete(key);
    return e && e.until > at ? e.level : undefined;
  }
}

/** The level a request asked for, or undefined when it asked for no log. */
export function requestedLevel(
  ctx: ServerContext,
  caller: McpCaller,
  levels: LogLevels,
): LoggingLevel | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (envelope && envelope[PROTOCOL_VERSION_META_KEY] !== undefined) {
    const level = envelope[LOG_LEVEL_META_KEY];
    return isLoggingLevel(level) ? level : undefined;
  }
  return levels.get(caller);
}

/** Send one log message related to the request, if its level reaches the requested one. */
export async function logToClient(
  ctx: ServerContext,
  threshold: LoggingLevel | undefined,
  level: LoggingLevel,
  data: Record<string, unknown>,
): Promise<void> {
  if (threshold === undefined || SEVERITY.indexOf(level) < SEVERITY.indexOf(threshold)) return;
  await ctx.mcpReq.notify({
    method: "notifications/message",
    params: { level, logger: "dust", data },
  }).catch(() => {});
}
