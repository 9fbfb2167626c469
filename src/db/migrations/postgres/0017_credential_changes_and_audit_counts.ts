/**
 * Every instance hears at once when something a `/mcp` credential check reads changes
 * (src/db/credential_epoch.ts): a token's or grant's revocation, expiry or owner (a grant's
 * access version: its consented choice), a membership's
 * role or removal, a workspace's MCP switches or removal. One note per statement on the bus's
 * channel `auth:changed` (src/events/pg_bus.ts), whoever wrote the rows. Revocations and member
 * removals also keep their `auth:revoked` notes (0010), which name the credential.
 *
 * And the audit log's per-workspace count (`audit_usage`, 0004) is kept per statement, not per
 * row: entries are written many rows per INSERT (src/core/audit.ts), and one counter row
 * updated once per row made each batch's transaction the bottleneck of `/mcp` on PostgreSQL.
 */
export const name = "credential_changes_and_audit_counts";

export const sql = `
CREATE FUNCTION dust_mcp_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM dust_mcp_bus_notify('auth:changed', json_build_object('table', TG_TABLE_NAME));
  RETURN NULL;
END
$$;
CREATE TRIGGER mcp_tokens_changed
  AFTER UPDATE OF revoked_at, expires_at, user_id, workspace_id OR DELETE ON mcp_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER oauth_grants_changed
  AFTER UPDATE OF revoked_at, expires_at, user_id, workspace_id, access_version OR DELETE
  ON oauth_grants
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER memberships_changed
  AFTER UPDATE OR DELETE ON memberships
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER workspaces_changed
  AFTER UPDATE OF mcp_enabled, allow_token_in_url, redirect_policy OR DELETE ON workspaces
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();

DROP TRIGGER audit_log_counted ON audit_log;
DROP TRIGGER audit_log_uncounted ON audit_log;
DROP FUNCTION audit_log_counted();
DROP FUNCTION audit_log_uncounted();
CREATE FUNCTION audit_log_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_usage (workspace_id, entries)
    SELECT workspace_id, COUNT(*) FROM counted_rows WHERE workspace_id IS NOT NULL
    GROUP BY workspace_id
    ON CONFLICT (workspace_id) DO UPDATE SET entries = audit_usage.entries + excluded.entries;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_counted AFTER INSERT ON audit_log
  REFERENCING NEW TABLE AS counted_rows
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_counted();
CREATE FUNCTION audit_log_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE audit_usage u SET entries = u.entries - d.n
    FROM (SELECT workspace_id, COUNT(*) AS n FROM uncounted_rows
          WHERE workspace_id IS NOT NULL GROUP BY workspace_id) d
    WHERE u.workspace_id = d.workspace_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_uncounted AFTER DELETE ON audit_log
  REFERENCING OLD TABLE AS uncounted_rows
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_uncounted();
`;
