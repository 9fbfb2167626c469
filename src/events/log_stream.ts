/**
 * One SSE body over a durable log (conversation and message events, relay requests), in Dust's
 * framing: `event: dust-handshake` + `data: {}` first, one `data: {"eventId","data"}` frame per
 * log row, `data: done` when the stream ends. The stream is a cursor over the log, not a copy of
 * it:
 *
 * - **Bounded queue.** Bytes are produced only while the queue holds less than the stream's
 *   buffer (`deps.streams.limits.bufferBytes`), in pieces of at most {@link CHUNK_BYTES}; a frame
 *   larger than a piece is written piece by piece, and between two refills only its id and
 *   offset are kept (its bytes come back from the shared frame cache or the log).
 * - **Lazy replay.** The log is read a page at a time, small payloads inline, only when the
 *   reader has taken half the buffer; nothing of the log is held beyond one refill.
 * - **Live events** are written from the published payload when the stream is caught up and
 *   the frame fits; otherwise the stream marks itself behind and catches up from the log, so a
 *   burst never piles up in memory. Ids below the cursor are dropped: each event exactly once.
 *   On a bus shared by several instances a live event is only a note (`{eventId}`): the stream
 *   always catches up from the log, which is ordered (a note may arrive before an earlier
 *   event's note from another instance, and writing it first would skip that one). A resync of
 *   the bus also catches up, and so does a keep-alive there when the log's newest id (read once
 *   a second per log, for all its streams) is past the stream's: a missed note only delays.
 * - **Slow readers are cut.** A stream with more to send whose queue stays full for
 *   `deps.streams.timings.stallMs` without the reader taking a byte is ended abruptly (the
 *   response is aborted, the queue dropped); the client resumes with the `eventId` of the last
 *   complete frame it read and loses nothing the log still holds.
 * - **Cleanup** (end, cut, client gone, shutdown) removes the subscription, timers and
 *   listeners and releases the stream's slot.
 * - **One thing at a time.** The source is read asynchronously (the database), so every piece of
 *   work — a refill, a live event — runs on one serial chain: frames leave in log order. A live
 *   event that arrives while work is queued keeps no payload: the stream marks itself behind and
 *   the queued refill reads it from the log, so a stalled database never piles payloads up.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { StreamLease } from "./stream_budget.ts";
import { endsOnShutdown, onAbort } from "./end_on_shutdown.ts";

/** One row of a log page: `payload` is inline when at most the inline bound, else null. */
export interface LogRow {
  id: number;
  /** Payload size in bytes (UTF-8). */
  size: number;
  payload: string | null;
  /** `data.type` when the source asked for it (see {@link LogSource.endsAfter}). */
  type?: string | null;
}

/** What a log stream reads and follows. */
export interface LogSource {
  /** Cache namespace of the log's ids (`events`, `relay`). */
  log: string;
  /** Live channel: published payloads are `{ eventId, data }`. */
  channel: string;
  /** Rows after `after`, oldest first, at most `limit`; payloads inline up to `inlineBytes`. */
  page(after: number, limit: number, inlineBytes: number): Promise<LogRow[]>;
  /** The payload of one row of this log, or null once it is gone (expired, answered). */
  payload(id: number): Promise<string | null>;
  /**
   * Re-checked before each live event (`eventId`; NaN when catching up after a resync or a
   * keep-alive): false ends the stream with `data: done`. Streams of one reader may share the
   * check of one event.
   */
  allowed(eventId: number): Promise<boolean> | boolean;
  /** Whether the stream ends right after an event of this `data.type` (message streams). */
  endsAfter?(type: string | null): boolean;
  /**
   * The newest id of the log (0 when it is empty). On a shared bus each keep-alive compares it
   * with the stream's last id and reads the log, access check included, only when it is ahead.
   */
  newest?(): Promise<number>;
}

/** The handle a stream's keep-alive and idle timer (or the relay's shared ticker) drives. */
export interface LogStreamHandle {
  /** Time of the last event written (or of the open). */
  lastEventAt: number;
  /** Write a keep-alive comment when it fits between frames; false once the stream is gone. */
  keepAlive(): boolean;
  /** End with `data: done` (or without it, mid-frame). */
  end(): void;
}

