/**
 * The whole data model of product.md. Timestamps are epoch milliseconds (INTEGER); public ids
 * are Dust sIds (TEXT); JSON values are TEXT checked with `json_valid`. Forward-only: never
 * edit this once shipped, add a new migration instead.
 */
export const name = "init";

export const sql = `
CREATE TABLE instance_settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL CHECK (json_valid(value)),
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  username TEXT NOT NULL,
  first_name TEXT NOT NULL,
  last_name TEXT,
  image_url TEXT,
  password_hash TEXT,
  password_changed_at INTEGER,
  is_instance_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_instance_admin IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE workspaces (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  mcp_enabled INTEGER NOT NULL DEFAULT 1 CHECK (mcp_enabled IN (0, 1)),
  redirect_policy TEXT NOT NULL DEFAULT 'all' CHECK (redirect_policy IN ('all', 'allowlist')),
  allowed_redirect_uris TEXT NOT NULL
    DEFAULT '["http://localhost:*","http://127.0.0.1:*"]' CHECK (json_valid(allowed_redirect_uris)),
  allow_token_in_url INTEGER NOT NULL DEFAULT 1 CHECK (allow_token_in_url IN (0, 1)),
  audit_retention_days INTEGER NOT NULL DEFAULT 90,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'builder', 'user')),
  created_at INTEGER NOT NULL,
  UNIQUE (workspace_id, user_id)
) STRICT;
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE groups (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('global', 'regular', 'space_members', 'space_editors')),
  created_at INTEGER NOT NULL,
  UNIQUE (workspace_id, name)
) STRICT;

CREATE TABLE group_members (
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE spaces (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('global', 'regular', 'project', 'conversations', 'system')),
  is_restricted INTEGER NOT NULL DEFAULT 0 CHECK (is_restricted IN (0, 1)),
  archived_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX spaces_workspace ON spaces(workspace_id, kind);

-- Space membership: role 'member' or 'editor' (mutually exclusive, as Dust's Pod roles).
CREATE TABLE space_members (
  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'editor')),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (space_id, user_id)
) STRICT;
CREATE INDEX space_members_user ON space_members(user_id);

-- Groups granted access to a space (a restricted space is readable by its members and groups).
CREATE TABLE space_groups (
  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  PRIMARY KEY (space_id, group_id)
) STRICT;

CREATE TABLE pod_metadata (
  space_id INTEGER PRIMARY KEY REFERENCES spaces(id) ON DELETE CASCADE,
  s_id TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  pinned_frame_path TEXT,
  frame_tabs TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(frame_tabs)),
  tabs_order TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tabs_order)),
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_configurations (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  version INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  instructions TEXT,
  picture_url TEXT NOT NULL DEFAULT '',
  provider_id TEXT NOT NULL DEFAULT 'openai',
  model_id TEXT NOT NULL DEFAULT 'gpt-4o',
  temperature REAL NOT NULL DEFAULT 0.7,
  scope TEXT NOT NULL CHECK (scope IN ('global', 'workspace', 'published', 'private', 'hidden', 'visible')),
  status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'archived', 'draft', 'disabled_by_admin', 'disabled_missing_datasource', 'disabled_free_workspace')),
  max_steps_per_run INTEGER NOT NULL DEFAULT 8,
  tools TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tools)),
  author_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (workspace_id, s_id)
) STRICT;
CREATE INDEX agent_configurations_name ON agent_configurations(workspace_id, name COLLATE NOCASE);

CREATE TABLE conversations (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  space_id INTEGER REFERENCES spaces(id) ON DELETE CASCADE,
  title TEXT,
  visibility TEXT NOT NULL DEFAULT 'unlisted' CHECK (visibility IN ('unlisted', 'workspace', 'deleted', 'test')),
  depth INTEGER NOT NULL DEFAULT 0,
  created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX conversations_space ON conversations(workspace_id, space_id, updated_at);

CREATE TABLE conversation_participants (
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  action TEXT NOT NULL DEFAULT 'posted' CHECK (action IN ('posted', 'subscribed')),
  last_read_at INTEGER,
  action_required INTEGER NOT NULL DEFAULT 0 CHECK (action_required IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, user_id)
) STRICT;
CREATE INDEX conversation_participants_user ON conversation_participants(user_id, updated_at);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  rank INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 0,
  parent_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  type TEXT NOT NULL CHECK (type IN ('user_message', 'agent_message', 'content_fragment')),
  visibility TEXT NOT NULL DEFAULT 'visible' CHECK (visibility IN ('visible', 'deleted')),
  created_at INTEGER NOT NULL,
  UNIQUE (conversation_id, rank, version)
) STRICT;

CREATE TABLE user_messages (
  message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  content TEXT NOT NULL,
  mentions TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(mentions)),
  context TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context))
) STRICT;

CREATE TABLE agent_messages (
  message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  agent_configuration_id INTEGER REFERENCES agent_configurations(id) ON DELETE SET NULL,
  agent_s_id TEXT NOT NULL,
  agent_version INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'succeeded', 'failed', 'cancelled')),
  content TEXT,
  chain_of_thought TEXT,
  error_code TEXT,
  error_message TEXT,
  error_metadata TEXT CHECK (error_metadata IS NULL OR json_valid(error_metadata)),
  parent_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  completed_at INTEGER
) STRICT;
CREATE INDEX agent_messages_status ON agent_messages(status);

CREATE TABLE agent_actions (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  agent_message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  function_call_name TEXT NOT NULL,
  function_call_id TEXT NOT NULL,
  mcp_server_id TEXT,
  params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
  output TEXT CHECK (output IS NULL OR json_valid(output)),
  status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'errored', 'cancelled')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX agent_actions_message ON agent_actions(agent_message_id, step);

CREATE TABLE files (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  content_type TEXT NOT NULL,
  file_name TEXT NOT NULL,
  file_size INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'ready', 'failed')),
  use_case TEXT NOT NULL,
  use_case_metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(use_case_metadata)),
  scope_type TEXT CHECK (scope_type IS NULL OR scope_type IN ('conversation', 'pod')),
  scope_s_id TEXT,
  path TEXT,
  storage_key TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CHECK ((scope_type IS NULL) = (scope_s_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX files_scoped_path ON files(workspace_id, scope_type, scope_s_id, path)
  WHERE path IS NOT NULL AND status != 'failed';

CREATE TABLE content_fragments (
  message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  content_type TEXT NOT NULL,
  file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,
  source_url TEXT,
  text_bytes INTEGER,
  node_id TEXT,
  node_data_source_view_id TEXT,
  context TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context))
) STRICT;

CREATE TABLE pod_tasks (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  text TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'done')),
  assignee_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  done_at INTEGER,
  conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
  agent_instructions TEXT,
  created_by_type TEXT NOT NULL CHECK (created_by_type IN ('user', 'agent')),
  created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_by_agent_id INTEGER REFERENCES agent_configurations(id) ON DELETE SET NULL,
  marked_done_by_type TEXT CHECK (marked_done_by_type IS NULL OR marked_done_by_type IN ('user', 'agent')),
  marked_done_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  marked_done_by_agent_id INTEGER REFERENCES agent_configurations(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
) STRICT;
CREATE INDEX pod_tasks_space ON pod_tasks(space_id, status) WHERE deleted_at IS NULL;

CREATE TABLE pod_task_versions (
  id INTEGER PRIMARY KEY,
  task_id INTEGER NOT NULL REFERENCES pod_tasks(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  snapshot TEXT NOT NULL CHECK (json_valid(snapshot)),
  created_at INTEGER NOT NULL,
  UNIQUE (task_id, version)
) STRICT;

CREATE TABLE data_sources (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  view_s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (workspace_id, name)
) STRICT;

CREATE TABLE documents (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
  document_id TEXT NOT NULL,
  title TEXT,
  mime_type TEXT NOT NULL DEFAULT 'text/plain',
  text TEXT NOT NULL,
  source_url TEXT,
  tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
  parent_id TEXT,
  parents TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(parents)),
  timestamp INTEGER NOT NULL,
  hash TEXT NOT NULL,
  text_size INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (data_source_id, document_id)
) STRICT;
CREATE INDEX documents_timestamp ON documents(workspace_id, timestamp);

CREATE TABLE document_tags (
  document_row_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (document_row_id, tag)
) STRICT;
CREATE INDEX document_tags_tag ON document_tags(tag);

CREATE TABLE document_chunks (
  id INTEGER PRIMARY KEY,
  document_row_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  chunk_index INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  text TEXT NOT NULL,
  hash TEXT NOT NULL,
  UNIQUE (document_row_id, chunk_index)
) STRICT;

CREATE VIRTUAL TABLE document_chunks_fts USING fts5(
  text,
  content = 'document_chunks',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER document_chunks_ai AFTER INSERT ON document_chunks BEGIN
  INSERT INTO document_chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER document_chunks_ad AFTER DELETE ON document_chunks BEGIN
  INSERT INTO document_chunks_fts(document_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER document_chunks_au AFTER UPDATE ON document_chunks BEGIN
  INSERT INTO document_chunks_fts(document_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO document_chunks_fts(rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE mcp_server_views (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
  server_name TEXT NOT NULL,
  server_type TEXT NOT NULL CHECK (server_type IN ('remote', 'internal')),
  name TEXT,
  description TEXT,
  availability TEXT NOT NULL DEFAULT 'manual' CHECK (availability IN ('manual', 'auto', 'auto_hidden_builder')),
  edited_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (space_id, server_name)
) STRICT;

CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  key_prefix TEXT NOT NULL,
  created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
) STRICT;

CREATE TABLE personal_tokens (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  token_prefix TEXT NOT NULL,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
) STRICT;

CREATE TABLE mcp_tokens (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  token_prefix TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER,
  revoked_reason TEXT
) STRICT;
CREATE INDEX mcp_tokens_user ON mcp_tokens(workspace_id, user_id) WHERE revoked_at IS NULL;

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL CHECK (json_valid(public_jwk)),
  private_jwk TEXT NOT NULL CHECK (json_valid(private_jwk)),
  created_at INTEGER NOT NULL,
  retired_at INTEGER
) STRICT;

CREATE TABLE browser_sessions (
  id_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX browser_sessions_user ON browser_sessions(user_id);

CREATE TABLE oauth_clients (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('cimd', 'dcr', 'static')),
  workspace_id INTEGER REFERENCES workspaces(id) ON DELETE CASCADE,
  client_name TEXT NOT NULL,
  client_uri TEXT,
  logo_uri TEXT,
  redirect_uris TEXT NOT NULL CHECK (json_valid(redirect_uris)),
  grant_types TEXT NOT NULL DEFAULT '["authorization_code","refresh_token"]' CHECK (json_valid(grant_types)),
  response_types TEXT NOT NULL DEFAULT '["code"]' CHECK (json_valid(response_types)),
  token_endpoint_auth_method TEXT NOT NULL DEFAULT 'none'
    CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
  secret_hash TEXT,
  application_type TEXT,
  scope TEXT,
  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  created_by_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at INTEGER
) STRICT;

CREATE TABLE oauth_auth_requests (
  id_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  params TEXT NOT NULL CHECK (json_valid(params)),
  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
  workspace_id INTEGER REFERENCES workspaces(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  completed_at INTEGER
) STRICT;

CREATE TABLE oauth_grants (
  id INTEGER PRIMARY KEY,
  s_id TEXT NOT NULL UNIQUE,
  client_id TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  resource TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_reason TEXT
) STRICT;
CREATE INDEX oauth_grants_user ON oauth_grants(user_id, workspace_id);

CREATE TABLE oauth_codes (
  code_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  redirect_uri TEXT NOT NULL,
  redirect_uri_sent INTEGER NOT NULL DEFAULT 1 CHECK (redirect_uri_sent IN (0, 1)),
  code_challenge TEXT NOT NULL,
  scope TEXT NOT NULL,
  resource TEXT NOT NULL,
  grant_id INTEGER REFERENCES oauth_grants(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  consumed_at INTEGER
) STRICT;

CREATE TABLE oauth_refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  grant_id INTEGER NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens(grant_id);

CREATE TABLE relay_registrations (
  server_id TEXT PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  server_name TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  last_heartbeat_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX relay_registrations_user ON relay_registrations(workspace_id, user_id);

CREATE TABLE relay_requests (
  id INTEGER PRIMARY KEY,
  server_id TEXT NOT NULL,
  request_id TEXT,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX relay_requests_server ON relay_requests(server_id, id);

-- Conversation and message event streams (SSE resume by lastEventId).
CREATE TABLE stream_events (
  id INTEGER PRIMARY KEY,
  stream TEXT NOT NULL,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX stream_events_stream ON stream_events(stream, id);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  workspace_id INTEGER REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  credential_kind TEXT NOT NULL,
  credential_id TEXT,
  client_id TEXT,
  tool TEXT NOT NULL,
  arguments TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(arguments)),
  outcome TEXT NOT NULL CHECK (outcome IN ('success', 'error', 'denied', 'rate_limited')),
  error TEXT,
  latency_ms REAL NOT NULL,
  bytes_returned INTEGER NOT NULL DEFAULT 0,
  request_id TEXT
) STRICT;
CREATE INDEX audit_log_workspace ON audit_log(workspace_id, created_at);
`;
