/**
 * PostgreSQL twin of SQLite's 0002: identity ids are never reused, so `relay_requests` needs no
 * rebuild (only the index SQLite's rebuild added); every global space gets the views of the two
 * internal MCP servers agents use (`search`, `files`), now and for new workspaces (trigger).
 */
export const name = "relay_and_tool_views";

const VIEW_SID = "'msv_' || substr(md5(random()::text || clock_timestamp()::text), 1, 12)";

export const sql = `
CREATE INDEX relay_requests_request ON relay_requests(server_id, request_id);

INSERT INTO mcp_server_views
  (s_id, workspace_id, space_id, server_name, server_type, availability, created_at, updated_at)
  SELECT ${VIEW_SID}, s.workspace_id, s.id, t.name, 'internal', 'auto', s.created_at, s.created_at
  FROM spaces s, (SELECT 'search' AS name UNION ALL SELECT 'files') t
  WHERE s.kind = 'global'
  ON CONFLICT DO NOTHING;

CREATE FUNCTION spaces_global_tool_views() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mcp_server_views
    (s_id, workspace_id, space_id, server_name, server_type, availability, created_at, updated_at)
  VALUES
    (${VIEW_SID}, NEW.workspace_id, NEW.id, 'search', 'internal', 'auto', NEW.created_at, NEW.created_at),
    (${VIEW_SID}, NEW.workspace_id, NEW.id, 'files', 'internal', 'auto', NEW.created_at, NEW.created_at)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER spaces_global_tool_views AFTER INSERT ON spaces
  FOR EACH ROW WHEN (NEW.kind = 'global') EXECUTE FUNCTION spaces_global_tool_views();
`;
