/**
 * The OAuth trace (connection doctor): one row per step a real client's attempt takes —
 * register, authorize, consent, token, its grant's first MCP call — with the outcome, the
 * refusal reason and the time the step took. Never a code, token, verifier or secret. Kept
 * 24 hours and a bounded number of rows per workspace (the `oauth-trace-prune` job).
 * `workspace_id` is null until the attempt reaches a workspace.
 */
export const name = "oauth_traces";

export const sql = `
CREATE TABLE oauth_traces (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER REFERENCES workspaces(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  client_kind TEXT,
  client_name TEXT,
  grant_s_id TEXT,
  step TEXT NOT NULL CHECK (step IN ('register', 'authorize', 'consent', 'token', 'mcp')),
  ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
  status INTEGER NOT NULL,
  reason TEXT,
  detail TEXT,
  duration_ms INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX oauth_traces_workspace ON oauth_traces(workspace_id, created_at);
CREATE INDEX oauth_traces_client ON oauth_traces(client_id, created_at);
CREATE INDEX oauth_traces_grant ON oauth_traces(grant_s_id);
CREATE INDEX oauth_traces_created ON oauth_traces(created_at);
`;
