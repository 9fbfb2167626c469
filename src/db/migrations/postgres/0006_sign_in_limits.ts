/** PostgreSQL twin of SQLite's 0006: sign-in failure counters and known browsers. */
export const name = "sign_in_limits";

export const sql = `
CREATE TABLE sign_in_failures (
  key_hash TEXT PRIMARY KEY,
  failures BIGINT NOT NULL,
  window_start BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_window ON sign_in_failures (window_start);

CREATE TABLE sign_in_devices (
  token_hash TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sign_in_devices_by_user ON sign_in_devices (user_id, last_used_at);
`;
