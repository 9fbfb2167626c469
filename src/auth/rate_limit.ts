/**
 * Client addresses for rate limits, and a bounded in-memory fixed-window counter (client
 * registrations). At most `maxKeys` keys are tracked; when full, the oldest window is dropped,
 * so memory stays bounded whatever an attacker sends — and so a flood of new keys can evict a
 * limited one: sign-in failures are counted in the database instead (`core/sign_in.ts`).
 * @module
 */

import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";

export class WindowLimiter {
  #hits = new Map<string, { count: number; resetAt: number }>();
  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly maxKeys = 10_000,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is under the limit (does not count). */
  retryAfter(key: string, at = Date.now()): number {
    const e = this.#hits.get(key);
    if (!e || e.resetAt <= at || e.count < this.limit) return 0;
    return Math.ceil((e.resetAt - at) / 1000);
  }

  /** Count one hit for `key`. */
  hit(key: string, at = Date.now()): void {
    const e = this.#hits.get(key);
    if (e && e.resetAt > at) {
      e.count++;
      return;
    }
    if (e) this.#hits.delete(key);
    if (this.#hits.size >= this.maxKeys) {
      const oldest = this.#hits.keys().next().value;
      if (oldest !== undefined) this.#hits.delete(oldest);
    }
    this.#hits.set(key, { count: 1, resetAt: at + this.windowMs });
  }

  /** Forget `key` (a successful sign-in clears its failures). */
  reset(key: string): void {
    this.#hits.delete(key);
  }
}

/** The peer address of a request served by `Deno.serve` (Hono's `c.env` is the serve info). */
export function remoteIp(env: unknown): string {
  const info = env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname ?? "unknown";
}

/**
 * The client's address: the last value of `--client-ip-header` when the operator set one
 * (the value the proxy in front of the server appended; earlier values are client-supplied),
 * else the peer address.
 */
export function clientAddress(c: Context<AppEnv>): string {
  const header = c.get("deps").config.clientIpHeader;
  const forwarded = header ? c.req.header(header)?.split(",").pop()?.trim() : undefined;
  return forwarded ? forwarded.slice(0, 64) : remoteIp(c.env);
}

/**
 * The unit an address is limited as: an IPv4 address (also IPv4-mapped IPv6) as is, an IPv6
 * address as its /64 (one subscriber usually holds a whole /64), anything else lowercased.
 */
export function addressBucket(address: string): string {
  const a = address.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped) return mapped[1];
  if (!a.includes(":")) return a;
  const [head, tail] = a.split("::", 2);
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined
    ? left
    : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return a;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
