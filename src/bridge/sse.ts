/**
 * A small reader of `text/event-stream` bodies (the relay's request stream, dust.md §3.5):
 * frames separated by a blank line, `event:` and `data:` fields (several `data:` lines joined
 * by newlines), comment lines (`:`) reported as keep-alives. Nothing else is needed: the relay
 * sends no `id:` or `retry:` (its cursor is inside the JSON).
 * @module
 */

export interface SseFrame {
  event?: string;
  data?: string;
  /** True for a frame of comments only (a keep-alive). */
  comment?: boolean;
}

/** Most bytes one frame may have (a relayed request is at most a few MB). */
const MAX_FRAME_CHARS = 32 * 1024 * 1024;

/** Frames of an SSE body, in order; ends when the body ends. */
export async function* readSseFrames(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<SseFrame> {
  let buffer = "";
  // A `\r\n` may be cut between two chunks: a trailing `\r` waits for the next chunk.
  let carry = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    let text = carry + chunk;
    carry = text.endsWith("\r") ? "\r" : "";
    if (carry) text = text.slice(0, -1);
    buffer += text.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame = parseBlock(block);
      if (frame) yield frame;
    }
    if (buffer.length > MAX_FRAME_CHARS) throw new Error("event stream frame too large");
  }
}

function parseBlock(block: string): SseFrame | null {
  const frame: SseFrame = {};
  const data: string[] = [];
  let comment = false;
  for (const line of block.split("\n")) {
    if (line === "") continue;
    if (line.startsWith(":")) {
      comment = true;
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") frame.event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) frame.data = data.join("\n");
  if (frame.data === undefined && frame.event === undefined) return comment ? { comment } : null;
  return frame;
}
