/**
 * PostgreSQL twin of SQLite's 0005, which split FTS5 into partitions so that bm25's corpus
 * statistics never cross a workspace or an unreadable space. PostgreSQL ranks with `ts_rank`,
 * which reads only the document's own vector: there is nothing to partition, and this number
 * changes nothing (it exists so that both engines count their migrations alike).
 */
export const name = "search_partitions";

export const sql = `SELECT 1;`;
