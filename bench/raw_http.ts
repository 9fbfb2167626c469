/**
 * A minimal HTTP/1.1 keep-alive client over one TCP connection, for load generation: it sends
 * a prebuilt request and reads a response framed by Content-Length. Far cheaper per request
 * than `fetch`, so the load generator is not the bottleneck on a 2-core machine. Responses
 * without Content-Length (chunked, streams) are refused: use the fetch client for those.
 * @module
 */
import type { LoadTarget } from "./load.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLFCRLF = [13, 10, 13, 10];

function indexOfHeaderEnd(buf: Uint8Array, length: number): number {
  outer: for (let i = 0; i + 3 < length; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== CRLFCRLF[j]) continue outer;
    return i;
  }
  return -1;
}

/** The request bytes for a target (sent unchanged on every call). */
export function encodeRequest(target: LoadTarget): Uint8Array {
  const url = new URL(target.url);
  const body = target.body === undefined ? null : encoder.encode(target.body);
  const lines = [`${target.method ?? "GET"} ${url.pathname}${url.search} HTTP/1.1`];
  lines.push(`Host: ${url.host}`);
  for (const [k, v] of Object.entries(target.headers ?? {})) lines.push(`${k}: ${v}`);
  if (body) lines.push(`Content-Length: ${body.length}`);
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  if (!body) return head;
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

export class RawHttpClient {
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(64 * 1024);
  readonly #request: Uint8Array;
  #bodyStart = 0;
  #bodyEnd = 0;
  readonly #hostname: string;
  readonly #port: number;

  constructor(target: LoadTarget) {
    const url = new URL(target.url);
    if (url.protocol !== "http:") throw new Error("the raw client speaks plain http only");
    this.#request = encodeRequest(target);
    this.#hostname = url.hostname;
    this.#port = Number(url.port || 80);
  }

  /**
   * Send a request once (the target's, or another prebuilt one for the same host: see
   * {@link encodeRequest}) and read the whole response; returns its status.
   */
  async send(request: Uint8Array = this.#request): Promise<number> {
    this.#conn ??= await Deno.connect({ hostname: this.#hostname, port: this.#port });
    const conn = this.#conn;
    for (let off = 0; off < request.length;) {
      off += await conn.write(request.subarray(off));
    }
    let have = 0;
    let total = -1;
    let status = 0;
    while (total < 0 || have < total) {
      if (have === this.#buf.length) this.#grow();
      const n = await conn.read(this.#buf.subarray(have));
      if (n === null) {
        this.close();
        throw new Error("connection closed by the server");
      }
      have += n;
      if (total < 0) {
        const end = indexOfHeaderEnd(this.#buf, have);
        if (end < 0) continue;
        const head = decoder.decode(this.#buf.subarray(0, end));
        status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!length) {
          this.close();
          throw new Error("response has no Content-Length");
        }
        total = end + 4 + Number(length[1]);
        this.#bodyStart = end + 4;
        this.#bodyEnd = total;
      }
    }
    return status;
  }

  /** The body of the last response, decoded as UTF-8. */
  lastBody(): string {
    return decoder.decode(this.#buf.subarray(this.#bodyStart, this.#bodyEnd));
  }

  #grow(): void {
    const bigger = new Uint8Array(this.#buf.length * 2);
    bigger.set(this.#buf);
    this.#buf = bigger;
  }

  close(): void {
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    this.#conn = null;
  }
}
