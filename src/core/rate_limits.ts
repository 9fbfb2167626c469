/**
 * Rate limits for `/mcp`: fixed one-minute windows counted per key, where a key names a user,
 * a credential (token / grant) or an OAuth client — never an IP address alone, because many
 * users share one egress (Claude's and ChatGPT's connectors call from the vendor's IPs).
 *
 * Memory is bounded: at most `maxKeys` counters live at once; when full, the oldest window is
 * evicted first (a Map keeps insertion order, and a key is re-inserted when its window
 * rolls), so a flood of distinct keys cannot grow the process.
 *
 * Several instances: the counters stay in each instance's memory and each instance allows its
 * share of every limit, the limit divided by the live instances (`Cluster.share`, refreshed
 * every heartbeat), so the cluster never allows more than the limit (a client pinned to one
 * instance gets its share only; a round-robin balancer spreads it evenly). A counter in the
 * database — three `INSERT … ON CONFLICT DO UPDATE` per `tools/call` — was measured instead
 * (bench/rate_counter.ts, identity `tools/call` on one hot token): 60 % of the in-memory
 * throughput on SQLite, 36–74 % on PostgreSQL at 32 clients (+0.4–0.8 ms per call at one client),
 * a price the hot path should not pay for a limit that only needs to be approximately right.
 * @module
 */
import { rateLimited } from "../errors.ts";

/** Per-minute budgets. Defaults are documented in the README ("Rate limits"). */
export interface RateBudgets {
  /** Tool calls per user per minute (all of the user's clients and tokens together). */
  toolCallsPerUser: number;
  /** Tool calls per OAuth client (or per MCP token for token clients) per minute. */
  toolCallsPerClient: number;
  /** HTTP requests to `/mcp` per credential (token or grant) per minute. */
  requestsPerCredential: number;
}

export const DEFAULT_RATE_BUDGETS: RateBudgets = {
  toolCallsPerUser: 120,
  toolCallsPerClient: 600,
  requestsPerCredential: 1200,
};

const WINDOW_MS = 60_000;

interface Window {
  start: number;
  count: number;
}

/** Outcome of one {@link RateLimiter.hit}: allowed, or refused with seconds to wait. */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number; key: string };

/** Fixed-window counters keyed by strings such as `user:<sId>` or `client:<id>`. */
export class RateLimiter {
  #windows = new Map<string, Window>();
  constructor(readonly maxKeys = 50_000) {}

  /**
   * Count one event against every key; refuse (without counting) when any key is already at
   * its limit. Keys are checked before any is incremented so a refusal costs no budget.
   */
  hit(keys: ReadonlyArray<readonly [string, number]>, at = Date.now()): RateDecision {
    for (const [key, limit] of keys) {
      const w = this.#current(key, at);
      if (w.count >= limit) {
        return {
          ok: false,
          key,
          retryAfterSeconds: Math.max(1, Math.ceil((w.start + WINDOW_MS - at) / 1000)),
        };
      }
    }
    for (const [key] of keys) this.#current(key, at).count++;
    return { ok: true };
  }

  /** Number of live counters (tests check the bound). */
  get size(): number {
    return this.#windows.size;
  }

  #current(key: string, at: number): Window {
    let w = this.#windows.get(key);
    if (w && at - w.start < WINDOW_MS) return w;
    if (w) this.#windows.delete(key);
    while (this.#windows.size >= this.maxKeys) {
      const oldest = this.#windows.keys().next().value;
      if (oldest === undefined) break;
      this.#windows.delete(oldest);
    }
    w = { start: at, count: 0 };
    this.#windows.set(key, w);
    return w;
  }
}

/** Who is calling, for keying: the user, the credential and the client. */
export interface RateSubject {
  userSId: string;
  credentialId: string;
  clientId: string;
}

/** Count one `/mcp` HTTP request; throws a 429 AppError (with `retryAfter`) when over budget. */
export function consumeRequestBudget(
  limiter: RateLimiter,
  budgets: RateBudgets,
  subject: RateSubject,
  at = Date.now(),
): void {
  const d = limiter.hit([[`cred:${subject.credentialId}`, budgets.requestsPerCredential]], at);
  if (!d.ok) {
    throw rateLimited(
      `Too many requests for this token: at most ${budgets.requestsPerCredential} per minute. Retry in ${d.retryAfterSeconds} s.`,
      d.retryAfterSeconds,
    );
  }
}

/** Count one tool call against the user and client budgets; throws a 429 AppError when over. */
export function consumeToolCallBudget(
  limiter: RateLimiter,
  budgets: RateBudgets,
  subject: RateSubject,
  at = Date.now(),
): void {
  const d = limiter.hit([
    [`user:${subject.userSId}`, budgets.toolCallsPerUser],
    [`client:${subject.clientId}`, budgets.toolCallsPerClient],
  ], at);
  if (!d.ok) {
    const who = d.key.startsWith("user:")
      ? `${budgets.toolCallsPerUser} tool calls per minute per user`
      : `${budgets.toolCallsPerClient} tool calls per minute per client`;
    throw rateLimited(
      `Rate limit exceeded: at most ${who}. Retry in ${d.retryAfterSeconds} seconds.`,
      d.retryAfterSeconds,
    );
  }
}
