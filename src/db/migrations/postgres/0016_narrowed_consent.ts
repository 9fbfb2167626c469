/** PostgreSQL twin of SQLite's 0016: consent narrowed to spaces (see that file). */
export const name = "narrowed_consent";

export const sql = `
ALTER TABLE oauth_grants ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1));
ALTER TABLE oauth_grants ADD COLUMN all_spaces INTEGER NOT NULL DEFAULT 1 CHECK (all_spaces IN (0, 1));
ALTER TABLE oauth_grants ADD COLUMN conversations INTEGER NOT NULL DEFAULT 1 CHECK (conversations IN (0, 1));
ALTER TABLE oauth_grants ADD COLUMN access_version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE oauth_grant_spaces (
  grant_id BIGINT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
  space_id BIGINT NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  PRIMARY KEY (grant_id, space_id)
);
CREATE INDEX oauth_grant_spaces_space ON oauth_grant_spaces(space_id);
ALTER TABLE oauth_codes ADD COLUMN access TEXT;
ALTER TABLE agent_messages ADD COLUMN grant_id BIGINT;
`;
