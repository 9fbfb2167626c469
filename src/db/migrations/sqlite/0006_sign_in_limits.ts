/**
 * Sign-in limits kept in the database (shared by every instance on it, never evicted by a
 * flood of other keys): failure counters per fixed window, keyed by the SHA-256 of what they
 * count (account + address, account, address, known browser), and the browsers that signed
 * in to an account before (their cookie exempts them from the account-wide limits).
 */
export const name = "sign_in_limits";

export const sql = `
CREATE TABLE sign_in_failures (
  key_hash TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  window_start INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sign_in_failures_by_window ON sign_in_failures (window_start);

CREATE TABLE sign_in_devices (
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sign_in_devices_by_user ON sign_in_devices (user_id, last_used_at);
`;
