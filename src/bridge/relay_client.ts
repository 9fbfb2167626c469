/**
 * The bridge's side of the client-side MCP relay (dust.md §3.2–3.6), over plain HTTP with a
 * user's bearer token: register, heartbeat, deregister, post a result, open the request
 * stream. A refusal is a {@link RelayRefusal} carrying the status and Dust's error type, so
 * the bridge can tell "register again" (404 on heartbeat, 403 `mcp_auth_error` on the stream)
 * from "give up" (401: a bad or revoked token) from "retry later" (network, 5xx).
 * @module
 */
import { VERSION } from "../version.ts";

/** The server answered, and said no. */
export class RelayRefusal extends Error {
  override name = "RelayRefusal";
  constructor(readonly status: number, readonly type: string, message: string) {
    super(message);
  }
}

/** Where and as whom the bridge talks to the relay. */
export interface RelayEndpoint {
  /** The server's base URL (`https://dust.example.com`), no trailing slash needed. */
  url: string;
  workspaceId: string;
  token: string;
}

/** Each plain request (not the stream) gives up after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

export class RelayClient {
  readonly #base: string;
  constructor(private readonly endpoint: RelayEndpoint) {
    const base = endpoint.url.replace(/\/+$/, "");
    this.#base = `${base}/api/v1/w/${encodeURIComponent(endpoint.workspaceId)}/mcp`;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      Authorization: `Bearer ${this.endpoint.token}`,
      "User-Agent": `dust-mcp-bridge/${VERSION}`,
      ...extra,
    };
  }

  async #post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const res = await fetch(`${this.#base}/${path}`, {
      method: "POST",
      headers: this.#headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (!res.ok) throw await refusalOf(res);
    return await res.json() as T;
  }

  async register(serverName: string, signal?: AbortSignal): Promise<{ serverId: string }> {
    return await this.#post("register", { serverName }, signal);
  }

  /** Extends the registration; a {@link RelayRefusal} 404 (or `success:false`) means it expired. */
  async heartbeat(serverId: string, signal?: AbortSignal): Promise<void> {
    const r = await this.#post<{ success?: boolean }>("heartbeat", { serverId }, signal);
    if (r.success === false) {
      throw new RelayRefusal(404, "mcp_server_connection_not_found", "registration expired");
    }
  }

  async deregister(serverId: string, signal?: AbortSignal): Promise<void> {
    await this.#post("deregister", { serverId }, signal);
  }

  async postResult(serverId: string, result: unknown, signal?: AbortSignal): Promise<void> {
    await this.#post("results", { serverId, result }, signal);
  }

  /** Open the request stream; resolves once the server answered 200 (its body follows). */
  async openRequests(
    serverId: string,
    lastEventId: string | null,
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const q = new URLSearchParams({ serverId });
    if (lastEventId) q.set("lastEventId", lastEventId);
    const res = await fetch(`${this.#base}/requests?${q}`, {
      headers: this.#headers({ Accept: "text/event-stream" }),
      signal,
    });
    if (!res.ok) throw await refusalOf(res);
    if (!res.body) throw new Error("the request stream has no body");
    return res.body;
  }
}

/** Dust's error envelope `{error:{type,message}}`, or the status line when there is none. */
async function refusalOf(res: Response): Promise<RelayRefusal> {
  const text = await res.text().catch(() => "");
  let type = "unknown";
  let message = `HTTP ${res.status}`;
  try {
    const e = (JSON.parse(text) as { error?: { type?: unknown; message?: unknown } }).error;
    if (typeof e?.type === "string") type = e.type;
    if (typeof e?.message === "string") message = e.message;
  } catch {
    if (text && text.length < 200) message = `HTTP ${res.status}: ${text.trim()}`;
  }
  return new RelayRefusal(res.status, type, message);
}
