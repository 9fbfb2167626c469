/**
 * Full-text search over documents, across every space the caller reads (MCP `search`, REST
 * workspace search, REST data-source search) and `fetchDocument` for ChatGPT's `fetch` tool.
 *
 * Safety: user text never reaches FTS5's query language. `buildMatchQuery` keeps only word
 * tokens (letters and digits, as the `unicode61` tokenizer sees them) and quotes each one, so
 * `"`, `*`, `NEAR(`, `AND`, `-`, `:` and friends are plain words or nothing, never syntax.
 * Access is decided here, on the main thread (readable spaces → their data sources and the
 * index partitions holding them, `search_index.ts`); the ranking itself runs on a search
 * worker, within the caller's search budget (`search_worker.ts`).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import {
  listSearchableDataSources,
  requireDataSource,
  type SearchableDataSource,
} from "./data_sources.ts";
import {
  DOCUMENT_COLUMNS,
  documentFromRow,
  type DocumentRow,
  toDocumentJSON,
} from "./documents.ts";
import type { SearchHit, SearchRequest } from "./search_query.ts";
import { searchPartitionsFor } from "./search_index.ts";
import { searchOwnerOf } from "./search_worker.ts";

export const TOP_K_DEFAULT = 10;
export const TOP_K_MAX = 64;
const QUERY_TOKENS_MAX = 16;
const QUERY_CHARS_MAX = 2048;

export const NO_DATA_SOURCES_MESSAGE =
  "No searchable data sources are available in globally accessible spaces.";

/** Words too common to rank on; dropped unless the query has nothing else. */
const STOPWORDS = new Set(
  ("a an and are as at be but by for from has have how i in is it its of on or that the this to " +
    "was were what when where which who why will with you your").split(" "),
);

/**
 * Turn free text into a safe FTS5 MATCH string: word tokens, quoted, OR-ed (bm25 ranks the
 * chunks that hold more of them first). Returns "" when the text has no word at all.
 */
export function buildMatchQuery(query: string): string {
  const words = query.slice(0, QUERY_CHARS_MAX).normalize("NFKC").toLowerCase()
    .match(/[\p{L}\p{N}\p{Mn}]+/gu) ?? [];
  const unique = [...new Set(words.map((w) => w.slice(0, 64)))];
  const meaningful = unique.filter((w) => !STOPWORDS.has(w));
  const chosen = (meaningful.length > 0 ? meaningful : unique).slice(0, QUERY_TOKENS_MAX);
  return chosen.map((w) => `"${w.replaceAll('"', '""')}"`).join(" OR ");
}

const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  m: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

/** `all` → null; `<k>h|d|w|m|y` → the earliest timestamp to keep. */
export function parseRelativeTimeFrame(frame: string | undefined, at = Date.now()): number | null {
  if (!frame || frame === "all") return null;
  const m = /^(\d{1,6})([hdwmy])$/.exec(frame);
  if (!m) throw invalid(`relativeTimeFrame: "${frame}" is not "all" or <k>h|d|w|m|y`);
  return at - Number(m[1]) * UNIT_MS[m[2]];
}

export interface SearchInput {
  query: string;
  topK?: number;
  spaceIds?: string[] | null;
  tagsIn?: string[] | null;
  tagsNot?: string[] | null;
  relativeTimeFrame?: string;
  nodeIds?: string[] | null;
}

function checkTopK(topK: number): void {
  if (!Number.isInteger(topK) || topK < 1 || topK > TOP_K_MAX) {
    throw invalid(`topK: must be an integer between 1 and ${TOP_K_MAX}`);
  }
}

/** What a search result shows of a document (never its text: it may be megabytes). */
type ResultDocument = Pick<
  DocumentRow,
  "id" | "dataSourceId" | "documentId" | "title" | "sourceUrl" | "tags"
>;

async function loadDocuments(deps: Deps, ids: number[]): Promise<Map<number, DocumentRow>> {
  const rows = (await deps.db.all(
    `SELECT ${DOCUMENT_COLUMNS} FROM documents WHERE id IN (SELECT value FROM json_each(?))`,
    JSON.stringify(ids),
  )).map(documentFromRow);
  return new Map(rows.map((d) => [d.id, d]));
}

