/**
 * Documents of a data source: upsert (chunked for full-text search), get, list, delete, in
 * Dust's `CoreAPIDocument` shape. Chunks are ~512 tokens (≈ 2,000 characters) with a
 * 200-character overlap, cut at whitespace when possible; they live in `document_chunks`,
 * written with their full-text index by `search_index.ts` (one index per partition).
 * @module
 */
import { createHash } from "node:crypto";
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import {
  type DataSourceRow,
  listSearchableDataSources,
  requireDataSource,
  toDataSourceJSON,
} from "./data_sources.ts";
import { assertStorageFits, storageOwnerOf, storageTx } from "./storage_quota.ts";
import { removeDocumentChunks, replaceDocumentChunks } from "./search_index.ts";
import type { SpaceRow } from "./space_rows.ts";

export const CHUNK_CHARS = 2000;
export const CHUNK_OVERLAP = 200;
export const DOCUMENT_TEXT_MAX_CHARS = 1_500_000;
export const DOCUMENT_LIST_DEFAULT = 10;
export const DOCUMENT_LIST_MAX = 100;
export const TAGS_MAX = 64;

export interface Chunk {
  index: number;
  offset: number;
  text: string;
  hash: string;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Split text into overlapping chunks, preferring to cut at whitespace near the window end. */
export function chunkText(text: string): Chunk[] {
  const chunks: Chunk[] = [];
  if (text.length === 0) return chunks;
  let start = 0;
  // Each step advances by at least CHUNK_CHARS - CHUNK_OVERLAP - 20 % of the window.
  while (start < text.length) {
    let end = Math.min(start + CHUNK_CHARS, text.length);
    if (end < text.length) {
      // Cut after the last whitespace of the window's final 20 %, if there is one.
      const floor = start + Math.floor(CHUNK_CHARS * 0.8);
      for (let i = end - 1; i >= floor; i--) {
        if (/\s/.test(text[i])) {
          end = i + 1;
          break;
        }
      }
    }
    const piece = text.slice(start, end);
    chunks.push({ index: chunks.length, offset: start, text: piece, hash: sha256(piece) });
    if (end >= text.length) break;
    start = Math.max(end - CHUNK_OVERLAP, start + 1);
  }
  return chunks;
}

export interface DocumentRow {
  id: number;
  dataSourceId: number;
  documentId: string;
  title: string | null;
  mimeType: string;
  text: string;
  sourceUrl: string | null;
  tags: string[];
  parentId: string | null;
  parents: string[];
  timestamp: number;
  hash: string;
  textSize: number;
  chunkCount: number;
  createdAt: number;
  updatedAt: number;
}

export const DOCUMENT_COLUMNS =
  "id, data_source_id, document_id, title, mime_type, text, source_url, tags, parent_id, parents, timestamp, hash, text_size, chunk_count, created_at, updated_at";

// deno-lint-ignore no-explicit-any
export function documentFromRow(r: any): DocumentRow {
  return {
    id: r.id,
    dataSourceId: r.data_source_id,
    documentId: r.document_id,
    title: r.title,
    mimeType: r.mime_type,
    text: r.text,
    sourceUrl: r.source_url,
    tags: JSON.parse(r.tags),
    parentId: r.parent_id,
    parents: JSON.parse(r.parents),
    timestamp: r.timestamp,
    hash: r.hash,
    textSize: r.text_size,
    chunkCount: r.chunk_count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Dust's `CoreAPIDocument`; `chunks` and `text` only when asked for. */
export function toDocumentJSON(
  d: DocumentRow,
  ds: Pick<DataSourceRow, "sId">,
  options: {
    text?: boolean;
    chunks?: { text: string; hash: string; offset: number; score: number | null }[];
  } = {},
) {
  return {
    data_source_id: ds.sId,
    created: d.createdAt,
    document_id: d.documentId,
    title: d.title,
    mime_type: d.mimeType,
    timestamp: d.timestamp,
    parent_id: d.parentId,
    parents: d.parents,
    tags: d.tags,
    source_url: d.sourceUrl,
    hash: d.hash,
    text_size: d.textSize,
    chunk_count: d.chunkCount,
    chunks: options.chunks ?? [],
    text: options.text ? d.text : null,
  };
}

export interface UpsertDocumentInput {
  spaceId: string;
  dataSourceId: string;
  documentId: string;
  text: string;
  title?: string | null;
  source_url?: string | null;
  tags?: string[] | null;
  timestamp?: number | null;
  parents?: string[] | null;
  parent_id?: string | null;
  mime_type?: string | null;
}

function validateUpsert(input: UpsertDocumentInput): void {
  if (input.documentId.length === 0 || input.documentId.length > 512) {
    throw invalid("documentId: must be 1 to 512 characters");
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f]/.test(input.documentId)) {
    throw invalid("documentId: control characters are not allowed");
  }
  if (input.text.length > DOCUMENT_TEXT_MAX_CHARS) {
    throw invalid(`text: must be at most ${DOCUMENT_TEXT_MAX_CHARS} characters`);
  }
  const tags = input.tags ?? [];
  if (tags.length > TAGS_MAX) throw invalid(`tags: at most ${TAGS_MAX} tags`);
  if (tags.some((t) => t.length === 0 || t.length > 256)) {
    throw invalid("tags: each tag must be 1 to 256 characters");
  }
}

/** Replace a document's chunks and tags (inside the caller's transaction). */
async function writeChunksAndTags(
  deps: Deps,
  space: SpaceRow,
  docRowId: number,
  chunks: Chunk[],
  tags: string[],
): Promise<void> {
  await replaceDocumentChunks(deps.db, space, docRowId, chunks);
  await deps.db.run("DELETE FROM document_tags WHERE document_row_id = ?", docRowId);
  const insertTag = deps.db.prepare(
    "INSERT INTO document_tags (document_row_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
  );
  for (const t of tags) await insertTag.run(docRowId, t);
}

/**
 * Refuse (413 `data_source_quota_error`) an upsert whose text would take the writer or the
 * workspace past its storage quota; a replaced document's bytes are freed (storage_quota.ts).
 */
async function assertDocumentFits(
  deps: Deps,
  actor: Actor,
  dataSourceId: number,
  documentId: string,
  size: number,
): Promise<void> {
  const old = await deps.db.get(
    "SELECT text_size, user_id FROM documents WHERE data_source_id = ? AND document_id = ?",
    dataSourceId,
    documentId,
  ) as { text_size: number; user_id: number | null } | undefined;
  const owner = storageOwnerOf(actor);
  const freed = old?.text_size ?? 0;
  const freedByWriter = old && (old.user_id ?? 0) === owner.userId ? freed : 0;
  await assertStorageFits(deps, owner, {
    memberBytes: size - freedByWriter,
    workspaceBytes: size - freed,
  }, "document");
}

/** `POST .../documents/{documentId}`: create or replace a document and re-index it. */
export async function upsertDocument(deps: Deps, actor: Actor, input: UpsertDocumentInput) {
  validateUpsert(input);
  const { space, dataSource } = await requireDataSource(deps, actor, input, "write");
  const tags = [...new Set(input.tags ?? [])];
  const parents = input.parents ?? [input.documentId];
  const parentId = input.parent_id ?? parents[1] ?? null;
  const chunks = chunkText(input.text);
  const t = now();
  const textSize = new TextEncoder().encode(input.text).byteLength;
  const row = await storageTx(deps, actor.workspace.id, async () => {
    await assertDocumentFits(deps, actor, dataSource.id, input.documentId, textSize);
    const r = await deps.db.get(
      `INSERT INTO documents (workspace_id, data_source_id, document_id, title, mime_type, text,
         source_url, tags, parent_id, parents, timestamp, hash, text_size, chunk_count,
         created_at, updated_at, user_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (data_source_id, document_id) DO UPDATE SET title = excluded.title,
         mime_type = excluded.mime_type, text = excluded.text, source_url = excluded.source_url,
         tags = excluded.tags, parent_id = excluded.parent_id, parents = excluded.parents,
         timestamp = excluded.timestamp, hash = excluded.hash, text_size = excluded.text_size,
         chunk_count = excluded.chunk_count, updated_at = excluded.updated_at,
         user_id = excluded.user_id
       RETURNING ${DOCUMENT_COLUMNS}`,
      actor.workspace.id,
      dataSource.id,
      input.documentId,
      input.title ?? null,
      input.mime_type ?? "text/plain",
      input.text,
      input.source_url ?? null,
      JSON.stringify(tags),
      parentId,
      JSON.stringify(parents),
      input.timestamp ?? t,
      sha256(input.text),
      textSize,
      chunks.length,
      t,
      t,
      actor.kind === "user" ? actor.user.id : null,
    );
    const doc = documentFromRow(r);
    await writeChunksAndTags(deps, space, doc.id, chunks, tags);
    await deps.db.run("UPDATE data_sources SET updated_at = ? WHERE id = ?", t, dataSource.id);
    return doc;
  });
  const chunkJson = chunks.map((c) => ({
    text: c.text,
    hash: c.hash,
    offset: c.index,
    score: null,
  }));
  return {
    document: toDocumentJSON(row, dataSource, { text: true, chunks: chunkJson }),
    data_source: toDataSourceJSON(dataSource, space),
  };
}

function documentNotFound(): AppError {
  return new AppError(
    404,
    "data_source_document_not_found",
    "The document you requested was not found.",
  );
}

async function findDocument(
  deps: Deps,
  dataSourceId: number,
  documentId: string,
): Promise<DocumentRow | null> {
  const r = await deps.db.get(
    `SELECT ${DOCUMENT_COLUMNS} FROM documents WHERE data_source_id = ? AND document_id = ?`,
    dataSourceId,
    documentId,
  );
  return r ? documentFromRow(r) : null;
}

/**
 * A document addressed as a Dust content node (`nodeId` + `nodeDataSourceViewId`, as in a
 * content fragment), in a data source the actor reads; 404 otherwise, revealing nothing.
 */
export async function readNodeDocument(
  deps: Deps,
  actor: Actor,
  input: { dataSourceViewId: string; documentId: string },
): Promise<DocumentRow> {
  const ds = (await listSearchableDataSources(deps, actor))
    .find((d) => d.viewSId === input.dataSourceViewId);
  if (!ds) {
    throw new AppError(
      404,
      "data_source_not_found",
      "The data source you requested was not found.",
    );
  }
  const doc = await findDocument(deps, ds.id, input.documentId);
  if (!doc) throw documentNotFound();
  return doc;
}

/** `GET .../documents/{documentId}` → `{ document }` with its text. */
export async function getDocument(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; dataSourceId: string; documentId: string },
) {
  const { dataSource } = await requireDataSource(deps, actor, input);
  const doc = await findDocument(deps, dataSource.id, input.documentId);
  if (!doc) throw documentNotFound();
  return { document: toDocumentJSON(doc, dataSource, { text: true }) };
}

/** `DELETE .../documents/{documentId}` → `{ document: { document_id } }`. */
export async function deleteDocument(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; dataSourceId: string; documentId: string },
) {
  const { dataSource } = await requireDataSource(deps, actor, input, "write");
  await deps.db.tx(async () => {
    const doc = await findDocument(deps, dataSource.id, input.documentId);
    if (!doc) throw documentNotFound();
    // Chunks first, with their index entries (a cascade would leave those to the trash queue).
    await removeDocumentChunks(deps.db, doc.id);
    await deps.db.run("DELETE FROM documents WHERE id = ?", doc.id);
  });
  return { document: { document_id: input.documentId } };
}

