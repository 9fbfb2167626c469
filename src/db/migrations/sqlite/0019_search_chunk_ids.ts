/**
 * Top-k without ranking every match (issue 15, item 3): a search worker keeps, per index
 * partition and common term, the best chunks it ranked once (`core/search_topk.ts`) and later
 * ranks only those plus the chunks indexed since. That needs two facts the schema did not hold:
 *
 * - chunk ids that are never reused (`document_chunks.id` is a plain rowid: deleting the
 *   highest one lets the next insert take it again, and "newer than the list" would miss it):
 *   `search_chunk_ids.last` is the last id handed out, and `search_index.ts` numbers chunks
 *   from it;
 * - a partition epoch, bumped when chunks with old ids enter a partition (a space moved, or
 *   chunks indexed for the first time) or leave it for another: every list of that partition
 *   is then rebuilt.
 */
export const name = "search_chunk_ids";

export const sql = `
CREATE TABLE search_chunk_ids (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
) STRICT;
INSERT INTO search_chunk_ids (id, last) SELECT 1, coalesce(max(id), 0) FROM document_chunks;
ALTER TABLE search_partitions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
`;
