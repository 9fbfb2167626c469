/**
 * A bounded in-memory fixed-window counter (sign-in failures, client registrations). At most
 * `maxKeys` keys are tracked; when full, the oldest window is dropped, so memory stays bounded
 * whatever an attacker sends.
 * @module
 */

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
