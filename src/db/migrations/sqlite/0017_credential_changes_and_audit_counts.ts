/**
 * Numbered like PostgreSQL's 0017 (triggers that tell every instance when credentials change;
 * the audit count per statement). SQLite has one instance: its own writes and other processes'
 * commits (`PRAGMA data_version`) move the credential epoch without any schema
 * (src/db/credential_epoch.ts), and its per-row count triggers cost little in process.
 */
export const name = "credential_changes_and_audit_counts";

export const sql = `SELECT 1;`;
