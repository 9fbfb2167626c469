/**
 * Per-user agent favourites (Dust's `userFavorite`, the `favorites` view and
 * `PATCH assistant/agent_configurations/{sId}` with `{userFavorite}`).
 */
export const name = "agent_favorites";

export const sql = `
CREATE TABLE agent_favorites (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  agent_configuration_id INTEGER NOT NULL REFERENCES agent_configurations(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, agent_configuration_id)
) STRICT;
`;
