/**
 * Long-lived responses (SSE) must end when the server stops: `Deno.serve`'s `shutdown()` waits
 * for every open response body to finish, so one open event stream would hang it forever.
 * {@link endOnShutdown} wraps a body so that aborting `deps.shutdown` closes it cleanly (the
 * client sees the end of the stream) and cancels the source (so its cleanup runs).
 * @module
 */
import type { MiddlewareHandler } from "hono";

const abortCallbacks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Run `fn` once when `signal` aborts (not when it already has: callers check `aborted`);
 * returns the undo. One listener per signal however many callers: Deno's `EventTarget` adds and
 * removes a listener in time linear in the listeners it holds, and every open event stream
 * listened to the server's one shutdown signal (10,000 streams: 10 s of CPU in
 * `addEventListener`, measured by bench/streams.ts).
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = abortCallbacks.get(signal);
  if (!set) {
    const callbacks = new Set<() => void>();
    abortCallbacks.set(signal, set = callbacks);
    signal.addEventListener("abort", () => {
      for (const f of [...callbacks]) {
        callbacks.delete(f);
        f();
      }
    }, { once: true });
  }
  const callbacks = set;
  callbacks.add(fn);
  return () => void callbacks.delete(fn);
}

/**
 * A copy of `body` that closes as soon as `signal` aborts, cancelling the source stream.
 * Closing (not erroring) lets the client read the events it already received and reconnect.
 */
export function endOnShutdown(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  let forget = () => {};
  let end = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      end = () => {
        if (ended) return;
        ended = true;
        forget();
        reader.cancel("server shutting down").catch(() => {});
        controller.close();
      };
      if (signal.aborted) end();
      else forget = onAbort(signal, () => end());
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (ended) return;
        if (done) {
          ended = true;
          forget();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        if (ended) return;
        ended = true;
        forget();
        controller.error(e);
      }
    },
    cancel(reason) {
      ended = true;
      forget();
      return reader.cancel(reason);
    },
  });
}

/** Bodies that end themselves when the server stops (the event-log streams). */
const selfEnding = new WeakSet<ReadableStream<Uint8Array>>();

/**
 * Mark `body` as ending itself on shutdown: the middleware serves it as is, without a second
 * stream around it (per open stream, one stream fewer to hold and to pass each chunk through).
 */
export function endsOnShutdown(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  selfEnding.add(body);
  return body;
}

/** Content types of responses that stay open until the server or the client ends them. */
const STREAMING_TYPES = /^(text\/event-stream|application\/x-ndjson)\b/i;

/**
 * Middleware: every event-stream response of the app ends when `signal` aborts, so SSE
 * endpoints need no shutdown code of their own (they may still listen to `deps.shutdown`).
 */
export function endStreamsOnShutdown(signal: AbortSignal): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const res = c.res;
    // Content type first: reading `body` turns a fixed body into a stream (slower to serve).
    if (!STREAMING_TYPES.test(res.headers.get("content-type") ?? "") || !res.body) return;
    if (selfEnding.has(res.body)) return;
    c.res = new Response(endOnShutdown(res.body, signal), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}