/** Keyset cursor of the document list: `<timestamp>.<row id>` of the last row returned. */
function parseCursor(cursor: string): [number, number] {
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(cursor);
  if (!m) throw invalid("cursor: not a cursor returned by this endpoint");
  return [Number(m[1]), Number(m[2])];
}

/**
 * `GET .../documents?limit=&offset=|cursor=` → `{ documents, total, nextCursor }`, newest
 * first, without text. `offset` is Dust's paging; `cursor` (from `nextCursor`) is stable
 * under concurrent upserts.
 */
export async function listDocuments(
  deps: Deps,
  actor: Actor,
  input: {
    spaceId: string;
    dataSourceId: string;
    limit?: number;
    offset?: number;
    cursor?: string;
  },
) {
  const limit = input.limit ?? DOCUMENT_LIST_DEFAULT;
  const offset = input.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > DOCUMENT_LIST_MAX) {
    throw invalid(`limit: must be an integer between 1 and ${DOCUMENT_LIST_MAX}`);
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw invalid("offset: must be a non-negative integer");
  }
  const [ts, id] = input.cursor ? parseCursor(input.cursor) : [Number.MAX_SAFE_INTEGER, 0];
  const { dataSource } = await requireDataSource(deps, actor, input);
  const rows = (await deps.db.all(
    `SELECT ${DOCUMENT_COLUMNS} FROM documents WHERE data_source_id = ?
     AND (? = 0 OR timestamp < ? OR (timestamp = ? AND id < ?))
     ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?`,
    dataSource.id,
    input.cursor ? 1 : 0,
    ts,
    ts,
    id,
    limit + 1,
    offset,
  )).map(documentFromRow);
  const total = (await deps.db.get(
    "SELECT count(*) AS n FROM documents WHERE data_source_id = ?",
    dataSource.id,
  ) as { n: number }).n;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    documents: page.map((d) => toDocumentJSON(d, dataSource)),
    total,
    nextCursor: rows.length > limit && last ? `${last.timestamp}.${last.id}` : null,
  };
}

