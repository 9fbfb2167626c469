/**
 * Database reads shared among concurrent callers without ever answering one of them with a read
 * sent before it asked. Per key, at most one read runs and one waits: a caller joins the waiting
 * read (it has not started, so it will see everything committed before this call), or starts a
 * read when none runs, or queues one behind the running read (which may have been sent before a
 * commit this caller already knows of). However many callers, one read runs and one waits per key.
 *
 * Used where one answer serves many at once: the credential epoch every `/mcp` request checks on
 * PostgreSQL (src/db/credential_epoch.ts), and the log page every stream of a conversation reads
 * after one event note (src/events/log_stream.ts, held by `deps.streams`).
 * @module
 */

interface Slot<T> {
  running: boolean;
  /** The read that starts when the running one settles (shared by everyone waiting for it). */
  queued: Promise<T> | null;
  /** Starts the queued read. */
  release: (() => void) | null;
}

export class FreshReads<T> {
  #slots = new Map<string, Slot<T>>();

  /** `read()`'s result, from a read that starts after this call (shared; see the module doc). */
  read(key: string, read: () => Promise<T>): Promise<T> {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { running: false, queued: null, release: null };
      this.#slots.set(key, slot);
    }
    if (slot.queued) return slot.queued;
    if (!slot.running) return this.#start(key, slot, read);
    const s = slot;
    s.queued = new Promise<void>((r) => (s.release = r)).then(() => this.#start(key, s, read));
    return s.queued;
  }

  /** Keys with a read running or waiting (bounded by the callers in flight). */
  get size(): number {
    return this.#slots.size;
  }

  #start(key: string, slot: Slot<T>, read: () => Promise<T>): Promise<T> {
    slot.queued = null;
    slot.release = null;
    slot.running = true;
    let p: Promise<T>;
    try {
      p = read();
    } catch (e) {
      p = Promise.reject(e);
    }
    const settled = () => {
      slot.running = false;
      if (slot.release) slot.release();
      else if (this.#slots.get(key) === slot) this.#slots.delete(key);
    };
    p.then(settled, settled);
    return p;
  }
}