async function loadResultDocuments(
  deps: Deps,
  ids: number[],
): Promise<Map<number, ResultDocument>> {
  const rows = await deps.db.all(
    `SELECT id, data_source_id, document_id, title, source_url, tags FROM documents
     WHERE id IN (SELECT value FROM json_each(?))`,
    JSON.stringify(ids),
  ) as {
    id: number;
    data_source_id: number;
    document_id: string;
    title: string | null;
    source_url: string | null;
    tags: string;
  }[];
  return new Map(rows.map((r) => [r.id, {
    id: r.id,
    dataSourceId: r.data_source_id,
    documentId: r.document_id,
    title: r.title,
    sourceUrl: r.source_url,
    tags: JSON.parse(r.tags),
  }]));
}

/** Hits grouped per document, in rank order of each document's best chunk. */
function groupHits(hits: SearchHit[]): Map<number, SearchHit[]> {
  const groups = new Map<number, SearchHit[]>();
  for (const h of hits) {
    const g = groups.get(h.documentRowId);
    if (g) g.push(h);
    else groups.set(h.documentRowId, [h]);
  }
  return groups;
}

/** Short citation refs, as Dust's: 3 characters, distinct within one answer (i < 1,200). */
function citationRef(i: number): string {
  return (1296 + i * 37).toString(36);
}

function documentUri(
  deps: Deps,
  actor: Actor,
  ds: SearchableDataSource,
  d: Pick<DocumentRow, "sourceUrl" | "documentId">,
): string {
  return d.sourceUrl ??
    `${deps.config.publicUrl}/api/v1/w/${actor.workspace.sId}/spaces/${ds.spaceSId}/data_sources/${ds.sId}/documents/${
      encodeURIComponent(d.documentId)
    }`;
}

/**
 * What {@link searchWorkspace} asks the search pool for: the actor's readable data sources (404
 * when there is none) and the request over their partitions, or null when the query has no
 * searchable word.
 */
export async function workspaceSearchRequest(
  deps: Deps,
  actor: Actor,
  input: SearchInput,
): Promise<{ sources: SearchableDataSource[]; request: SearchRequest | null }> {
  const topK = input.topK ?? TOP_K_DEFAULT;
  checkTopK(topK);
  const timestampGt = parseRelativeTimeFrame(input.relativeTimeFrame);
  const sources = await listSearchableDataSources(deps, actor, input.spaceIds);
  if (sources.length === 0) {
    throw new AppError(404, "data_source_not_found", NO_DATA_SOURCES_MESSAGE);
  }
  const match = buildMatchQuery(input.query);
  if (match === "") return { sources, request: null };
  const request: SearchRequest = {
    match,
    workspaceId: actor.workspace.id,
    partitions: await searchPartitionsFor(
      deps.db,
      actor.workspace.id,
      sources.map((s) => s.spaceId),
    ),
    dataSourceIds: sources.map((s) => s.id),
    timestampGt,
    timestampLt: null,
    tagsIn: input.tagsIn?.length ? input.tagsIn : null,
    tagsNot: input.tagsNot?.length ? input.tagsNot : null,
    nodeIds: input.nodeIds?.length ? input.nodeIds : null,
    limit: topK,
  };
  return { sources, request };
}

/**
 * MCP `search` and REST workspace search: `{ count, results: [{ ref, title, uri, id,
 * provider, dataSourceId, dataSourceViewId, tags, chunks }] }`, one result per document
 * (plus `spaceId`, `score` and a `snippet` of the best chunk). `topK` counts chunks.
 */
export async function searchWorkspace(deps: Deps, actor: Actor, input: SearchInput) {
  const { sources, request } = await workspaceSearchRequest(deps, actor, input);
  if (request === null) return { count: 0, results: [] };
  const hits = await deps.searchWorkers.search(request, { owner: searchOwnerOf(actor) });
  const byId = new Map(sources.map((s) => [s.id, s]));
  const docs = await loadResultDocuments(deps, [...new Set(hits.map((h) => h.documentRowId))]);
  const results = [];
  for (const [docId, chunks] of groupHits(hits)) {
    const d = docs.get(docId);
    const ds = d ? byId.get(d.dataSourceId) : undefined;
    if (!d || !ds) continue; // deleted between the worker's read and ours
    results.push({
      ref: citationRef(results.length),
      title: d.title ?? d.documentId,
      uri: documentUri(deps, actor, ds, d),
      // ChatGPT's search + fetch contract reads `url` for citations (Dust's field is `uri`).
      url: documentUri(deps, actor, ds, d),
      id: d.documentId,
      provider: null,
      dataSourceId: ds.sId,
      dataSourceViewId: ds.viewSId,
      spaceId: ds.spaceSId,
      tags: d.tags,
      score: chunks[0].score,
      snippet: chunks[0].snippet,
      chunks: chunks.map((c) => c.text),
    });
  }
  return { count: results.length, results };
}

