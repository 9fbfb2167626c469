/**
 * Every instance hears at once when something a `/mcp` credential check reads changes
 * (src/db/credential_epoch.ts): a token's or grant's revocation, expiry or owner, a membership's
 * role or removal, a workspace's MCP switches or removal. One note per statement on the bus's
 * channel `auth:changed` (src/events/pg_bus.ts), whoever wrote the rows. Revocations and member
 * removals also keep their `auth:revoked` notes (0010), which name the credential.
 */
export const name = "credential_changes";

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
  AFTER UPDATE OF revoked_at, expires_at, user_id, workspace_id OR DELETE ON oauth_grants
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER memberships_changed
  AFTER UPDATE OR DELETE ON memberships
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
CREATE TRIGGER workspaces_changed
  AFTER UPDATE OF mcp_enabled, allow_token_in_url, redirect_policy OR DELETE ON workspaces
  FOR EACH STATEMENT EXECUTE FUNCTION dust_mcp_credentials_changed();
`;
