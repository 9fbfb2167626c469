/**
 * The full-text index, partitioned (issue 10, finding 3): one shared FTS5 table let bm25's
 * statistics (row count, document frequency, average length) move with other workspaces' and
 * unreadable spaces' content. Each partition — a workspace's open spaces, or one other space —
 * gets its own FTS5 table, created on demand by `src/core/search_index.ts`, which also owns
 * every write to `document_chunks`.
 *
 * Here: the shared table and its triggers go; `document_chunks.partition_id` says which
 * partition indexes a chunk (NULL: not indexed yet — every existing chunk, re-indexed into
 * its partition when the server starts, `syncSearchIndex`). Two small queues keep the index
 * right when something changes behind the index layer's back: a space whose kind or
 * restriction changes (its chunks must move partition) and documents deleted by a cascade
 * (their chunks must leave their partition's index).
 */
export const name = "search_partitions";

export const sql = `
DROP TRIGGER document_chunks_ai;
DROP TRIGGER document_chunks_ad;
DROP TRIGGER document_chunks_au;
DROP TABLE document_chunks_fts;

CREATE TABLE search_partitions (
  id INTEGER PRIMARY KEY,
  workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  -- NULL: the workspace's open spaces (every actor of the workspace reads them); else one space.
  space_id INTEGER REFERENCES spaces(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX search_partitions_scope ON search_partitions(workspace_id, coalesce(space_id, 0));

ALTER TABLE document_chunks ADD COLUMN partition_id INTEGER;
CREATE INDEX document_chunks_unindexed ON document_chunks(id) WHERE partition_id IS NULL;

CREATE TABLE search_space_moves (space_id INTEGER PRIMARY KEY) STRICT;
CREATE TRIGGER spaces_search_scope AFTER UPDATE OF kind, is_restricted ON spaces
WHEN old.kind IS NOT new.kind OR old.is_restricted IS NOT new.is_restricted BEGIN
  INSERT OR IGNORE INTO search_space_moves (space_id) VALUES (new.id);
END;
CREATE TRIGGER data_sources_search_scope AFTER UPDATE OF space_id ON data_sources
WHEN old.space_id IS NOT new.space_id BEGIN
  INSERT OR IGNORE INTO search_space_moves (space_id) VALUES (new.space_id);
END;

CREATE TABLE search_index_trash (
  partition_id INTEGER NOT NULL,
  chunk_id INTEGER NOT NULL,
  text TEXT NOT NULL
) STRICT;
CREATE TRIGGER documents_search_trash BEFORE DELETE ON documents BEGIN
  INSERT INTO search_index_trash (partition_id, chunk_id, text)
  SELECT partition_id, id, text FROM document_chunks
  WHERE document_row_id = old.id AND partition_id IS NOT NULL;
END;
`;
