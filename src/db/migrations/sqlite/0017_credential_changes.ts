/**
 * Numbered like PostgreSQL's 0017 (triggers that tell every instance when credentials change).
 * SQLite has one instance: its own writes and other processes' commits (`PRAGMA data_version`)
 * move the credential epoch without any schema (src/db/credential_epoch.ts).
 */
export const name = "credential_changes";

export const sql = `SELECT 1;`;