export interface DataSourceSearchInput {
  spaceId: string;
  dataSourceId: string;
  query: string;
  topK?: number;
  fullText?: boolean;
  tagsIn?: string[] | null;
  tagsNot?: string[] | null;
  parentsIn?: string[] | null;
  parentsNot?: string[] | null;
  timestampGt?: number | null;
  timestampLt?: number | null;
}

/** REST `GET .../data_sources/{dsId}/search` → `{ documents: CoreAPIDocument[] }`. */
export async function searchDataSource(deps: Deps, actor: Actor, input: DataSourceSearchInput) {
  const topK = input.topK ?? TOP_K_DEFAULT;
  checkTopK(topK);
  const { space, dataSource } = await requireDataSource(deps, actor, input);
  const match = buildMatchQuery(input.query);
  if (match === "") return { documents: [] };
  const request: SearchRequest = {
    match,
    workspaceId: actor.workspace.id,
    partitions: await searchPartitionsFor(deps.db, actor.workspace.id, [space.id]),
    dataSourceIds: [dataSource.id],
    timestampGt: input.timestampGt ?? null,
    timestampLt: input.timestampLt ?? null,
    tagsIn: input.tagsIn?.length ? input.tagsIn : null,
    tagsNot: input.tagsNot?.length ? input.tagsNot : null,
    nodeIds: input.parentsIn?.length ? input.parentsIn : null,
    nodeIdsNot: input.parentsNot?.length ? input.parentsNot : null,
    limit: topK,
  };
  const hits = await deps.searchWorkers.search(request, { owner: searchOwnerOf(actor) });
  const docs = await loadDocuments(deps, [...new Set(hits.map((h) => h.documentRowId))]);
  const documents = [];
  for (const [docId, chunks] of groupHits(hits)) {
    const d = docs.get(docId);
    if (!d) continue;
    documents.push(toDocumentJSON(d, dataSource, {
      text: input.fullText ?? false,
      chunks: chunks.map((c) => ({
        text: c.text,
        hash: c.hash,
        offset: c.chunkIndex,
        score: c.score,
      })),
    }));
  }
  return { documents };
}

/**
 * ChatGPT's `fetch`: the full text and metadata of a document by the `id` search returned.
 * `id` is a document id (the most recently updated readable match wins when several data
 * sources hold one) or `<dataSourceId>/<documentId>` to name the data source.
 */
export async function fetchDocument(
  deps: Deps,
  actor: Actor,
  input: { id: string; dataSourceId?: string },
) {
  let dsSId = input.dataSourceId ?? null;
  let documentId = input.id;
  const slash = input.id.indexOf("/");
  if (!dsSId && input.id.startsWith("dts_") && slash > 0) {
    dsSId = input.id.slice(0, slash);
    documentId = input.id.slice(slash + 1);
  }
  const sources = (await listSearchableDataSources(deps, actor)).filter((s) =>
    !dsSId || s.sId === dsSId
  );
  const r = sources.length === 0 ? undefined : await deps.db.get(
    `SELECT ${DOCUMENT_COLUMNS} FROM documents WHERE document_id = ?
     AND data_source_id IN (SELECT value FROM json_each(?)) ORDER BY updated_at DESC LIMIT 1`,
    documentId,
    JSON.stringify(sources.map((s) => s.id)),
  );
  if (!r) {
    throw new AppError(404, "data_source_document_not_found", `Document not found: ${input.id}`);
  }
  const d = documentFromRow(r);
  const ds = sources.find((s) => s.id === d.dataSourceId)!;
  return {
    id: d.documentId,
    title: d.title ?? d.documentId,
    text: d.text,
    url: documentUri(deps, actor, ds, d),
    metadata: {
      dataSourceId: ds.sId,
      dataSourceViewId: ds.viewSId,
      spaceId: ds.spaceSId,
      tags: d.tags,
      timestamp: d.timestamp,
      sourceUrl: d.sourceUrl,
      mimeType: d.mimeType,
    },
  };
}
