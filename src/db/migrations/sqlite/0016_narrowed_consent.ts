/**
 * Consent narrowed to spaces (issue 16): what the user chose for an OAuth grant on the consent
 * page (and may edit on the connected-access page), applied to every token of the grant on
 * every request.
 * - `oauth_grants.read_only`: the user withheld the write scope.
 * - `oauth_grants.all_spaces`: 1 = every space the user reads, now and later (today's
 *   behaviour and the default); 0 = only the spaces in `oauth_grant_spaces`.
 * - `oauth_grants.conversations`: the grant reaches the user's conversations that live in no
 *   space (private and workspace-visible ones) and the workspace's conversations space.
 * - `oauth_grants.access_version`: bumped on each edit, so `/mcp`'s memo of verified tokens
 *   rebuilds the actor on the next request.
 * - `oauth_codes.access`: the choice between consent and redemption (JSON, null = default).
 * - `agent_messages.grant_id`: the grant of the credential that launched the run, so the run
 *   acts with that grant's current choice (no foreign key: grants are never deleted but with
 *   their user, and a missing grant means "nothing", never "everything").
 */
export const name = "narrowed_consent";

export const sql = `
ALTER TABLE oauth_grants ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1));
ALTER TABLE oauth_grants ADD COLUMN all_spaces INTEGER NOT NULL DEFAULT 1 CHECK (all_spaces IN (0, 1));
ALTER TABLE oauth_grants ADD COLUMN conversations INTEGER NOT NULL DEFAULT 1 CHECK (conversations IN (0, 1));
ALTER TABLE oauth_grants ADD COLUMN access_version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE oauth_grant_spaces (
  grant_id INTEGER NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  PRIMARY KEY (grant_id, space_id)
) STRICT;
CREATE INDEX oauth_grant_spaces_space ON oauth_grant_spaces(space_id);
ALTER TABLE oauth_codes ADD COLUMN access TEXT CHECK (access IS NULL OR json_valid(access));
ALTER TABLE agent_messages ADD COLUMN grant_id INTEGER;
`;
