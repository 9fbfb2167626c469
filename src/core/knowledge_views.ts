/**
 * The console's view of knowledge: every space the member reads with its data sources and
 * their document counts, what the member may do there (create a data source, write
 * documents), and a light, paged document list (no text) for one data source. Rules come
 * from `access.ts`; writes go through `data_sources.ts`, `documents.ts` and
 * `document_upload.ts` like REST.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { canCreateDataSourceIn, canWriteDocumentsIn, readableSpaceIds } from "./access.ts";
import { listWorkspaceSpaces, type SpaceKind } from "./space_rows.ts";
import { requireDataSource } from "./data_sources.ts";
import { mapSeries } from "../util/async.ts";

export interface KnowledgeDataSource {
  sId: string;
  name: string;
  description: string | null;
  documentCount: number;
  updatedAt: number;
}

export interface KnowledgeSpace {
  sId: string;
  name: string;
  kind: SpaceKind;
  isRestricted: boolean;
  canCreateDataSource: boolean;
  canWriteDocuments: boolean;
  dataSources: KnowledgeDataSource[];
}

const KIND_ORDER: Record<SpaceKind, number> = {
  global: 0,
  regular: 1,
  project: 2,
  system: 3,
  conversations: 4,
};

/** The non-archived spaces whose data sources the actor reads, with their data sources. */
export async function describeKnowledge(deps: Deps, actor: Actor): Promise<KnowledgeSpace[]> {
  const readable = await readableSpaceIds(deps.db, actor);
  const spaces = (await listWorkspaceSpaces(deps.db, actor.workspace.id))
    .filter((s) => readable.has(s.id) && s.archivedAt === null && s.kind !== "conversations")
    .sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
  if (spaces.length === 0) return [];
  const rows = await deps.db.all(
    `SELECT ds.space_id, ds.s_id, ds.name, ds.description, ds.updated_at,
       (SELECT count(*) FROM documents d WHERE d.data_source_id = ds.id) AS n
     FROM data_sources ds WHERE ds.workspace_id = ?
     AND ds.space_id IN (SELECT value FROM json_each(?)) ORDER BY lower(ds.name) LIMIT 5000`,
    actor.workspace.id,
    JSON.stringify(spaces.map((s) => s.id)),
  ) as {
    space_id: number;
    s_id: string;
    name: string;
    description: string | null;
    updated_at: number;
    n: number;
  }[];
  return await mapSeries(spaces, async (s) => ({
    sId: s.sId,
    name: s.name,
    kind: s.kind,
    isRestricted: s.isRestricted,
    canCreateDataSource: await canCreateDataSourceIn(deps.db, actor, s),
    canWriteDocuments: await canWriteDocumentsIn(deps.db, actor, s),
    dataSources: rows.filter((r) => r.space_id === s.id).map((r) => ({
      sId: r.s_id,
      name: r.name,
      description: r.description,
      documentCount: Number(r.n),
      updatedAt: r.updated_at,
    })),
  }));
}

/** A document as the console lists it (no text). */
export interface ListedDataSourceDocument {
  documentId: string;
  title: string | null;
  mimeType: string;
  sourceUrl: string | null;
  textSize: number;
  chunkCount: number;
  timestamp: number;
  /** When it was last written (and so indexed). */
  updatedAt: number;
}

export const CONSOLE_DOCUMENTS_PAGE = 50;

function parseCursor(cursor: string): [number, number] {
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(cursor);
  if (!m) throw invalid("cursor: not a cursor from this list");
  return [Number(m[1]), Number(m[2])];
}

/** A data source the actor reads, its space, and whether the actor writes documents there. */
export async function describeDataSource(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; dataSourceId: string },
) {
  const { space, dataSource } = await requireDataSource(deps, actor, input);
  return {
    space: { sId: space.sId, name: space.name, kind: space.kind },
    dataSource: { sId: dataSource.sId, name: dataSource.name, description: dataSource.description },
    canWriteDocuments: await canWriteDocumentsIn(deps.db, actor, space),
    rowId: dataSource.id,
  };
}

/**
 * One data source for the console ({@link describeDataSource}) and a page of its documents newest first (keyset cursor `<timestamp>.<row id>`
 * on the `documents_source_timestamp` index; the text is not read).
 */
export async function browseDataSource(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; dataSourceId: string; cursor?: string; limit?: number },
) {
  const limit = Math.min(Math.max(input.limit ?? CONSOLE_DOCUMENTS_PAGE, 1), 100);
  const [ts, id] = input.cursor ? parseCursor(input.cursor) : [Number.MAX_SAFE_INTEGER, 0];
  const { rowId, ...facts } = await describeDataSource(deps, actor, input);
  const rows = await deps.db.all(
    `SELECT id, document_id, title, mime_type, source_url, text_size, chunk_count, timestamp,
       updated_at FROM documents WHERE data_source_id = ?
     AND (? = 0 OR timestamp < ? OR (timestamp = ? AND id < ?))
     ORDER BY timestamp DESC, id DESC LIMIT ?`,
    rowId,
    input.cursor ? 1 : 0,
    ts,
    ts,
    id,
    limit + 1,
  ) as Record<string, never>[];
  const total = (await deps.db.get(
    "SELECT count(*) AS n FROM documents WHERE data_source_id = ?",
    rowId,
  ) as { n: number }).n;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    ...facts,
    total: Number(total),
    documents: page.map((r): ListedDataSourceDocument => ({
      documentId: r.document_id,
      title: r.title,
      mimeType: r.mime_type,
      sourceUrl: r.source_url,
      textSize: r.text_size,
      chunkCount: r.chunk_count,
      timestamp: r.timestamp,
      updatedAt: r.updated_at,
    })),
    nextCursor: rows.length > limit && last ? `${last.timestamp}.${last.id}` : null,
  };
}
