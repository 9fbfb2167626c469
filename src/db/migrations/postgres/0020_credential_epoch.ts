/**
 * A committed counter of credential changes, so that every instance can tell at once, not when a
 * note arrives, whether what a `/mcp` credential check read may have changed
 * (src/db/credential_epoch.ts). The triggers of 0017 now add one to it in the writing
 * transaction instead of sending an `auth:changed` note (which could reach another instance after
 * that instance's next request), and run BEFORE the statement: every transaction that changes a credential takes
 * the counter's row lock before any row lock of the credential tables, so two of them cannot
 * deadlock on the counter. PostgreSQL only: SQLite serves one instance, whose own writes and
 * `PRAGMA data_version` already say the same (so migrate-data leaves this table out).
 */
export const name = "credential_epoch";

export const sql = `
CREATE TABLE credential_epoch (
  id SMALLINT PRIMARY KEY CHECK (id = 1),
  n BIGINT NOT NULL
);
INSERT INTO credential_epoch (id, n) VALUES (1, 0);

CREATE OR REPLACE FUNCTION dust_mcp_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE credential_epoch SET n = n + 1 WHERE id = 1;
  RETURN NULL;
END
$$;

DROP TRIGGER mcp_tokens_changed ON mcp_tokens;
DROP TRIGGER oauth_grants_changed ON oauth_grants;
DROP TRIGGER memberships_changed ON memberships;
DROP TRIGGER workspaces_changed ON workspaces;
CREATE TRIGGER mcp_tokens_changed
  BEFORE UPDATE OF revoked_at, expires_at, user_id, workspace_id OR DELETE ON mcp_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER oauth_grants_changed
  BEFORE UPDATE OF revoked_at, expires_at, user_id, workspace_id, access_version OR DELETE
  ON oauth_grants
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER memberships_changed
  BEFORE UPDATE OR DELETE ON memberships
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER workspaces_changed
  BEFORE UPDATE OF mcp_enabled, allow_token_in_url, redirect_policy OR DELETE ON workspaces
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
`;
