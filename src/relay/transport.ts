/**
 * The server side's MCP client transport to a client-side server through the relay (Dust's
 * `ClientSideRedisMCPTransport`, dust.md §3.8): `send` rewrites the JSON-RPC id, logs and
 * publishes the message on the server's request stream; answers posted to `mcp/results` (on
 * any instance) are stored and announced on the results channel, read back here and handed to
 * the MCP SDK `Client` with their original id. Answers for other runs sharing the same server
 * are ignored without being read (the announcement names the id they answer).
 * @module
 */
import type { Client } from "@modelcontextprotocol/sdk/client";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";
import type { Deps } from "../deps.ts";
import { VERSION } from "../version.ts";
import {
  dropRelayResult,
  type JsonRpcMessage,
  publishRelayRequest,
  type RelayResultNote,
  resultChannel,
  rewriteRequestId,
  takeRelayResult,
  takeRelayResultsFor,
} from "../core/relay_requests.ts";
import { isResync } from "../events/bus.ts";

/** Which server, and which agent message the traffic belongs to (for id rewriting). */
export interface RelayTarget {
  serverId: string;
  conversationId: string;
  messageId: string;
}

/** MCP SDK transport over the relay. */
export class RelayClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  /** Rewritten id → original id, for the requests still waiting for an answer. */
  readonly #pending = new Map<string, string | number>();
  #unsubscribe: (() => void) | null = null;
  #closed = false;

  constructor(private readonly deps: Deps, readonly target: RelayTarget) {}

  start(): Promise<void> {
    this.#unsubscribe = this.deps.events.subscribe(
      resultChannel(this.target.serverId),
      (payload) => {
        this.#announced(payload).catch((e) =>
          this.onerror?.(e instanceof Error ? e : new Error(String(e)))
        );
      },
    );
    return Promise.resolve();
  }

  /** A result was posted for the server (or the bus had a gap): fetch it when it is ours. */
  async #announced(payload: unknown): Promise<void> {
    if (this.#closed) return;
    const serverId = this.target.serverId;
    if (isResync(payload)) {
      for (const r of await takeRelayResultsFor(this.deps, serverId, [...this.#pending.keys()])) {
        this.#receive(r);
      }
      return;
    }
    const note = payload as RelayResultNote & { result?: JsonRpcMessage };
    if (typeof note?.resultId !== "number") return;
    if (note.id !== undefined && !this.#pending.has(note.id)) return;
    if (note.result !== undefined) {
      // The in-process bus handed the result over: the row is not needed any more.
      if (note.id !== undefined) await dropRelayResult(this.deps, note.resultId);
      return this.#receive(note.result);
    }
    const result = await takeRelayResult(this.deps, serverId, note.resultId, note.id !== undefined);
    if (result !== null) this.#receive(result);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("relay transport is closed"));
    const out = { ...message } as JsonRpcMessage;
    if (out.id !== undefined && out.id !== null) {
      const rewritten = rewriteRequestId(this.target, out.id);
      this.#pending.set(rewritten, out.id);
      out.id = rewritten;
    }
    await publishRelayRequest(this.deps, this.target.serverId, out);
    return Promise.resolve();
  }

  #receive(result: JsonRpcMessage): void {
    if (this.#closed || !result || typeof result !== "object") return;
    if (result.id === undefined || result.id === null) {
      // Notifications (progress, logging) are not addressed; the SDK client drops the ones
      // whose progress token is not its own.
      if (typeof result.method === "string") this.onmessage?.(result as JSONRPCMessage);
      return;
    }
    const original = this.#pending.get(String(result.id));
    if (original === undefined) return;
    this.#pending.delete(String(result.id));
    this.onmessage?.({ ...result, id: original } as JSONRPCMessage);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#unsubscribe?.();
    this.#pending.clear();
    this.onclose?.();
    return Promise.resolve();
  }
}

/**
 * An MCP SDK `Client` connected to a client-side server through the relay, `initialize`
 * bounded by `deps.relay.timings.connectTimeoutMs` (5 s). The caller closes it.
 */
export async function connectRelayClient(
  deps: Deps,
  target: RelayTarget,
  signal?: AbortSignal,
): Promise<Client> {
  // Loaded on first use: the v1 SDK client is ~15 % of the server's start-up (bench/startup.ts)
  // and only agents calling a client-side server need it.
  const { Client } = await import("@modelcontextprotocol/sdk/client");
  const client = new Client({ name: "dust-mcp-client", version: VERSION });
  const transport = new RelayClientTransport(deps, target);
  try {
    await client.connect(transport, { timeout: deps.relay.timings.connectTimeoutMs, signal });
  } catch (e) {
    await client.close().catch(() => {});
    throw e;
  }
  return client;
}
