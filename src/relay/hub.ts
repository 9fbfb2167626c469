/**
 * The in-process state of the client-side MCP relay that is not in the database: the register
 * rate limiter, the open request streams and the one shared timer that writes their
 * keep-alives and ends them when idle. Durable state (registrations, the request log) lives in
 * SQLite (`src/core/relay_registry.ts`, `src/core/relay_requests.ts`); live delivery goes through `deps.events`.
 * @module
 */

/** Timings of the relay (Dust's values; tests may shorten them on a running server). */
export interface RelayTimings {
  /** Registration lifetime, refreshed by heartbeat, stream open and result posts. */
  registrationTtlMs: number;
  /** How long an unanswered request stays replayable. */
  requestTtlMs: number;
  /** A request stream ends (`data: done`) after this long without a request. */
  streamIdleMs: number;
  /** Comment keep-alive period: the SDK's EventSource reconnects after 45 s of silence. */
  keepAliveMs: number;
  /** Register calls allowed per user per minute. */
  registerPerMinute: number;
  /** `initialize` over the relay: near-instant when the client is connected (Dust: 5 s). */
  connectTimeoutMs: number;
  /** One tool call on a client-side server (Dust's `DEFAULT_MCP_REQUEST_TIMEOUT_MS`). */
  callTimeoutMs: number;
}

export const DEFAULT_RELAY_TIMINGS: RelayTimings = {
  registrationTtlMs: 10 * 60_000,
  requestTtlMs: 10 * 60_000,
  streamIdleMs: 5 * 60_000,
  keepAliveMs: 25_000,
  registerPerMinute: 100,
  connectTimeoutMs: 5_000,
  callTimeoutMs: 3 * 60_000,
};

/** One open request stream, as the shared ticker sees it. */
export interface OpenStream {
  /** Write a keep-alive comment (returns false when the stream is gone). */
  keepAlive(): boolean;
  /** Time of the last request written (or of the open). */
  lastEventAt: number;
  /** End the stream with `data: done`. */
  end(): void;
}

/** Relay state held by `deps.relay`. */
export class RelayHub {
  timings: RelayTimings;
  readonly #registerCalls = new Map<number, number[]>();
  readonly #streams = new Set<OpenStream>();
  #ticker: Awaited<ReturnType<typeof setInterval>> | null = null;
  #tickEveryMs = 0;

  constructor(
    readonly shutdown: AbortSignal,
    timings: Partial<RelayTimings> = {},
  ) {
    this.timings = { ...DEFAULT_RELAY_TIMINGS, ...timings };
    shutdown.addEventListener("abort", () => this.#endAll(), { once: true });
  }

  /**
   * Count one register call for `userId`; returns the seconds to wait when over the limit
   * (sliding one-minute window), else 0.
   */
  takeRegisterSlot(userId: number, at = Date.now()): number {
    const windowStart = at - 60_000;
    const calls = (this.#registerCalls.get(userId) ?? []).filter((t) => t > windowStart);
    if (calls.length >= this.timings.registerPerMinute) {
      this.#registerCalls.set(userId, calls);
      return Math.max(1, Math.ceil((calls[0] + 60_000 - at) / 1000));
    }
    calls.push(at);
    this.#registerCalls.set(userId, calls);
    // Bound the map: forget users whose window is empty.
    if (this.#registerCalls.size > 10_000) this.#pruneRegisterCalls(windowStart);
    return 0;
  }

  #pruneRegisterCalls(windowStart: number): void {
    for (const [user, calls] of this.#registerCalls) {
      if (calls.every((t) => t <= windowStart)) this.#registerCalls.delete(user);
    }
  }

  /** Number of open request streams (metrics, tests, bench). */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Track a stream for keep-alives and idle ending; returns the function that untracks it. */
  track(stream: OpenStream): () => void {
    if (this.shutdown.aborted) {
      stream.end();
      return () => {};
    }
    this.#streams.add(stream);
    this.#ensureTicker();
    return () => {
      this.#streams.delete(stream);
      if (this.#streams.size === 0) this.#stopTicker();
    };
  }

  /** One timer for every stream: 1,000 idle streams cost one interval, not 2,000 timers. */
  #ensureTicker(): void {
    const every = Math.max(10, Math.min(this.timings.keepAliveMs, this.timings.streamIdleMs) / 2);
    if (this.#ticker !== null && every === this.#tickEveryMs) return;
    this.#stopTicker();
    this.#tickEveryMs = every;
    let lastKeepAlive = Date.now();
    this.#ticker = setInterval(() => {
      const t = Date.now();
      // Half a tick of slack so timer jitter never stretches the gap by a whole tick.
      const sendKeepAlive = t - lastKeepAlive >= this.timings.keepAliveMs - every / 2;
      if (sendKeepAlive) lastKeepAlive = t;
      for (const s of [...this.#streams]) {
        if (t - s.lastEventAt >= this.timings.streamIdleMs) s.end();
        else if (sendKeepAlive && !s.keepAlive()) s.end();
      }
    }, every);
  }

  #stopTicker(): void {
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
  }

  #endAll(): void {
    for (const s of [...this.#streams]) s.end();
    this.#streams.clear();
    this.#stopTicker();
  }
}
