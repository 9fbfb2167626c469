/**
 * Budgets of the long-lived event streams (conversation, agent-message and relay request
 * streams), held by `deps.streams`: how many streams one owner (a user, whatever credential it
 * uses, or an API key) and the whole instance may hold open, how many bytes one stream may
 * queue for its reader, how long a full queue may wait for a reader that takes nothing, and
 * the shared cache of large encoded frames (so many readers of one large event share one copy).
 *
 * A slot is taken before the first byte (past a limit: 429 `rate_limit_error`) and given back
 * once the stream has ended **and** the HTTP response is over: a client that stops reading keeps
 * its connection (and its socket buffers) until it closes it, so it keeps its slot until then.
 * The aggregate worst case of queued bytes is `total × bufferBytes`.
 * @module
 */
import type { Actor } from "../auth/actor.ts";
import { rateLimited } from "../errors.ts";
import { FreshReads } from "../util/fresh_reads.ts";
import type { LogRow } from "./log_stream.ts";

export interface StreamLimits {
  /** Open streams per owner (user or API key). */
  perOwner: number;
  /** Open streams on the instance. */
  total: number;
  /** Bytes one stream may queue before it waits for its reader. */
  bufferBytes: number;
}

/** Timings; tests may shorten them on a running server (`deps.streams.timings`). */
export interface StreamTimings {
  /** A stream whose queue stays full this long without the reader taking a byte is cut. */
  stallMs: number;
}

/** Seconds a refused client is told to wait: slots come back as other streams end. */
const RETRY_AFTER_S = 10;
/** Bytes of encoded frames kept for re-use, and the largest frame kept. */
const FRAME_CACHE_BYTES = 32 * 1024 * 1024;
const FRAME_CACHE_MAX_ENTRY = 16 * 1024 * 1024;

/** The owner a stream counts against: the user behind any credential, or the API key. */
export function streamOwnerOf(actor: Actor): string {
  return actor.kind === "user" ? `user:${actor.user.id}` : `key:${actor.credential.id}`;
}

/**
 * One taken slot. It is given back when the stream released it and every promise it was held
 * until settled (each call frees at most once).
 */
export class StreamLease {
  #holds = 1;
  #free: (() => void) | null;
  #released = false;

  constructor(free: () => void) {
    this.#free = free;
  }

  /** Keep the slot until `p` settles too (the HTTP response's completion). */
  holdUntil(p: Promise<unknown> | undefined): void {
    if (!p || this.#free === null) return;
    this.#holds++;
    const done = () => this.#drop();
    p.then(done, done);
  }

  /** The stream ended (closed, cut or cancelled); idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#drop();
  }

  #drop(): void {
    if (--this.#holds > 0 || this.#free === null) return;
    const free = this.#free;
    this.#free = null;
    free();
  }
}

/**
 * Large encoded frames by log and event id, least recently used first out, bounded in bytes.
 * Ids of both logs are AUTOINCREMENT rows, never reused, so an entry never goes stale.
 */
export class FrameCache {
  readonly #frames = new Map<string, Uint8Array>();
  #bytes = 0;

  constructor(readonly maxBytes = FRAME_CACHE_BYTES, readonly maxEntry = FRAME_CACHE_MAX_ENTRY) {}

  get(key: string): Uint8Array | undefined {
    const frame = this.#frames.get(key);
    if (frame) {
      this.#frames.delete(key);
      this.#frames.set(key, frame);
    }
    return frame;
  }

  set(key: string, frame: Uint8Array): void {
    if (frame.length > this.maxEntry || this.#frames.has(key)) return;
    this.#frames.set(key, frame);
    this.#bytes += frame.length;
    for (const [k, f] of this.#frames) {
      if (this.#bytes <= this.maxBytes) break;
      this.#frames.delete(k);
      this.#bytes -= f.length;
    }
  }

  /** Bytes held (tests, metrics). */
  get bytes(): number {
    return this.#bytes;
  }
}

/** How long one read of a log's newest id answers every keep-alive catch-up of that log. */
export const NEWEST_ID_SHARED_MS = 1000;

/**
 * The newest id of each log, read once per {@link NEWEST_ID_SHARED_MS} for all its streams: on a
 * shared bus every stream checks at each keep-alive whether it missed a note, and 10,000 streams
 * opened together would otherwise read the log thousands of times a second. A note missed less
 * than that long before a keep-alive is then caught at the next one, or with the next event.
 */
export class NewestIds {
  readonly #reads = new Map<string, { at: number; id: Promise<number>; n: number }>();
  #n = 0;

  read(key: string, read: () => Promise<number>, at = Date.now()): Promise<number> {
    const held = this.#reads.get(key);
    if (held && at - held.at < NEWEST_ID_SHARED_MS) return held.id;
    // Entries are kept in insertion order: the old ones are at the front.
    for (const [k, e] of this.#reads) {
      if (at - e.at < NEWEST_ID_SHARED_MS) break;
      this.#reads.delete(k);
    }
    const id = read();
    const n = ++this.#n;
    this.#reads.delete(key);
    this.#reads.set(key, { at, id, n });
    // A failed read is not kept: the next keep-alive reads again.
    id.catch(() => {
      if (this.#reads.get(key)?.n === n) this.#reads.delete(key);
    });
    return id;
  }

  get size(): number {
    return this.#reads.size;
  }
}

/** Open-stream accounting of the instance (`deps.streams`). */
export class StreamBudget {
  readonly timings: StreamTimings = { stallMs: 10_000 };
  readonly frames = new FrameCache();
  /**
   * Log pages being read, shared by the streams that ask for the same page at once (after one
   * event, every caught-up stream of a conversation asks for the page after the same id).
   */
  readonly pages = new FreshReads<LogRow[]>();
  /** Logs' newest ids for the keep-alive catch-up on a shared bus. */
  readonly newestIds = new NewestIds();
  readonly #byOwner = new Map<string, number>();
  #total = 0;

  constructor(readonly limits: StreamLimits) {}

  /** Take a slot for `owner`, or throw 429 `rate_limit_error` (with Retry-After). */
  acquire(owner: string): StreamLease {
    const mine = this.#byOwner.get(owner) ?? 0;
    if (mine >= this.limits.perOwner) {
      throw rateLimited(
        `Too many open event streams: ${this.limits.perOwner} per user are allowed. ` +
          "Close one, or wait for one to end, before opening another.",
        RETRY_AFTER_S,
      );
    }
    if (this.#total >= this.limits.total) {
      throw rateLimited(
        "This server holds as many open event streams as it allows; retry later.",
        RETRY_AFTER_S,
      );
    }
    this.#byOwner.set(owner, mine + 1);
    this.#total++;
    return new StreamLease(() => {
      this.#total--;
      const left = (this.#byOwner.get(owner) ?? 1) - 1;
      if (left > 0) this.#byOwner.set(owner, left);
      else this.#byOwner.delete(owner);
    });
  }

  /** Slots held on the instance (tests, metrics, bench). */
  get open(): number {
    return this.#total;
  }

  /** Slots held by one owner. */
  openBy(owner: string): number {
    return this.#byOwner.get(owner) ?? 0;
  }
}
