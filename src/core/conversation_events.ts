/**
 * The durable event log behind Dust's conversation and message event streams: every event is a
 * row of `stream_events` (stream `conversation:<sId>` or `message:<sId>`) and is then published
 * on `deps.events` under the same channel name, so an SSE reader replays history after a
 * `lastEventId` and then follows live events without a gap. Event ids are opaque strings to
 * clients (the row id). Events expire after {@link EVENT_TTL_MS}, like Dust's Redis streams.
 *
 * Across instances the bus carries `{eventId, type}` only and readers read the log after their
 * cursor, which is only exact if a stream's events commit in the order of their ids: the
 * transaction inserting into a stream first takes that stream's lock (`db.txLock`), so an
 * event with a smaller id is never committed after a reader has moved past a larger one.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { invalid } from "../errors.ts";
import type { LogRow } from "../events/log_stream.ts";
import { mapSeries } from "../util/async.ts";

/** Events older than this are pruned (Dust expires its event streams after 10 minutes). */
export const EVENT_TTL_MS = 10 * 60 * 1000;
/** How often the event-log prune runs (a periodic job: one instance at a time). */
export const EVENT_PRUNE_INTERVAL_MS = 30_000;
/** At most this many rows per batch, so appends stay cheap. */
const PRUNE_BATCH = 2_000;
const PRUNE_MAX_BATCHES = 50;

/** An event as clients see it inside an SSE frame: `{"eventId", "data"}`. */
export interface StreamEvent {
  eventId: string;
  data: Record<string, unknown>;
}

/** Terminal events of a message stream: after one of them the message stream ends. */
export const TERMINAL_MESSAGE_EVENTS: ReadonlySet<string> = new Set([
  "agent_message_success",
  "agent_message_gracefully_stopped",
  "agent_error",
  "agent_generation_cancelled",
]);

/** Stream name of a conversation's event stream. */
export function conversationStream(conversationSId: string): string {
  return `conversation:${conversationSId}`;
}

/** Stream name of an agent message's event stream. */
export function messageStream(messageSId: string): string {
  return `message:${messageSId}`;
}

/** Parse a client's `lastEventId` (absent or empty = from the start of the stream). */
export function parseLastEventId(raw: string | undefined | null): number {
  if (raw === undefined || raw === null || raw === "") return 0;
  if (!/^\d{1,15}$/.test(raw)) throw invalid("lastEventId: not an event id of this stream");
  return Number(raw);
}

/**
 * Insert events into the log, inside the caller's transaction (it takes the streams' locks,
 * held until that transaction ends); the caller publishes the returned events with
 * {@link publishEvents} once it committed.
 */
export async function insertEvents(
  db: Db,
  events: { stream: string; data: Record<string, unknown> }[],
): Promise<{ stream: string; event: StreamEvent }[]> {
  // One order for every transaction (conversation:… before message:…): no lock cycle.
  for (const stream of [...new Set(events.map((e) => e.stream))].sort()) {
    await db.txLock(`stream:${stream}`);
  }
  const insert = db.prepare(
    "INSERT INTO stream_events (stream, payload, type, created_at) VALUES (?, ?, ?, ?) RETURNING id",
  );
  const t = now();
  return await mapSeries(events, async ({ stream, data }) => {
    const type = typeof data.type === "string" ? data.type : null;
    const row = await insert.get(stream, JSON.stringify(data), type, t) as { id: number };
    return { stream, event: { eventId: String(row.id), data } };
  });
}

/**
 * Publish committed events to live readers (channel = stream name): the note names the row
 * (`{eventId, type}`), the full event goes to this instance's readers when the bus is local.
 */
export function publishEvents(
  deps: Deps,
  stored: { stream: string; event: StreamEvent }[],
): void {
  for (const s of stored) {
    deps.events.publish(s.stream, eventNote(s.event), s.event);
  }
}

/** What crosses instances for one event: its id, and its type when short. */
export function eventNote(e: StreamEvent): { eventId: string; type?: string } {
  const type = e.data.type;
  return typeof type === "string" && type.length <= 64
    ? { eventId: e.eventId, type }
    : { eventId: e.eventId };
}

