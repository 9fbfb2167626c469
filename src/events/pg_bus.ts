/**
 * The event bus of instances sharing a PostgreSQL database: `LISTEN/NOTIFY` on one channel,
 * {@link BUS_CHANNEL}. A publish delivers its note to this instance's listeners at once and
 * sends `pg_notify(BUS_CHANNEL, {"o": <instance>, "c": <channel>, "p": <note>})` on the pool;
 * every instance's one listening connection receives it and delivers `p` to its listeners of
 * `c` (its own notifications, already delivered, are skipped). Database triggers notify on the
 * same channel with origin `db` (revoked credentials, changed signing keys: migration 0010).
 *
 * The listening connection is this bus's own (one per instance, outside the pool). When it is
 * lost it is re-established with a backoff, and {@link RESYNC} is then delivered on every
 * channel: listeners keeping a cursor re-read the database. A periodic ping through the
 * database (a notification to itself) also catches a connection that died without closing
 * (a half-open socket): past two missed pings the connection is replaced.
 * @module
 */
import postgres from "postgres";
import { type EventBus, type Listener, LocalListeners, noteText, RESYNC } from "./bus.ts";
import type { Logger } from "../util/log.ts";

/** The one PostgreSQL notification channel of the bus (the migration's triggers name it too). */
export const BUS_CHANNEL = "dust_mcp_events";
const PING = "__bus_ping__";

export interface PgBusOptions {
  /** How often the listening connection proves itself (default 10 s). */
  pingMs?: number;
}

interface Envelope {
  o: string;
  c: string;
  p: unknown;
}

export class PgEventBus implements EventBus {
  readonly shared = true;
  readonly #listeners: LocalListeners;
  readonly #sending = new Set<Promise<unknown>>();
  readonly #pingMs: number;
  #conn: postgres.Sql | null = null;
  #closed = false;
  #reconnecting: Promise<void> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #pingsUnanswered = 0;
  /** Connections established so far (tests: a reconnect increments it). */
  connections = 0;

  constructor(
    private readonly url: string,
    /** The pool publishes go through (the Db's). */
    private readonly pool: postgres.Sql,
    readonly instanceId: string,
    private readonly log: Logger,
    options: PgBusOptions = {},
  ) {
    this.#listeners = new LocalListeners((e) =>
      log.error("event listener failed", { error: String(e) })
    );
    this.#pingMs = options.pingMs ?? 10_000;
  }

  /** Open the listening connection (throws when the database refuses). */
  async start(): Promise<void> {
    await this.#connect();
    this.#pingTimer = setInterval(() => this.#ping(), this.#pingMs);
  }

  /** Every listener gets the note (`_localPayload` is for the in-process bus only). */
  publish(channel: string, note: unknown, _localPayload?: unknown): void {
    const text = noteText(channel, note);
    this.#listeners.deliver(channel, note);
    this.#send(JSON.stringify({ o: this.instanceId, c: channel, p: JSON.parse(text) }));
  }

  publishLocal(channel: string, payload: unknown): void {
    this.#listeners.deliver(channel, payload);
  }

  subscribe(channel: string, listener: Listener): () => void {
    return this.#listeners.subscribe(channel, listener);
  }

  listenerCount(channel: string): number {
    return this.#listeners.count(channel);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pingTimer);
    await Promise.allSettled([...this.#sending]);
    await this.#reconnecting?.catch(() => {});
    await this.#conn?.end({ timeout: 1 }).catch(() => {});
    this.#conn = null;
  }

  /** TEST HOOK: the backend pid of the listening connection (to terminate it). */
  async listenerPid(): Promise<number> {
    const r = await this.#conn!.unsafe("SELECT pg_backend_pid() AS pid");
    return Number(r[0].pid);
  }

  #send(envelope: string): void {
    if (this.#closed) return;
    const p = this.pool.notify(BUS_CHANNEL, envelope).catch((e) =>
      this.log.warn("event bus notification not sent", { error: String(e) })
    );
    this.#sending.add(p);
    void p.finally(() => this.#sending.delete(p));
  }

  #receive(text: string): void {
    let env: Envelope;
    try {
      env = JSON.parse(text);
    } catch {
      return;
    }
    if (env.c === PING) {
      if (env.o === this.instanceId) this.#pingsUnanswered = 0;
      return;
    }
    if (env.o === this.instanceId || typeof env.c !== "string") return;
    this.#listeners.deliver(env.c, env.p);
  }

  async #connect(): Promise<void> {
    const conn = postgres(this.url, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: 0,
      fetch_types: false,
      onnotice: () => {},
      onnotify: (_channel: string, payload: string) => this.#receive(payload),
      onclose: () => {
        if (this.#conn === conn) this.#reconnect();
      },
      connection: { application_name: `dust-mcp-listen:${this.instanceId}` },
    } as postgres.Options<Record<string, never>>);
    try {
      await conn.unsafe(`LISTEN ${BUS_CHANNEL}`);
    } catch (e) {
      await conn.end({ timeout: 0 }).catch(() => {});
      throw e;
    }
    this.#conn = conn;
    this.#pingsUnanswered = 0;
    this.connections++;
  }

  /** Replace the listening connection (backoff up to 5 s), then tell every listener to resync. */
  #reconnect(): void {
    if (this.#closed || this.#reconnecting) return;
    const old = this.#conn;
    this.#conn = null;
    this.#reconnecting = (async () => {
      await old?.end({ timeout: 0 }).catch(() => {});
      for (let attempt = 1; !this.#closed; attempt++) {
        try {
          await this.#connect();
          this.log.info("event bus listening again", { attempt });
          this.#listeners.deliverEverywhere(RESYNC);
          return;
        } catch (e) {
          this.log.warn("event bus cannot listen", { attempt, error: String(e) });
          await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
        }
      }
    })().finally(() => (this.#reconnecting = null));
  }

  #ping(): void {
    if (this.#closed || this.#reconnecting) return;
    if (this.#pingsUnanswered >= 2) {
      this.log.warn("event bus listener stopped answering; reconnecting");
      return this.#reconnect();
    }
    this.#pingsUnanswered++;
    this.#send(JSON.stringify({ o: this.instanceId, c: PING, p: null }));
  }
}
