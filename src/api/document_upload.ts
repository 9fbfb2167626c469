/**
 * `POST /api/v1/w/{wId}/spaces/{spaceId}/data_sources/{dsId}/upload`: a file (PDF, DOCX,
 * Markdown, HTML, text, CSV) into a data source as a document — its text extracted, then
 * upserted exactly as `POST …/documents/{documentId}` would (same answer). This server's own
 * route: Dust has none (its clients upload a file, then upsert its text). Not
 * `…/documents/upload`, which would shadow the upsert of a document whose id is "upload".
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { capUploadBody } from "../core/files.ts";
import { type DocumentUploadFields, uploadDocument } from "../core/document_upload.ts";
import { ACCEPTED_KINDS } from "../extract/kinds.ts";
import { type ExtractLimits, maxAnyInputBytes } from "../extract/limits.ts";
import { AppError, invalid } from "../errors.ts";
import { documentRoute } from "./openapi.ts";
import { parseWith } from "./validate.ts";
import { readMultipartForm } from "./multipart.ts";

const Fields = z.object({
  document_id: z.string().min(1).max(512).optional()
    .describe("Defaults to a slug of the file name (`Q3 Report.pdf` → `q3-report.pdf`)"),
  title: z.string().min(1).max(1024).optional()
    .describe("Defaults to the document's title (PDF metadata, first heading), else the file name"),
  source_url: z.string().max(4096).optional(),
  tags: z.array(z.string().min(1).max(256)).max(64).optional()
    .describe("Repeat the field for several tags"),
});

/** The documented form (the file part plus the fields). */
const UploadForm = Fields.extend({
  file: z.file().describe(`The document. Accepted: ${ACCEPTED_KINDS}`),
});

/** The body as the core wants it: the file, then the fields validated. */
async function readUpload(
  raw: Request,
  limits: ExtractLimits,
) {
  const max = maxAnyInputBytes(limits);
  const body = capUploadBody(raw.body, raw.headers.get("content-length") ?? undefined);
  const form = await readMultipartForm(body, raw.headers.get("content-type") ?? undefined, {
    fileField: "file",
    fields: ["document_id", "title", "source_url", "tags"],
    maxFileBytes: max,
    fileTooLarge: () =>
      new AppError(400, "file_too_large", `The file is larger than ${max / 2 ** 20} MB.`),
  });
  if (!form.file) throw invalid("file: a file field is required");
  const one = (k: string) => form.fields.get(k)?.[0];
  const f = parseWith(Fields, {
    document_id: one("document_id"),
    title: one("title"),
    source_url: one("source_url"),
    tags: form.fields.get("tags"),
  }, "body");
  const fields: DocumentUploadFields = {
    documentId: f.document_id,
    title: f.title,
    source_url: f.source_url,
    tags: f.tags,
  };
  return { file: form.file, fields };
}

/** Mounted at `/api/v1/w/:wId`. */
export function documentUploadRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "post",
    path: "/api/v1/w/:wId/spaces/:spaceId/data_sources/:dsId/upload",
    summary: "Upload a file as a document (text extracted, then upserted; this server's route)",
    description: `multipart/form-data with a \`file\` field. Accepted: ${ACCEPTED_KINDS}. ` +
      "The text is extracted in a process of its own (time and memory limited), then the " +
      "document is created or replaced exactly as by `POST …/documents/{documentId}`, with " +
      "the same permission and the same answer. PDF and DOCX files up to 50 MB, text kinds " +
      "up to 10 MB, text up to 1,500,000 characters. Refusals: 400 `file_type_not_supported`, " +
      "`file_too_large`, `file_processing_error` (corrupt, password-protected, compression " +
      "bomb, too many pages, too slow or too large to read); 429/503 when too many documents " +
      "are being read.",
    tags: ["Data sources"],
    body: UploadForm,
    bodyContentType: "multipart/form-data",
    response: z.object({ document: z.unknown(), data_source: z.unknown() }),
  });
  app.post("/spaces/:spaceId/data_sources/:dsId/upload", async (c) => {
    const deps = c.var.deps;
    try {
      const r = await uploadDocument(deps, getActor(c), {
        spaceId: c.req.param("spaceId"),
        dataSourceId: c.req.param("dsId"),
        read: () => readUpload(c.req.raw, deps.extractor.limits),
      });
      return c.json(r);
    } catch (e) {
      // Refused before the body was read (permission, missing data source): drop the rest.
      if (c.req.raw.body && !c.req.raw.bodyUsed) await c.req.raw.body.cancel().catch(() => {});
      throw e;
    }
  });

  return app;
}
