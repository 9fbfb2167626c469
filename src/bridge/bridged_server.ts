/**
 * One local MCP server behind the relay: registered under a name, its request stream read and
 * re-opened with `lastEventId` whenever it ends or breaks (network loss, a server restart,
 * the relay's idle end, 60 s of silence), heartbeated, registered again when its registration
 * expired. Relayed JSON-RPC requests go to the local process unchanged; its answers are posted
 * to `mcp/results`, `tools/list` answers with every tool's stake declared (stakes.ts).
 * @module
 */
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";
import type { LocalServer } from "./local_server.ts";
import { type RelayClient, RelayRefusal } from "./relay_client.ts";
import { readSseFrames } from "./sse.ts";
import { type AskPolicy, declareStakes, stakeFor } from "./stakes.ts";

export interface BridgeTimings {
  /** Heartbeat period (the registration lives 10 minutes after the last one). */
  heartbeatMs: number;
  /** A stream silent this long is cut and re-opened (the relay sends keep-alives every 25 s). */
  silenceMs: number;
  /** First and longest wait between two attempts to reach the server. */
  retryMinMs: number;
  retryMaxMs: number;
}

export const DEFAULT_TIMINGS: BridgeTimings = {
  heartbeatMs: 60_000,
  silenceMs: 60_000,
  retryMinMs: 500,
  retryMaxMs: 10_000,
};

/** The bridge cannot go on (a refused token): stop everything, exit 1. */
export class BridgeFatal extends Error {
  override name = "BridgeFatal";
}

type Rpc = { id?: string | number | null; method?: string; result?: unknown; error?: unknown };

export class BridgedServer {
  serverId: string | null = null;
  #lastEventId: string | null = null;
  /** Relayed request ids the local server has not answered yet. */
  readonly #inflight = new Set<string>();
  /** Those of them that are `tools/list` (their answers get stakes declared). */
  readonly #listing = new Set<string>();
  #stream: AbortController | null = null;
  #stopped = false;

  constructor(
    readonly name: string,
    private readonly local: LocalServer,
    private readonly relay: RelayClient,
    private readonly policy: AskPolicy,
    private readonly timings: BridgeTimings,
    private readonly status: (line: string) => void,
  ) {
    local.onmessage = (m) => void this.#fromLocal(m as Rpc);
  }

  /** Relay until `signal` aborts; throws {@link BridgeFatal} when the server refuses the token. */
  async run(signal: AbortSignal): Promise<void> {
    const heartbeat = setInterval(() => void this.#heartbeat(signal), this.timings.heartbeatMs);
    let wait = this.timings.retryMinMs;
    let lost = false;
    try {
      while (!signal.aborted && !this.#stopped) {
        try {
          if (this.serverId === null) await this.#register(signal);
          let openedAt = 0;
          await this.#readStream(signal, () => {
            if (lost) this.status(`reconnected (${this.serverId})`);
            lost = false;
            wait = this.timings.retryMinMs;
            openedAt = Date.now();
          });
          // Ended (the relay's idle end, a restart) or cut for silence: re-open at once,
          // unless it ended as soon as it opened (then wait, as after an error).
          if (Date.now() - openedAt > 1_000) continue;
        } catch (e) {
          if (signal.aborted || this.#stopped) break;
          this.#refusedForGood(e);
          if (e instanceof RelayRefusal && e.status === 403 && e.type === "mcp_auth_error") {
            // Registered again after the usual short wait (a loop of refusals stays slow).
            this.status("registration expired; registering again");
            this.serverId = null;
          } else if (!lost) {
            // Once per outage: the retries that follow are quiet until "reconnected".
            this.status(`connection lost (${describe(e)}); retrying`);
            lost = true;
          }
        }
        await sleep(wait, signal);
        wait = Math.min(wait * 2, this.timings.retryMaxMs);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** The local process ended: stop relaying (the registration is removed by {@link stop}). */
  markStopped(): void {
    this.#stopped = true;
    this.#stream?.abort();
  }

  /** Deregister (bounded) and stop the local process. */
  async stop(): Promise<void> {
    this.markStopped();
    if (this.serverId !== null) {
      await this.relay.deregister(this.serverId, AbortSignal.timeout(5_000)).catch(() => {});
    }
    await this.local.close().catch(() => {});
  }

  /** 401, or a 403 other than an expired registration: retrying will not help. */
  #refusedForGood(e: unknown): void {
    if (!(e instanceof RelayRefusal)) return;
    if (e.status === 401 && e.type === "workspace_auth_error") {
      throw new BridgeFatal(
        `the server refused the token for this workspace (401: ${e.message}); check --workspace ` +
          "and --token",
      );
    }
    if (e.status === 401) {
      throw new BridgeFatal(`the server refused the token (401: ${e.message}); check --token`);
    }
    if (e.status === 403 && e.type !== "mcp_auth_error") {
      throw new BridgeFatal(`the server refused to register "${this.name}" (403: ${e.message})`);
    }
    // Only a heartbeat's 404 means "expired" (handled there): here it is a wrong URL or id.
    if (e.status === 404) {
      throw new BridgeFatal(
        `no relay for this workspace at this URL (404: ${e.message}); check --url and --workspace`,
      );
    }
    if (e.status === 400) throw new BridgeFatal(`the server refused (400: ${e.message})`);
  }

  async #register(signal: AbortSignal): Promise<void> {
    const { serverId } = await this.relay.register(this.name, signal);
    this.serverId = serverId;
    this.#lastEventId = null;
    this.status(`connected as ${serverId} (${this.#toolSummary()})`);
  }

  #toolSummary(): string {
    const tools = this.local.tools;
    const asking = tools.filter((t) => stakeFor(this.policy, t) !== "never_ask");
    const free = tools.length - asking.length;
    const names = asking.map((t) => stakeFor(this.policy, t) === "high" ? `${t.name}*` : t.name);
    return `${tools.length} tool${tools.length === 1 ? "" : "s"}: ${free} run without asking` +
      (asking.length
        ? `; ${asking.length} ask first: ${names.join(", ")}${
          names.some((n) => n.endsWith("*")) ? " (* every time)" : ""
        }`
        : "");
  }

