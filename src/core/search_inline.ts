/**
 * Small searches on the main thread (SQLite). A search worker round trip (post the job, wake
 * the thread, copy the hits back) costs more than ranking a small index, so a search whose
 * partitions hold at most `--search-inline-max-chunks` chunks runs here: its cost is bounded by
 * that count (about a microsecond per matching chunk). Larger ones still go to the workers, so
 * a common term over a big workspace never blocks the event loop.
 * @module
 */
import type { Db } from "../db/db.ts";
import type { SqliteDb } from "../db/sqlite.ts";
import {
  partitionRowCount,
  runSearchQuery,
  type SearchHit,
  type SearchRequest,
} from "./search_query.ts";

/** The hits when the search is small enough to run inline, else null (use a worker). */
export async function searchInline(
  db: Db,
  request: SearchRequest,
  maxChunks: number,
): Promise<SearchHit[] | null> {
  if (db.engine !== "sqlite" || maxChunks <= 0) return null;
  // Counting and ranking in one synchronous step on the connection: nothing lands in between.
  return await (db as SqliteDb).withConnection((conn) =>
    partitionRowCount(conn, request.partitions) <= maxChunks ? runSearchQuery(conn, request) : null
  );
}