/** A document as a listing names it (no text). */
export interface ListedDocument {
  documentId: string;
  title: string | null;
  mimeType: string;
  dataSourceViewId: string;
  textSize: number;
  updatedAt: number;
}

/** Largest page of {@link listReadableDocuments}. */
export const READABLE_DOCUMENTS_PAGE_MAX = 100;

/**
 * Documents of every data source the actor reads (MCP `resources/list` and completion),
 * latest created first, `limit` per page after `cursor` (the row id `nextCursor` returned);
 * optionally only one data source view's, and only ids starting with `prefix`.
 */
export async function listReadableDocuments(
  deps: Deps,
  actor: Actor,
  input: { limit: number; cursor?: number | null; dataSourceViewId?: string; prefix?: string },
): Promise<{ documents: ListedDocument[]; nextCursor: number | null }> {
  const limit = Math.min(Math.max(Math.trunc(input.limit), 1), READABLE_DOCUMENTS_PAGE_MAX);
  const sources = (await listSearchableDataSources(deps, actor))
    .filter((s) => input.dataSourceViewId === undefined || s.viewSId === input.dataSourceViewId);
  if (sources.length === 0) return { documents: [], nextCursor: null };
  const views = new Map(sources.map((s) => [s.id, s.viewSId]));
  const prefix = input.prefix ?? "";
  const rows = await deps.db.all(
    `SELECT id, data_source_id, document_id, title, mime_type, text_size, updated_at
     FROM documents WHERE data_source_id IN (SELECT value FROM json_each(?)) AND id < ?
     AND (? = 0 OR substr(document_id, 1, ?) = ?) ORDER BY id DESC LIMIT ?`,
    JSON.stringify([...views.keys()]),
    input.cursor ?? Number.MAX_SAFE_INTEGER,
    prefix.length,
    prefix.length,
    prefix,
    limit + 1,
  ) as Record<string, never>[];
  const page = rows.slice(0, limit);
  return {
    documents: page.map((r) => ({
      documentId: r.document_id,
      title: r.title,
      mimeType: r.mime_type,
      dataSourceViewId: views.get(r.data_source_id)!,
      textSize: r.text_size,
      updatedAt: r.updated_at,
    })),
    nextCursor: rows.length > limit ? page[page.length - 1].id : null,
  };
}
