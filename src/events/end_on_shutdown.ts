/**
 * Long-lived responses (SSE) must end when the server stops: `Deno.serve`'s `shutdown()` waits
 * for every open response body to finish, so one open event stream would hang it forever.
 * {@link endOnShutdown} wraps a body so that aborting `deps.shutdown` closes it cleanly (the
 * client sees the end of the stream) and cancels the source (so its cleanup runs).
 * @module
 */
import type { MiddlewareHandler } from "hono";

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
  const onAbort = () => end();
  let end = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      end = () => {
        if (ended) return;
        ended = true;
        signal.removeEventListener("abort", onAbort);
        reader.cancel("server shutting down").catch(() => {});
        controller.close();
      };
      if (signal.aborted) end();
      else signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (ended) return;
        if (done) {
          ended = true;
          signal.removeEventListener("abort", onAbort);
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        if (ended) return;
        ended = true;
        signal.removeEventListener("abort", onAbort);
        controller.error(e);
      }
    },
    cancel(reason) {
      ended = true;
      signal.removeEventListener("abort", onAbort);
      return reader.cancel(reason);
    },
  });
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
    c.res = new Response(endOnShutdown(res.body, signal), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}