/** The error a cut stream's response is aborted with (logged at debug level, not as a fault). */
export class SlowReaderCut extends Error {
  override name = "SlowReaderCut";
  constructor() {
    super("event stream reader took nothing while its buffer was full; stream cut");
  }
}

/** Largest piece enqueued at once. */
export const CHUNK_BYTES = 16 * 1024;
/** Payloads up to this size come inline with a page and are written as one piece. */
const INLINE_BYTES = CHUNK_BYTES - 64;
const PAGE_ROWS = 32;

const encoder = new TextEncoder();
const HANDSHAKE = encoder.encode("event: dust-handshake\ndata: {}\n\n");
const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");
const DONE = encoder.encode("data: done\n\n");

/** The SSE frame of one log row; identical to `data: ${JSON.stringify({eventId, data})}`. */
function encodeFrame(id: number, payload: string): Uint8Array {
  return encoder.encode(`data: {"eventId":"${id}","data":${payload}}\n\n`);
}

/**
 * The frames of live events by the published object: the in-process bus hands one object to
 * every stream of a channel, so 10,000 readers of one event share one encoding (the bytes are
 * never written to, only read by each response).
 */
const liveFrames = new WeakMap<object, { id: number; frame: Uint8Array }>();

function liveFrame(id: number, data: Record<string, unknown>): Uint8Array {
  const hit = liveFrames.get(data);
  if (hit && hit.id === id) return hit.frame;
  const frame = encodeFrame(id, JSON.stringify(data));
  liveFrames.set(data, { id, frame });
  return frame;
}

/** The frames of log rows by row: the streams that shared one page read share its encodings. */
const rowFrames = new WeakMap<LogRow, Uint8Array>();

function rowFrame(row: LogRow & { payload: string }): Uint8Array {
  let frame = rowFrames.get(row);
  if (!frame) rowFrames.set(row, frame = encodeFrame(row.id, row.payload));
  return frame;
}

/**
 * Open the SSE body of `source` after the cursor `after`. `lease` is released when the stream
 * ends; `attach` wires the stream's timers (returns their cleanup).
 */
export function openLogStream(
  deps: Pick<Deps, "events" | "streams" | "shutdown" | "log">,
  lease: StreamLease,
  source: LogSource,
  after: number,
  attach: (handle: LogStreamHandle) => () => void,
): ReadableStream<Uint8Array> {
  let pump: LogPump | null = null;
  // The pump ends the stream on shutdown itself (`deps.shutdown`).
  return endsOnShutdown(
    new ReadableStream<Uint8Array>({
      start(controller) {
        pump = new LogPump(deps, lease, source, after, controller);
        pump.start(attach);
      },
      pull() {
        pump?.pull();
      },
      cancel() {
        pump?.cleanup();
        pump = null;
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: deps.streams.limits.bufferBytes })),
  );
}

/** A frame being written piece by piece: only its id and offset outlive a refill. */
interface Partial {
  id: number;
  offset: number;
  type: string | null;
}

class LogPump implements LogStreamHandle {
  lastEventAt = Date.now();
  #lastSent: number;
  /** More rows may wait in the log after the cursor. */
  #behind = true;
  #partial: Partial | null = null;
  /** The bytes of the partial frame, only during one refill. */
  #frame: Uint8Array | null = null;
  #closed = false;
  /** Work queued or running on the chain. */
  #busy = 0;
  #refillQueued = false;
  #chain: Promise<void> = Promise.resolve();
  #stall: Awaited<ReturnType<typeof setTimeout>> | undefined;
  #detach = () => {};
  #unsubscribe = () => {};
  #forgetShutdown = () => {};
  readonly #bufferBytes: number;

  constructor(
    readonly deps: Pick<Deps, "events" | "streams" | "shutdown" | "log">,
    readonly lease: StreamLease,
    readonly source: LogSource,
    after: number,
    readonly controller: ReadableStreamDefaultController<Uint8Array>,
  ) {
    this.#lastSent = after;
    this.#bufferBytes = deps.streams.limits.bufferBytes;
  }

