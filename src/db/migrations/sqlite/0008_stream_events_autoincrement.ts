/**
 * `stream_events.id` becomes AUTOINCREMENT, as `relay_requests.id` did in 0002: the id is the
 * SSE `eventId` a client resumes from, and expired events are pruned, so a plain rowid restarts
 * at 1 once the log empties (an instance quiet for ten minutes) and a client resuming with an
 * older, larger `lastEventId` would skip every new event. Ids also key the shared cache of large
 * encoded frames, which needs them never reused.
 */
export const name = "stream_events_autoincrement";

export const sql = `
CREATE TABLE stream_events_v2 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  created_at INTEGER NOT NULL
) STRICT;
INSERT INTO stream_events_v2 (id, stream, payload, created_at)
  SELECT id, stream, payload, created_at FROM stream_events;
DROP TABLE stream_events;
ALTER TABLE stream_events_v2 RENAME TO stream_events;
CREATE INDEX stream_events_stream ON stream_events(stream, id);
`;
