/** PostgreSQL twin of SQLite's 0009: `stream_events.type` beside the payload. */
export const name = "stream_event_types";

export const sql = `
ALTER TABLE stream_events ADD COLUMN type TEXT;
UPDATE stream_events SET type = payload::json->>'type';
`;
