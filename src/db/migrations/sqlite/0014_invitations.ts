/**
 * Workspace invitations (the console's Members page): a one-time link for one email and role,
 * stored as the SHA-256 of its secret, expiring, revocable, used once.
 */
export const name = "invitations";

export const sql = `
CREATE TABLE invitations (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'builder', 'user')),
  token_hash TEXT NOT NULL UNIQUE,
  created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  accepted_at INTEGER,
  accepted_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  revoked_at INTEGER
) STRICT;
CREATE INDEX invitations_workspace ON invitations(workspace_id, created_at);
`;
