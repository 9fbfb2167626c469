/**
 * PostgreSQL twin of SQLite's 0019 (never-reused chunk ids and partition epochs for the top-k
 * lists of `core/search_topk.ts`). Here chunk ids come from a sequence and are never reused,
 * and there are no partitions: nothing to add (the number exists so that both engines count
 * their migrations alike).
 */
export const name = "search_chunk_ids";

export const sql = `SELECT 1;`;
