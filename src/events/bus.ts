/**
 * Publish/subscribe behind a small interface, with two implementations: in-process (SQLite: one
 * instance) and PostgreSQL `LISTEN/NOTIFY` (`pg_bus.ts`: every instance on the database).
 * Channels are plain strings (`conversation:<sId>`, `message:<sId>`, `relay:<serverId>`, …).
 *
 * What crosses instances is a **note**: a small JSON value naming rows (`{eventId}`,
 * `{resultId}`), never the rows themselves; listeners read the database. A note is bounded by
 * {@link MAX_NOTE_BYTES} in BOTH buses, so a publisher that puts a payload on the bus is caught
 * by the SQLite tests too, not only by PostgreSQL's 8000-byte NOTIFY limit in production.
 * `publish` may also carry a `localPayload` (the full event) that the in-process bus delivers
 * instead of the note: the one-instance fast path (an event stream writes the frame without
 * reading the log). On the shared bus every listener gets the note.
 *
 * After a gap in delivery (the listening connection was lost and re-established), the shared
 * bus delivers {@link RESYNC} on every channel it has listeners for: a listener that keeps a
 * cursor catches up from the database, so a missed notification only delays.
 * @module
 */

export type Listener = (payload: unknown) => void;

/** Largest note (its JSON text, in bytes) a publish may carry across instances. */
export const MAX_NOTE_BYTES = 2048;
/** Longest channel name (the envelope must stay well under PostgreSQL's 8000 bytes). */
export const MAX_CHANNEL_CHARS = 512;

/** Delivered on every channel after a gap: read what you follow from the database again. */
export const RESYNC: Readonly<{ resync: true }> = Object.freeze({ resync: true });

/** True for {@link RESYNC} (and any payload that names nothing to read). */
export function isResync(payload: unknown): boolean {
  return typeof payload === "object" && payload !== null &&
    (payload as { resync?: unknown }).resync === true;
}

export interface EventBus {
  /**
   * True when other instances publish and subscribe on the same channels (PostgreSQL): then
   * listeners get notes only, and whoever keeps a cursor reads the rows.
   */
  readonly shared: boolean;
  /**
   * Deliver `note` to the channel's listeners on every instance (a JSON value of at most
   * {@link MAX_NOTE_BYTES}; more throws: a bug). The in-process bus delivers `localPayload`
   * instead when given.
   */
  publish(channel: string, note: unknown, localPayload?: unknown): void;
  /** Deliver to this instance's listeners only (never serialised, not bounded). */
  publishLocal(channel: string, payload: unknown): void;
  /** Returns the unsubscribe function. */
  subscribe(channel: string, listener: Listener): () => void;
  /** Number of listeners on a channel on this instance (tests and metrics). */
  listenerCount(channel: string): number;
  /** Stop delivering (waits for notifications being sent). */
  close(): Promise<void>;
}

/** A note that cannot cross instances: too large, or not JSON. */
export class BusNoteError extends Error {
  override name = "BusNoteError";
}

const encoder = new TextEncoder();

/** The JSON text of a note, checked against the bounds (throws {@link BusNoteError}). */
export function noteText(channel: string, note: unknown): string {
  if (channel.length > MAX_CHANNEL_CHARS) {
    throw new BusNoteError(`event bus channel name over ${MAX_CHANNEL_CHARS} characters`);
  }
  const text = JSON.stringify(note);
  if (text === undefined) throw new BusNoteError(`event bus note on ${channel} is not JSON`);
  // Characters are at most 3 UTF-8 bytes each: count exactly only when it could matter.
  if (text.length * 3 > MAX_NOTE_BYTES && encoder.encode(text).length > MAX_NOTE_BYTES) {
    throw new BusNoteError(
      `event bus note on ${channel.split(":")[0]}:… is over ${MAX_NOTE_BYTES} bytes: ` +
        "publish row ids and let listeners read the rows",
    );
  }
  return text;
}

/** The listeners of this process, by channel (shared by both buses). */
export class LocalListeners {
  readonly #channels = new Map<string, Set<Listener>>();
  constructor(private readonly onListenerError?: (e: unknown) => void) {}

  deliver(channel: string, payload: unknown): void {
    const set = this.#channels.get(channel);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(payload);
      } catch (e) {
        this.onListenerError?.(e);
      }
    }
  }

  /** Deliver `payload` on every channel that has listeners. */
  deliverEverywhere(payload: unknown): void {
    for (const channel of [...this.#channels.keys()]) this.deliver(channel, payload);
  }

  subscribe(channel: string, listener: Listener): () => void {
    let set = this.#channels.get(channel);
    if (!set) this.#channels.set(channel, set = new Set());
    set.add(listener);
    return () => {
      const s = this.#channels.get(channel);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.#channels.delete(channel);
    };
  }

  count(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }
}

/** The in-process bus (SQLite: this instance is the only one). */
export function createEventBus(onListenerError?: (e: unknown) => void): EventBus {
  const listeners = new LocalListeners(onListenerError);
  return {
    shared: false,
    publish(channel, note, localPayload) {
      noteText(channel, note);
      listeners.deliver(channel, localPayload === undefined ? note : localPayload);
    },
    publishLocal(channel, payload) {
      listeners.deliver(channel, payload);
    },
    subscribe: (channel, listener) => listeners.subscribe(channel, listener),
    listenerCount: (channel) => listeners.count(channel),
    close: () => Promise.resolve(),
  };
}
