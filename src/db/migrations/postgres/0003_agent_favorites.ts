/** PostgreSQL twin of SQLite's 0003: per-user agent favourites. */
export const name = "agent_favorites";

export const sql = `
CREATE TABLE agent_favorites (
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  agent_configuration_id BIGINT NOT NULL REFERENCES agent_configurations(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, agent_configuration_id)
);
`;
