/**
 * SQLite twin of PostgreSQL's 0020 (a committed counter of credential changes for instances that
 * share a database). One SQLite instance learns the same from its own writes and
 * `PRAGMA data_version` (src/db/credential_epoch.ts): nothing to add (the number exists so that
 * both engines count their migrations alike).
 */
export const name = "credential_epoch";

export const sql = `SELECT 1;`;
