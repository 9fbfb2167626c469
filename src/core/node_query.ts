/**
 * The query behind Dust's node (title) search, as a plain function of a connection, run on a
 * search worker (`search_worker_main.ts`): a title `LIKE` scans every document of the readable
 * data sources (~70–95 ms for 100k documents on a loaded 2-core machine), which would stall
 * the main event loop. Access is decided before: the request carries the data-source row ids
 * the caller may read.
 * @module
 */
import type { DatabaseSync as Db } from "node:sqlite";

export interface NodeQueryRequest {
  dataSourceIds: number[];
  /** Document ids to return (id lookup), or null for a title search. */
  nodeIds: string[] | null;
  /** Title search text (matched literally, case-insensitively), or null for an id lookup. */
  query: string | null;
  limit: number;
  /** Matches to skip (paging of the unified search); 0 when absent. */
  offset?: number;
}

export interface DocumentHit {
  data_source_id: number;
  document_id: string;
  title: string | null;
  mime_type: string;
  source_url: string | null;
  parent_id: string | null;
  parents: string;
  timestamp: number;
}

const COLUMNS =
  "data_source_id, document_id, title, mime_type, source_url, parent_id, parents, timestamp";

/** `text` for a LIKE pattern, matched literally (`\` escapes `%`, `_` and itself). */
function likeLiteral(text: string): string {
  return text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Documents by id, or whose title (its id when untitled) contains the query; prefix first. */
export function runNodeQuery(db: Db, req: NodeQueryRequest): DocumentHit[] {
  const sources = JSON.stringify(req.dataSourceIds);
  if (req.nodeIds) {
    return db.prepare(
      `SELECT ${COLUMNS} FROM documents WHERE data_source_id IN (SELECT value FROM json_each(?))
       AND document_id IN (SELECT value FROM json_each(?)) ORDER BY timestamp DESC, id DESC LIMIT ?`,
    ).all(sources, JSON.stringify(req.nodeIds), req.limit) as unknown as DocumentHit[];
  }
  const literal = likeLiteral(req.query ?? "");
  return db.prepare(
    `SELECT ${COLUMNS} FROM documents WHERE data_source_id IN (SELECT value FROM json_each(?))
     AND lower(coalesce(title, document_id)) LIKE ? ESCAPE '\\'
     ORDER BY lower(coalesce(title, document_id)) LIKE ? ESCAPE '\\' DESC, timestamp DESC, id DESC
     LIMIT ? OFFSET ?`,
  ).all(
    sources,
    `%${literal}%`,
    `${literal}%`,
    req.limit,
    req.offset ?? 0,
  ) as unknown as DocumentHit[];
}
