/**
 * One signed request to an S3-compatible store: SigV4 by `aws4fetch` (with the payload's SHA-256
 * when asked, so the store checks the bytes it receives), a bounded number of attempts with jittered backoff,
 * a time limit until the response headers, and S3's XML errors turned into `S3Error`s that carry
 * the S3 code and a short message, never credentials, headers or signatures.
 * @module
 */
import { AwsClient } from "aws4fetch";

/** An error answer (or no answer) from the store. */
export class S3Error extends Error {
  override name = "S3Error";
  constructor(
    /** The S3 operation, e.g. "PutObject". */
    readonly operation: string,
    /** The HTTP status, 0 when no answer came. */
    readonly status: number,
    /** S3's error code ("NoSuchKey", "AccessDenied", ...) or "NetworkError" / "Timeout". */
    readonly code: string,
    detail: string,
  ) {
    super(
      `S3 ${operation} failed: ${code}${status ? ` (HTTP ${status})` : ""}${
        detail ? `: ${detail}` : ""
      }`,
    );
  }
}

export interface S3RequestSpec {
  /** The S3 operation name, for errors. */
  operation: string;
  method: "GET" | "PUT" | "POST" | "DELETE" | "HEAD";
  url: URL;
  body?: Uint8Array;
  headers?: Record<string, string>;
  /** Which failures are tried again: "any" (idempotent operations: network errors, 5xx and
   * 429) or "answered" (only a 5xx/429 answer: the store said it did not do it). */
  retry: "any" | "answered";
  /** Statuses besides 2xx to hand back rather than throw (e.g. 404 on GET). */
  accept?: number[];
}

/** Attempts per request: the first plus two retries. */
export const MAX_ATTEMPTS = 3;
const BACKOFF_MS = 200;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Signs and sends requests for one set of credentials over one HTTP client. */
export class S3Requester {
  readonly #signer: AwsClient;
  readonly #http: Deno.HttpClient;
  readonly #timeoutMs: number;
  readonly #signPayload: boolean;

  constructor(
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
    options: { region: string; timeoutMs: number; signPayload: boolean },
  ) {
    const { region } = options;
    this.#signer = new AwsClient({ ...credentials, service: "s3", region, retries: 0 });
    this.#http = Deno.createHttpClient({});
    this.#timeoutMs = options.timeoutMs;
    this.#signPayload = options.signPayload;
  }

  /** Send `spec`; resolves to a 2xx (or accepted) response whose body the caller consumes. */
  async send(spec: S3RequestSpec): Promise<Response> {
    const payloadHash = !spec.body
      ? EMPTY_SHA256
      : this.#signPayload
      ? await sha256Hex(spec.body)
      : "UNSIGNED-PAYLOAD";
    for (let attempt = 1;; attempt++) {
      const request = await this.#signer.sign(spec.url.toString(), {
        method: spec.method,
        headers: { ...spec.headers, "x-amz-content-sha256": payloadHash },
        body: spec.body as Uint8Array<ArrayBuffer> | undefined,
      });
      let failure: S3Error;
      let answered = false;
      try {
        const response = await this.#fetch(request, spec.operation);
        if (response.ok || spec.accept?.includes(response.status)) return response;
        answered = true;
        failure = await errorOf(spec.operation, response);
      } catch (e) {
        if (!(e instanceof S3Error)) throw e;
        failure = e;
      }
      const transient = failure.status >= 500 || failure.status === 429 || failure.status === 0;
      const retry = transient && (spec.retry === "any" || answered);
      if (!retry || attempt >= MAX_ATTEMPTS) throw failure;
      await new Promise((r) =>
        setTimeout(r, BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random()))
      );
    }
  }

  /** fetch with a limit on the wait for the response headers (the body then streams freely). */
  async #fetch(request: Request, operation: string): Promise<Response> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
    try {
      return await fetch(request, { client: this.#http, signal: abort.signal });
    } catch (e) {
      if (abort.signal.aborted) {
        throw new S3Error(operation, 0, "Timeout", `no answer within ${this.#timeoutMs} ms`);
      }
      throw new S3Error(operation, 0, "NetworkError", networkDetail(e));
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#http.close();
  }
}

/** The S3Error an error response describes (its XML body read and bounded). */
export async function errorOf(operation: string, response: Response): Promise<S3Error> {
  const body = await headOfBody(response, 4096);
  const code = xmlText(body, "Code") ?? response.headers.get("x-amz-error-code") ??
    `HTTP${response.status}`;
  return new S3Error(
    operation,
    response.status,
    shortText(code, 64),
    shortText(xmlText(body, "Message") ?? "", 200),
  );
}

/** The first `max` bytes of a body as text (the rest is dropped unread). */
async function headOfBody(response: Response, max: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // A body cut short still says what it said so far.
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((offset, c) => (bytes.set(c, offset), offset + c.length), 0);
  return new TextDecoder().decode(bytes.subarray(0, max));
}

/** A fetch failure's message without anything but the store's address. */
function networkDetail(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  // Deno names the URL; keep its origin and path, drop any query.
  return shortText(message.replace(/(https?:\/\/[^\s?)]*)\?[^\s)]*/g, "$1"), 300);
}

/** One line, bounded, without control characters. */
function shortText(s: string, max: number): string {
  // deno-lint-ignore no-control-regex
  const line = s.replace(/[\x00-\x1f\x7f]+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decode XML character references and the five predefined entities. */
export function xmlDecode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (all, ref: string) => {
    if (ref[0] !== "#") return ENTITIES[ref] ?? all;
    const n = ref[1] === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return n <= 0x10ffff ? String.fromCodePoint(n) : all;
  });
}

/** The decoded text of the first `<tag>` element in `xml`, or null. */
export function xmlText(xml: string, tag: string): string | null {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return m ? xmlDecode(m[1]) : null;
}

/** The inner XML of every `<tag>` element in `xml` (not nested in one another). */
export function xmlBlocks(xml: string, tag: string): string[] {
  return Array.from(xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g")), (m) => m[1]);
}

/** Escape text for an XML element. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${Object.entries(ENTITIES).find(([, v]) => v === c)![0]};`);
}
