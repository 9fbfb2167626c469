/**
 * Upload a file (PDF, DOCX, Markdown, HTML, text, CSV) into a data source as a document:
 * the same permission as an upsert is checked before the file is read, its text is extracted
 * in an extraction process (`deps.extractor`, src/extract/pool.ts), then the document goes
 * through `upsertDocument` like any REST upsert (chunked, indexed, quota-checked, the
 * permission checked again). REST and the console share this function.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { requireDataSource } from "./data_sources.ts";
import { upsertDocument } from "./documents.ts";
import { searchOwnerOf } from "./search_worker.ts";

export interface UploadedDocumentFile {
  bytes: Uint8Array;
  /** The client's file name (never used as a path): the default id and title. */
  fileName: string | null;
  contentType: string | null;
}

export interface DocumentUploadFields {
  /** Defaults to a slug of the file name. */
  documentId?: string | null;
  /** Defaults to the document's own title (PDF metadata, first heading), else the file name. */
  title?: string | null;
  source_url?: string | null;
  tags?: string[] | null;
}

const SLUG_MAX = 200;

/** `Quarterly Report (final).PDF` → `quarterly-report-final.pdf`; null when nothing is left. */
export function documentIdFromFileName(fileName: string | null): string | null {
  const slug = (fileName ?? "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .replace(/-\./g, ".")
    .slice(0, SLUG_MAX);
  return slug.length > 0 ? slug : null;
}

/**
 * `POST …/data_sources/{dsId}/upload`: `read` yields the file and the form's fields; it is
 * called only once the actor may write into the data source. Returns the upsert's answer.
 */
export async function uploadDocument(
  deps: Deps,
  actor: Actor,
  input: {
    spaceId: string;
    dataSourceId: string;
    read: () => Promise<{ file: UploadedDocumentFile; fields: DocumentUploadFields }>;
  },
) {
  await requireDataSource(deps, actor, input, "write");
  const { file, fields } = await input.read();
  const documentId = fields.documentId ?? documentIdFromFileName(file.fileName);
  if (!documentId) {
    throw invalid("document_id: required when the file has no usable name");
  }
  const extracted = await deps.extractor.extract(
    file.bytes,
    { contentType: file.contentType, fileName: file.fileName },
    { owner: searchOwnerOf(actor).member },
  );
  return await upsertDocument(deps, actor, {
    spaceId: input.spaceId,
    dataSourceId: input.dataSourceId,
    documentId,
    text: extracted.text,
    title: fields.title ?? extracted.title ?? file.fileName,
    mime_type: extracted.mimeType,
    source_url: fields.source_url,
    tags: fields.tags,
  });
}
