/**
 * 1. `relay_requests.id` becomes AUTOINCREMENT: the id is the SSE `eventId` a client resumes
 *    from, and answered requests are deleted, so a plain rowid would be reused after the log
 *    empties (a new request would get an id the client already saw and be skipped on replay).
 * 2. Every global space gets the views of the two internal MCP servers agents use (`search`,
 *    `files`; availability `auto`, as Dust's internal servers), now and for new workspaces
 *    (trigger), so `GET spaces/{id}/mcp_server_views?includeAuto=true` lists them.
 */
export const name = "relay_and_tool_views";

const VIEW_SID = "'msv_' || lower(hex(randomblob(6)))";

export const sql = `
CREATE TABLE relay_requests_v2 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id TEXT NOT NULL,
  request_id TEXT,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
INSERT INTO relay_requests_v2 (id, server_id, request_id, payload, created_at, expires_at)
  SELECT id, server_id, request_id, payload, created_at, expires_at FROM relay_requests;
DROP TABLE relay_requests;
ALTER TABLE relay_requests_v2 RENAME TO relay_requests;
CREATE INDEX relay_requests_server ON relay_requests(server_id, id);
CREATE INDEX relay_requests_request ON relay_requests(server_id, request_id);

INSERT OR IGNORE INTO mcp_server_views
  (s_id, workspace_id, space_id, server_name, server_type, availability, created_at, updated_at)
  SELECT ${VIEW_SID}, s.workspace_id, s.id, t.name, 'internal', 'auto', s.created_at, s.created_at
  FROM spaces s, (SELECT 'search' AS name UNION ALL SELECT 'files') t
  WHERE s.kind = 'global';

CREATE TRIGGER spaces_global_tool_views AFTER INSERT ON spaces WHEN new.kind = 'global' BEGIN
  INSERT OR IGNORE INTO mcp_server_views
    (s_id, workspace_id, space_id, server_name, server_type, availability, created_at, updated_at)
  VALUES
    (${VIEW_SID}, new.workspace_id, new.id, 'search', 'internal', 'auto', new.created_at, new.created_at),
    (${VIEW_SID}, new.workspace_id, new.id, 'files', 'internal', 'auto', new.created_at, new.created_at);
END;
`;
