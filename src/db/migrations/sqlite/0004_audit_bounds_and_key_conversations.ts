/**
 * Issue 10, findings 2 and 7.
 *
 * Audit log that cannot be flooded: a refused tool call (rate budget, missing scope) is counted
 * in one row per credential, tool, outcome and window (`window_start` set, `count` calls,
 * `last_at` the latest) instead of one row each; `audit_usage` holds each workspace's number of
 * rows, kept exact by triggers whatever deletes them (retention, the per-workspace cap, a
 * workspace's cascade), so the cap is checked without counting the table.
 *
 * Conversations remember whether an API key created them (`created_through_api_key`): API keys
 * read those and workspace-visible ones, never a member's private conversation. Users are never
 * deleted once set up, so a conversation without a creating user was created by an API key.
 */
export const name = "audit_bounds_and_key_conversations";

export const sql = `
ALTER TABLE audit_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN window_start INTEGER;
ALTER TABLE audit_log ADD COLUMN last_at INTEGER;
CREATE UNIQUE INDEX audit_log_refusal_window
  ON audit_log(workspace_id, credential_id, tool, outcome, window_start)
  WHERE window_start IS NOT NULL;

CREATE TABLE audit_usage (
  workspace_id INTEGER PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
  entries INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO audit_usage (workspace_id, entries)
  SELECT workspace_id, COUNT(*) FROM audit_log WHERE workspace_id IS NOT NULL GROUP BY workspace_id;
CREATE TRIGGER audit_log_counted AFTER INSERT ON audit_log WHEN NEW.workspace_id IS NOT NULL
BEGIN
  INSERT INTO audit_usage (workspace_id, entries) VALUES (NEW.workspace_id, 1)
    ON CONFLICT (workspace_id) DO UPDATE SET entries = entries + 1;
END;
CREATE TRIGGER audit_log_uncounted AFTER DELETE ON audit_log WHEN OLD.workspace_id IS NOT NULL
BEGIN
  UPDATE audit_usage SET entries = entries - 1 WHERE workspace_id = OLD.workspace_id;
END;

ALTER TABLE conversations ADD COLUMN created_through_api_key INTEGER NOT NULL DEFAULT 0
  CHECK (created_through_api_key IN (0, 1));
UPDATE conversations SET created_through_api_key = 1 WHERE created_by_user_id IS NULL;
`;
