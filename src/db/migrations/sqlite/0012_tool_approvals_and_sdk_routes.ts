/**
 * Tool approval (issue 14) and the rest of Dust's SDK routes:
 *
 * - `agent_messages.skip_tools_validation`: the post asked `skipToolsValidation: true`.
 * - `tool_approvals`: one row per tool call that waits for (or got) the poster's decision;
 *   `state` pending → approved | rejected | expired | cancelled, `expires_at` epoch ms.
 * - `tool_always_approved`: "always allow" per user and tool (`server_key` is the tool's server:
 *   an internal server's name, or a client-side server's id without its per-registration suffix).
 * - `agent_run_checkpoints`: where a run parked on approvals stands (the model messages so far,
 *   the parked step and its calls), so that any instance resumes it, after a restart too.
 * - `agent_message_feedbacks`: thumbs up/down per user and agent message.
 * - `conversation_mcp_server_views`: tools (MCP server views) added to a conversation.
 * - `data_source_folders`: folders of a data source (Dust's `upsertFolder`).
 * - `data_sources.view_parents_in`: the default view's `parentsIn` (null: the whole source).
 */
export const name = "tool_approvals_and_sdk_routes";

export const sql = `
ALTER TABLE agent_messages ADD COLUMN skip_tools_validation INTEGER NOT NULL DEFAULT 0
  CHECK (skip_tools_validation IN (0, 1));

CREATE TABLE tool_approvals (
  action_id INTEGER PRIMARY KEY REFERENCES agent_actions(id) ON DELETE CASCADE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  agent_message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  stake TEXT NOT NULL CHECK (stake IN ('low', 'medium', 'high')),
  server_key TEXT NOT NULL,
  server_name TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
  always INTEGER NOT NULL DEFAULT 0 CHECK (always IN (0, 1)),
  decided_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  decided_at INTEGER,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX tool_approvals_due ON tool_approvals(state, expires_at);
CREATE INDEX tool_approvals_message ON tool_approvals(agent_message_id, state);
CREATE INDEX tool_approvals_conversation ON tool_approvals(conversation_id, state);

CREATE TABLE tool_always_approved (
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_key TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, user_id, server_key, tool_name)
) STRICT;

CREATE TABLE agent_run_checkpoints (
  agent_message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  content TEXT NOT NULL,
  chat TEXT NOT NULL CHECK (json_valid(chat)),
  calls TEXT NOT NULL CHECK (json_valid(calls)),
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_message_feedbacks (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  agent_message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  thumb_direction TEXT NOT NULL CHECK (thumb_direction IN ('up', 'down')),
  content TEXT,
  is_conversation_shared INTEGER NOT NULL DEFAULT 0 CHECK (is_conversation_shared IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (agent_message_id, user_id)
) STRICT;
CREATE INDEX agent_message_feedbacks_conversation ON agent_message_feedbacks(conversation_id, user_id);

CREATE TABLE conversation_mcp_server_views (
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  mcp_server_view_id INTEGER NOT NULL REFERENCES mcp_server_views(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, mcp_server_view_id)
) STRICT;

CREATE TABLE data_source_folders (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
  folder_id TEXT NOT NULL,
  title TEXT NOT NULL,
  parent_id TEXT,
  parents TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(parents)),
  mime_type TEXT NOT NULL,
  source_url TEXT,
  provider_visibility TEXT,
  timestamp INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (data_source_id, folder_id)
) STRICT;

ALTER TABLE data_sources ADD COLUMN view_parents_in TEXT
  CHECK (view_parents_in IS NULL OR json_valid(view_parents_in));
`;