  /**
   * Read one connection of the request stream until it ends (the relay's `done`, a cut, or
   * silence); throws when it could not be opened.
   */
  async #readStream(signal: AbortSignal, onOpen: () => void): Promise<void> {
    const serverId = this.serverId!;
    const stream = new AbortController();
    this.#stream = stream;
    const abort = AbortSignal.any([signal, stream.signal]);
    let watchdog = setTimeout(() => stream.abort(), this.timings.silenceMs);
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => stream.abort(), this.timings.silenceMs);
    };
    try {
      const body = await this.relay.openRequests(serverId, this.#lastEventId, abort);
      onOpen();
      alive();
      try {
        for await (const frame of readSseFrames(body)) {
          alive();
          if (frame.comment || frame.event === "dust-handshake" || frame.data === undefined) {
            continue;
          }
          if (frame.data === "done") break;
          this.#fromRelay(frame.data);
        }
      } catch (e) {
        // Cut by the watchdog or a heartbeat that found the registration gone: open again.
        if (!stream.signal.aborted || signal.aborted) throw e;
      }
    } finally {
      clearTimeout(watchdog);
      if (this.#stream === stream) this.#stream = null;
    }
  }

  #fromRelay(data: string): void {
    let event: { eventId?: unknown; data?: unknown };
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof event.eventId === "string") this.#lastEventId = event.eventId;
    const message = event.data as Rpc | undefined;
    if (!message || typeof message !== "object") return;
    if (message.id !== undefined && message.id !== null) {
      const id = String(message.id);
      if (this.#inflight.has(id)) return; // replayed while the local server works on it
      this.#inflight.add(id);
      if (message.method === "tools/list") this.#listing.add(id);
    }
    this.local.send(message as JSONRPCMessage).catch((e) => {
      this.status(`could not reach the local server (${describe(e)})`);
    });
  }

  async #fromLocal(message: Rpc): Promise<void> {
    const hasId = message.id !== undefined && message.id !== null;
    if (hasId && typeof message.method === "string") {
      // A request of the local server (sampling, roots, …): the relay carries none of those.
      const answer = message.method === "ping" ? { jsonrpc: "2.0", id: message.id, result: {} } : {
        jsonrpc: "2.0",
        id: message.id,
        error: { code: -32601, message: "Not available through dust-mcp bridge" },
      };
      await this.local.send(answer as JSONRPCMessage).catch(() => {});
      return;
    }
    if (!hasId) {
      // Notifications: only progress means something to a waiting tool call.
      if (message.method === "notifications/progress") await this.#post(message);
      return;
    }
    const id = String(message.id);
    if (!this.#inflight.delete(id)) return;
    if (this.#listing.delete(id) && message.result !== undefined) {
      message = { ...message, result: declareStakes(this.policy, message.result) };
    }
    await this.#post(message);
  }

  /** Post a message to `mcp/results`, three attempts; a result that cannot be delivered is lost. */
  async #post(message: Rpc): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const serverId = this.serverId;
      if (serverId === null) return;
      try {
        await this.relay.postResult(serverId, message);
        return;
      } catch (e) {
        if (e instanceof RelayRefusal && e.status < 500) return;
        if (attempt === 3) this.status(`an answer could not be delivered (${describe(e)})`);
        else await sleep(500 * attempt);
      }
    }
  }

  async #heartbeat(signal: AbortSignal): Promise<void> {
    const serverId = this.serverId;
    if (serverId === null || signal.aborted) return;
    try {
      await this.relay.heartbeat(serverId, signal);
    } catch (e) {
      if (e instanceof RelayRefusal && e.status === 404 && this.serverId === serverId) {
        // Expired: the stream loop registers again once its stream is cut.
        this.status("registration expired; registering again");
        this.serverId = null;
        this.#stream?.abort();
      }
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof RelayRefusal) return `${e.status}: ${e.message}`;
  const msg = (e as Error)?.message ?? String(e);
  return msg.split("\n")[0].slice(0, 200);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
