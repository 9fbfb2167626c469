/** PostgreSQL twin of SQLite's 0011: agents' `space_ids`, the document list index. */
export const name = "console";

export const sql = `
ALTER TABLE agent_configurations ADD COLUMN space_ids TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(space_ids));
CREATE INDEX documents_source_timestamp ON documents(data_source_id, timestamp, id);
`;
