/**
 * PostgreSQL twin of SQLite's 0004: refused calls counted per window, the per-workspace entry
 * count kept exact by triggers, and conversations created through API keys marked.
 */
export const name = "audit_bounds_and_key_conversations";

export const sql = `
ALTER TABLE audit_log ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN window_start BIGINT;
ALTER TABLE audit_log ADD COLUMN last_at BIGINT;
CREATE UNIQUE INDEX audit_log_refusal_window
  ON audit_log(workspace_id, credential_id, tool, outcome, window_start)
  WHERE window_start IS NOT NULL;

CREATE TABLE audit_usage (
  workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
  entries BIGINT NOT NULL DEFAULT 0
);
INSERT INTO audit_usage (workspace_id, entries)
  SELECT workspace_id, COUNT(*) FROM audit_log WHERE workspace_id IS NOT NULL GROUP BY workspace_id;

CREATE FUNCTION audit_log_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_usage (workspace_id, entries) VALUES (NEW.workspace_id, 1)
    ON CONFLICT (workspace_id) DO UPDATE SET entries = audit_usage.entries + 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_counted AFTER INSERT ON audit_log
  FOR EACH ROW WHEN (NEW.workspace_id IS NOT NULL) EXECUTE FUNCTION audit_log_counted();

CREATE FUNCTION audit_log_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE audit_usage SET entries = entries - 1 WHERE workspace_id = OLD.workspace_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_uncounted AFTER DELETE ON audit_log
  FOR EACH ROW WHEN (OLD.workspace_id IS NOT NULL) EXECUTE FUNCTION audit_log_uncounted();

ALTER TABLE conversations ADD COLUMN created_through_api_key BIGINT NOT NULL DEFAULT 0
  CHECK (created_through_api_key IN (0, 1));
UPDATE conversations SET created_through_api_key = 1 WHERE created_by_user_id IS NULL;
`;
