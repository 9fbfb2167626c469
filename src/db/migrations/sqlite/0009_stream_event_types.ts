/**
 * `stream_events.type`: an event's `data.type`, stored beside its payload so that a page of the
 * log and the terminal-event check read it without parsing JSON in SQL (one query text for
 * both engines).
 */
export const name = "stream_event_types";

export const sql = `
ALTER TABLE stream_events ADD COLUMN type TEXT;
UPDATE stream_events SET type = json_extract(payload, '$.type');
`;
