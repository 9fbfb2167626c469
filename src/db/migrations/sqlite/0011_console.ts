/**
 * The web console (issue 12): an agent's `space_ids` (JSON array of space sIds its `search`
 * tool is limited to; empty = every space the asking member reads), and the index the
 * document list of a data source pages on (newest first) without sorting the whole source.
 */
export const name = "console";

export const sql = `
ALTER TABLE agent_configurations ADD COLUMN space_ids TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(space_ids));
CREATE INDEX documents_source_timestamp ON documents(data_source_id, timestamp, id);
`;
