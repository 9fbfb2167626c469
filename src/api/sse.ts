/**
 * The HTTP side of the event streams: their response headers (Dust's), and the connection's
 * completion, which the core holds a stream's slot until (a client that stopped reading keeps
 * its connection, and so its slot, until it closes it).
 * @module
 */
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";

const SSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  "Connection": "keep-alive",
  "X-Accel-Buffering": "no",
};

/** Settles when Deno has finished the response (sent, or the client gone); absent in-process. */
export function connectionDone(c: Context<AppEnv>): Promise<unknown> | undefined {
  return (c.env as Partial<Deno.ServeHandlerInfo> | undefined)?.completed;
}

/** A 200 event-stream response around `body`. */
export function sseResponse(
  body: ReadableStream<Uint8Array>,
  extraHeaders: Record<string, string> = {},
): Response {
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...extraHeaders } });
}