  start(attach: (handle: LogStreamHandle) => () => void): void {
    // Subscribe before the first page is read, so nothing published in between is lost.
    this.#unsubscribe = this.deps.events.subscribe(
      this.source.channel,
      (payload) => this.#onLive(payload as { eventId?: string; data?: Record<string, unknown> }),
    );
    this.#enqueue(HANDSHAKE);
    const detach = attach(this);
    // attach may end the stream at once (e.g. during shutdown): then undo it here.
    if (this.#closed) return detach();
    this.#detach = detach;
    this.#forgetShutdown = onAbort(this.deps.shutdown, () => this.end());
    if (this.deps.shutdown.aborted) this.end();
  }

  /** The reader took bytes: refill once half the buffer is free. */
  pull(): void {
    if (this.#closed) return;
    clearTimeout(this.#stall);
    this.#stall = undefined;
    if (this.#room() >= this.#bufferBytes / 2) this.#queueRefill();
    else if (this.#pending()) this.#armStall();
  }

  keepAlive(): boolean {
    if (this.#closed) return false;
    // Shared bus: a note lost on the way (an instance killed between its commit and its
    // NOTIFY) is read from the log now instead of waiting for the next event. Decided before
    // the keep-alive is written: a reader waiting for bytes pulls at once, which queues a
    // refill, and the stream would look busy at every keep-alive.
    const catchUp = this.deps.events.shared && this.#busy === 0;
    // Never between two pieces of a frame, and never past the buffer.
    if (this.#partial === null && this.#room() > 0) this.#enqueue(KEEP_ALIVE);
    if (catchUp) this.#run(() => this.#catchUp());
    return !this.#closed;
  }

  /** A keep-alive's catch-up on a shared bus: only when the log holds an id past this stream's. */
  async #catchUp(): Promise<void> {
    const newest = this.source.newest;
    if (newest) {
      const key = `${this.source.log}\u0000${this.source.channel}`;
      if (await this.deps.streams.newestIds.read(key, newest) <= this.#lastSent) return;
    }
    await this.#live(NaN);
  }

  /** End with `data: done`; mid-frame the stream closes without it (the client drops the rest). */
  end(): void {
    if (this.#closed) return;
    if (this.#partial === null) this.#enqueue(DONE);
    this.cleanup();
    try {
      this.controller.close();
    } catch { /* the client already went away */ }
  }

  /** Release everything the stream holds; idempotent. */
  cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#detach();
    clearTimeout(this.#stall);
    this.#forgetShutdown();
    this.#partial = null;
    this.#frame = null;
    this.lease.release();
  }

  #cut(): void {
    if (this.#closed) return;
    this.deps.log.debug("slow event stream reader cut", { channel: this.source.channel });
    this.cleanup();
    this.controller.error(new SlowReaderCut());
  }

  #room(): number {
    return this.controller.desiredSize ?? 0;
  }

  #pending(): boolean {
    return this.#behind || this.#partial !== null;
  }

  #armStall(): void {
    if (this.#stall === undefined && !this.#closed) {
      this.#stall = setTimeout(() => this.#cut(), this.deps.streams.timings.stallMs);
    }
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.controller.enqueue(bytes);
    } catch {
      // The client went away between two writes.
      this.cleanup();
    }
  }

  /** Run `work` after everything queued before it; failures end the stream with an error. */
  #run(work: () => Promise<void>): void {
    this.#busy++;
    this.#chain = this.#chain.then(async () => {
      try {
        if (!this.#closed) await work();
      } catch (e) {
        this.deps.log.error("event stream failed", {
          channel: this.source.channel,
          error: String(e),
        });
        if (!this.#closed) {
          this.cleanup();
          this.controller.error(e);
        }
      } finally {
        this.#frame = null;
        this.#busy--;
      }
    });
  }

  #queueRefill(): void {
    if (this.#refillQueued || this.#closed) return;
    this.#refillQueued = true;
    this.#run(async () => {
      this.#refillQueued = false;
      await this.#fill();
    });
  }

