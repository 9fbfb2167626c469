/**
 * Storage quotas (issue 10, finding 11): bytes stored per workspace member, kept as counter
 * rows that triggers maintain in the same statement as the row that holds the bytes, and the
 * reservations of uploads in flight.
 *
 * - `storage_usage`: one row per (workspace, member); `user_id` 0 holds what no member owns
 *   (API-key writes, documents written before this migration, files of deleted users).
 *   `file_bytes` counts `ready` files (`file_size`), `document_bytes` counts documents
 *   (`text_size`, the UTF-8 bytes of the text). A workspace's usage is the sum of its rows.
 * - `storage_reservations`: bytes an upload holds while it streams; they count against the
 *   quotas until the upload commits (the row is deleted in the transaction that makes the file
 *   ready) or fails (deleted then). Cleared at start, when no upload can be in flight.
 * - `documents.user_id`: the member who last wrote a document (its bytes are theirs).
 *
 * Triggers rather than application code keep the counters exact on every path that changes
 * the rows, including foreign-key cascades (a deleted space, data source or workspace) and
 * SET NULL (a deleted user), which no core function sees. Subtractions only UPDATE (a row
 * that a cascade already removed needs nothing).
 */
export const name = "storage_quotas";

export const sql = `
CREATE TABLE storage_usage (
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL,
  file_bytes INTEGER NOT NULL DEFAULT 0,
  document_bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE storage_reservations (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL,
  bytes INTEGER NOT NULL CHECK (bytes >= 0),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX storage_reservations_owner ON storage_reservations(workspace_id, user_id);

ALTER TABLE documents ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE SET NULL;

CREATE TRIGGER files_usage_ai AFTER INSERT ON files WHEN NEW.status = 'ready' BEGIN
  INSERT INTO storage_usage (workspace_id, user_id, file_bytes)
  VALUES (NEW.workspace_id, COALESCE(NEW.user_id, 0), NEW.file_size)
  ON CONFLICT (workspace_id, user_id) DO UPDATE SET file_bytes = file_bytes + excluded.file_bytes;
END;
CREATE TRIGGER files_usage_ad AFTER DELETE ON files WHEN OLD.status = 'ready' BEGIN
  UPDATE storage_usage SET file_bytes = file_bytes - OLD.file_size
  WHERE workspace_id = OLD.workspace_id AND user_id = COALESCE(OLD.user_id, 0);
END;
CREATE TRIGGER files_usage_au AFTER UPDATE OF status, file_size, user_id, workspace_id ON files
WHEN OLD.status = 'ready' OR NEW.status = 'ready' BEGIN
  UPDATE storage_usage SET file_bytes = file_bytes - OLD.file_size
  WHERE OLD.status = 'ready' AND workspace_id = OLD.workspace_id
    AND user_id = COALESCE(OLD.user_id, 0);
  INSERT INTO storage_usage (workspace_id, user_id, file_bytes)
  SELECT NEW.workspace_id, COALESCE(NEW.user_id, 0), NEW.file_size WHERE NEW.status = 'ready'
  ON CONFLICT (workspace_id, user_id) DO UPDATE SET file_bytes = file_bytes + excluded.file_bytes;
END;

CREATE TRIGGER documents_usage_ai AFTER INSERT ON documents BEGIN
  INSERT INTO storage_usage (workspace_id, user_id, document_bytes)
  VALUES (NEW.workspace_id, COALESCE(NEW.user_id, 0), NEW.text_size)
  ON CONFLICT (workspace_id, user_id)
  DO UPDATE SET document_bytes = document_bytes + excluded.document_bytes;
END;
CREATE TRIGGER documents_usage_ad AFTER DELETE ON documents BEGIN
  UPDATE storage_usage SET document_bytes = document_bytes - OLD.text_size
  WHERE workspace_id = OLD.workspace_id AND user_id = COALESCE(OLD.user_id, 0);
END;
CREATE TRIGGER documents_usage_au AFTER UPDATE OF text_size, user_id, workspace_id ON documents
BEGIN
  UPDATE storage_usage SET document_bytes = document_bytes - OLD.text_size
  WHERE workspace_id = OLD.workspace_id AND user_id = COALESCE(OLD.user_id, 0);
  INSERT INTO storage_usage (workspace_id, user_id, document_bytes)
  VALUES (NEW.workspace_id, COALESCE(NEW.user_id, 0), NEW.text_size)
  ON CONFLICT (workspace_id, user_id)
  DO UPDATE SET document_bytes = document_bytes + excluded.document_bytes;
END;

INSERT INTO storage_usage (workspace_id, user_id, file_bytes, document_bytes)
SELECT workspace_id, owner, SUM(f), SUM(d) FROM (
  SELECT workspace_id, COALESCE(user_id, 0) AS owner, file_size AS f, 0 AS d
  FROM files WHERE status = 'ready'
  UNION ALL
  SELECT workspace_id, 0, 0, text_size FROM documents
) GROUP BY workspace_id, owner;
`;