/** Append one event to a stream and publish it. */
export async function appendEvent(
  deps: Deps,
  stream: string,
  data: Record<string, unknown>,
): Promise<StreamEvent> {
  const stored = await deps.db.tx(async () => await insertEvents(deps.db, [{ stream, data }]));
  publishEvents(deps, stored);
  return stored[0].event;
}

/** Events of `stream` strictly after `afterId`, oldest first, at most `limit`. */
export async function readEventsAfter(
  deps: Deps,
  stream: string,
  afterId: number,
  limit: number,
): Promise<StreamEvent[]> {
  const rows = await deps.db.all(
    "SELECT id, payload FROM stream_events WHERE stream = ? AND id > ? ORDER BY id LIMIT ?",
    stream,
    afterId,
    limit,
  ) as { id: number; payload: string }[];
  return rows.map((r) => ({ eventId: String(r.id), data: JSON.parse(r.payload) }));
}

/**
 * A page of the log for a stream body (`src/events/log_stream.ts`): ids and sizes, payloads
 * inline only up to `inlineBytes` (a large payload is read alone, when it is written), and
 * `data.type` when `withType` (message streams end after their terminal event).
 */
export async function pageStreamLog(
  deps: Deps,
  stream: string,
  afterId: number,
  limit: number,
  inlineBytes: number,
  withType: boolean,
): Promise<LogRow[]> {
  return await deps.db.all(
    `SELECT id, octet_length(payload) AS size,
       CASE WHEN octet_length(payload) <= ? THEN payload END AS payload,
       CASE WHEN ? = 1 THEN type END AS type
     FROM stream_events WHERE stream = ? AND id > ? ORDER BY id LIMIT ?`,
    inlineBytes,
    withType ? 1 : 0,
    stream,
    afterId,
    limit,
  ) as unknown as LogRow[];
}

/** The newest id of `stream`'s log (0 when it holds nothing). */
export async function newestStreamEventId(deps: Deps, stream: string): Promise<number> {
  const row = await deps.db.get<{ id: number | null }>(
    "SELECT MAX(id) AS id FROM stream_events WHERE stream = ?",
    stream,
  );
  return Number(row?.id ?? 0);
}

/** The payload of one event of `stream`, or null once it expired. */
export async function readStreamPayload(
  deps: Deps,
  stream: string,
  id: number,
): Promise<string | null> {
  const row = await deps.db.get(
    "SELECT payload FROM stream_events WHERE id = ? AND stream = ?",
    id,
    stream,
  ) as { payload: string } | undefined;
  return row?.payload ?? null;
}

/** True when the stream still holds a terminal event (see {@link TERMINAL_MESSAGE_EVENTS}). */
export async function hasTerminalEvent(deps: Deps, stream: string): Promise<boolean> {
  const types = [...TERMINAL_MESSAGE_EVENTS];
  return !!await deps.db.get(
    `SELECT 1 FROM stream_events WHERE stream = ?
     AND type IN (${types.map(() => "?").join(", ")}) LIMIT 1`,
    stream,
    ...types,
  );
}

/**
 * Delete expired events (a periodic job, {@link EVENT_PRUNE_INTERVAL_MS}). Rows are appended in
 * time order, so the oldest rows by id are the expired ones: each batch looks only at the first
 * rows by id and stops at the first batch that deletes less than a full batch.
 */
export async function pruneExpiredEvents(deps: Pick<Deps, "db">, at = now()): Promise<number> {
  const cutoff = at - EVENT_TTL_MS;
  const del = deps.db.prepare(
    `DELETE FROM stream_events WHERE id IN
       (SELECT id FROM stream_events ORDER BY id LIMIT ?) AND created_at < ?`,
  );
  let total = 0;
  for (let i = 0; i < PRUNE_MAX_BATCHES; i++) {
    const n = Number((await del.run(PRUNE_BATCH, cutoff)).changes);
    total += n;
    if (n < PRUNE_BATCH) break;
  }
  return total;
}
