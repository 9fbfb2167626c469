/**
 * PostgreSQL twin of SQLite's 0008 (event ids never reused): identity columns never reuse an
 * id, so there is nothing to rebuild.
 */
export const name = "stream_events_autoincrement";

export const sql = `SELECT 1;`;