  /**
   * A live event: the full event (in-process bus), a note naming it (shared bus: `data` is
   * undefined), or a resync (no id: catch up from the log).
   */
  #onLive(e: { eventId?: string; data?: Record<string, unknown> }): void {
    const id = e?.eventId === undefined ? NaN : Number(e.eventId);
    if (this.#closed || id <= this.#lastSent) return;
    if (this.#busy > 0) {
      // Work is queued: the refill it ends with reads this event from the log.
      this.#behind = true;
      return this.#queueRefill();
    }
    this.#run(async () => await this.#live(id, e?.data));
  }

  async #live(id: number, data?: Record<string, unknown>): Promise<void> {
    if (!(await this.source.allowed(id))) return this.end();
    if (this.#closed || id <= this.#lastSent) return;
    if (data === undefined || this.deps.events.shared) this.#behind = true;
    else if (!this.#pending()) {
      const frame = liveFrame(id, data);
      if (frame.length <= CHUNK_BYTES && this.#room() > 0) {
        this.#enqueue(frame);
        return this.#delivered(id, typeof data.type === "string" ? data.type : null);
      }
      // Too large to write at once: the log has it; keep the bytes for the refill.
      if (frame.length > CHUNK_BYTES) this.deps.streams.frames.set(this.#key(id), frame);
      this.#behind = true;
    }
    await this.#fill();
  }

  #delivered(id: number, type: string | null): void {
    this.#lastSent = id;
    this.lastEventAt = Date.now();
    if (this.source.endsAfter?.(type)) this.end();
  }

  #key(id: number): string {
    return `${this.source.log}:${id}`;
  }

  /** Write from the log while the queue has room (runs on the chain only). */
  async #fill(): Promise<void> {
    while (!this.#closed && this.#room() > 0) {
      if (this.#partial !== null) await this.#writePiece(this.#partial);
      else if (!this.#behind || !(await this.#writePage())) break;
    }
    this.#frame = null;
    if (!this.#closed && this.#pending() && this.#room() <= 0) this.#armStall();
  }

  /** Write one page of small rows (stops at the first large one); false when caught up. */
  async #writePage(): Promise<boolean> {
    // Shared with the other streams of this log reading the same page now (rows are read-only).
    const after = this.#lastSent;
    const key = `${this.source.log}\u0000${this.source.channel}\u0000${
      this.source.endsAfter ? 1 : 0
    }\u0000${after}`;
    const rows = await this.deps.streams.pages.read(
      key,
      () => this.source.page(after, PAGE_ROWS, INLINE_BYTES),
    );
    let i = 0;
    for (; i < rows.length && !this.#closed && this.#room() > 0; i++) {
      const row = rows[i];
      if (row.id <= this.#lastSent) continue;
      if (row.payload === null) {
        this.#partial = { id: row.id, offset: 0, type: row.type ?? null };
        return true;
      }
      this.#enqueue(rowFrame(row as LogRow & { payload: string }));
      this.#delivered(row.id, row.type ?? null);
    }
    if (i === rows.length && rows.length < PAGE_ROWS) this.#behind = false;
    return !this.#closed && this.#behind;
  }

  /** Write the next piece of a large frame. */
  async #writePiece(p: Partial): Promise<void> {
    this.#frame ??= await this.#loadFrame(p.id);
    const frame = this.#frame;
    if (frame === null) {
      // The row left the log (expired, or a relay request answered meanwhile).
      this.#partial = null;
      if (p.offset > 0) return this.#cut();
      this.#lastSent = p.id;
      return;
    }
    if (this.#closed) return;
    const end = Math.min(frame.length, p.offset + CHUNK_BYTES);
    // A copy: the queue must not pin the cached frame.
    this.#enqueue(frame.slice(p.offset, end));
    p.offset = end;
    if (end < frame.length) return;
    this.#partial = null;
    this.#frame = null;
    this.#delivered(p.id, p.type);
  }

  async #loadFrame(id: number): Promise<Uint8Array | null> {
    const key = this.#key(id);
    const cached = this.deps.streams.frames.get(key);
    if (cached) return cached;
    const payload = await this.source.payload(id);
    if (payload === null) return null;
    const frame = encodeFrame(id, payload);
    this.deps.streams.frames.set(key, frame);
    return frame;
  }
}
