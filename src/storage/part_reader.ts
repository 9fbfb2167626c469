/**
 * Cuts a body into upload parts of a fixed size, one part in memory at a time: a stream is read
 * into one reused buffer (plus at most the one chunk that straddles a part boundary), so an
 * upload's memory is bounded by the part size whatever the body's length.
 * @module
 */

/** The parts of a body, in order. */
export interface PartSource {
  /** The next part (at most the part size; only the last may be shorter), or null at the end.
   * The bytes stay valid until the following call. */
  next(): Promise<Uint8Array | null>;
  /** Whether bytes follow the part `next()` returned last (may read one chunk ahead). */
  hasMore(): Promise<boolean>;
  /** Stop reading (the source's error, or ours, goes to the stream). */
  cancel(reason: unknown): Promise<void>;
}

/** The parts of bytes already in memory: views, no copies. */
export function bytesParts(bytes: Uint8Array, partSize: number): PartSource {
  let offset = 0;
  let started = false;
  return {
    next() {
      // An empty body still has one (empty) part; after the last part there is none.
      if (started && offset >= bytes.length) return Promise.resolve(null);
      started = true;
      const part = bytes.subarray(offset, offset + partSize);
      offset += part.length;
      return Promise.resolve(part);
    },
    hasMore: () => Promise.resolve(offset < bytes.length),
    cancel: () => Promise.resolve(),
  };
}

/** The parts of a stream, read into one buffer of `partSize` bytes that every part reuses. */
export function streamParts(stream: ReadableStream<Uint8Array>, partSize: number): PartSource {
  const reader = stream.getReader();
  const buffer = new Uint8Array(partSize);
  let pending: Uint8Array | null = null;
  let done = false;
  let started = false;

  /** One more non-empty chunk, or null at the end of the stream. */
  async function pull(): Promise<Uint8Array | null> {
    while (!done) {
      const r = await reader.read();
      if (r.done) done = true;
      else if (r.value.length > 0) return r.value;
    }
    return null;
  }

  return {
    async next() {
      let filled = 0;
      while (filled < partSize) {
        const chunk = pending ?? await pull();
        pending = null;
        if (chunk === null) break;
        const take = Math.min(chunk.length, partSize - filled);
        buffer.set(chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.length) pending = chunk.subarray(take);
      }
      const first = !started;
      started = true;
      // An empty stream still has one (empty) part; after the last part there is none.
      return filled > 0 || first ? buffer.subarray(0, filled) : null;
    },
    async hasMore() {
      pending ??= await pull();
      return pending !== null;
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  };
}
