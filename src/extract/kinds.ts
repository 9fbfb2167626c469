/**
 * Which kind of document an upload is: by its declared content type, then its file name's
 * extension, then its first bytes. Pure rules, no I/O.
 *
 * A specific content type decides (`application/pdf` is a PDF whatever the name says); a
 * generic one (`application/octet-stream`, none, or `text/plain`, which browsers send for
 * `.md` and `.csv` files, or a type this server has never heard of such as
 * `application/x-download`) leaves the choice to the extension, and an unknown extension to
 * the bytes (`%PDF-`, a ZIP holding `word/document.xml`, else text, HTML when it starts like
 * HTML). A known but unsupported type (an image, a `.doc`, JSON) is refused with the list of
 * accepted kinds.
 * @module
 */
import { AppError } from "../errors.ts";
import { fileCategory, stripMimeParameters } from "../core/file_types.ts";

export type DocumentKind = "pdf" | "docx" | "markdown" | "html" | "text" | "csv";

/** The mime type stored with a document of each kind. */
export const KIND_MIME: Readonly<Record<DocumentKind, string>> = {
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  markdown: "text/markdown",
  html: "text/html",
  text: "text/plain",
  csv: "text/csv",
};

/** The accepted kinds as people name them (error messages and documentation). */
export const ACCEPTED_KINDS =
  "PDF (.pdf), Word (.docx), Markdown (.md), HTML (.html), plain text (.txt) and CSV/TSV (.csv, .tsv)";

const KIND_BY_TYPE: ReadonlyMap<string, DocumentKind> = new Map([
  ["application/pdf", "pdf"],
  ["application/x-pdf", "pdf"],
  [KIND_MIME.docx, "docx"],
  ["text/markdown", "markdown"],
  ["text/x-markdown", "markdown"],
  ["text/html", "html"],
  ["application/xhtml+xml", "html"],
  ["text/plain", "text"],
  ["text/csv", "csv"],
  ["application/csv", "csv"],
  ["text/comma-separated-values", "csv"],
  ["text/tab-separated-values", "csv"],
  ["text/tsv", "csv"],
]);

const KIND_BY_EXTENSION: ReadonlyMap<string, DocumentKind> = new Map([
  ["pdf", "pdf"],
  ["docx", "docx"],
  ["md", "markdown"],
  ["markdown", "markdown"],
  ["mdown", "markdown"],
  ["mkd", "markdown"],
  ["html", "html"],
  ["htm", "html"],
  ["xhtml", "html"],
  ["txt", "text"],
  ["text", "text"],
  ["csv", "csv"],
  ["tsv", "csv"],
]);

/** Types that say nothing about the content: the extension or the bytes decide. */
const GENERIC_TYPES = new Set(["", "application/octet-stream", "binary/octet-stream"]);

function unsupported(what: string): AppError {
  return new AppError(
    400,
    "file_type_not_supported",
    `${what} is not a document kind this server can read. Accepted: ${ACCEPTED_KINDS}.`,
  );
}

/** The lower-case extension of a file name (`Report.PDF` → `pdf`), or "". */
export function extensionOf(fileName: string | null | undefined): string {
  const m = /\.([A-Za-z0-9]{1,10})$/.exec(fileName ?? "");
  return m ? m[1].toLowerCase() : "";
}

function startsWith(bytes: Uint8Array, ascii: string, at = 0): boolean {
  if (bytes.length < at + ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) if (bytes[at + i] !== ascii.charCodeAt(i)) return false;
  return true;
}

/** Whether `ascii` occurs in the bytes (ZIP entry names are stored as plain bytes). */
function contains(bytes: Uint8Array, ascii: string): boolean {
  const first = ascii.charCodeAt(0);
  for (let i = bytes.indexOf(first); i !== -1; i = bytes.indexOf(first, i + 1)) {
    if (startsWith(bytes, ascii, i)) return true;
  }
  return false;
}

/** The kind the first bytes show, or null when they look like no accepted kind. */
export function sniffKind(bytes: Uint8Array): DocumentKind | null {
  // PDF readers accept the header anywhere in the first 1,024 bytes.
  const head = bytes.subarray(0, 1024);
  if (contains(head, "%PDF-")) return "pdf";
  if (startsWith(bytes, "PK\x03\x04")) return contains(bytes, "word/document.xml") ? "docx" : null;
  const sample = bytes.subarray(0, 8192);
  if (sample.includes(0) && !startsWith(bytes, "\xff\xfe") && !startsWith(bytes, "\xfe\xff")) {
    return null; // NUL bytes: binary, not text (UTF-16 text carries a byte order mark)
  }
  const start = new TextDecoder().decode(sample.subarray(0, 512)).trimStart().toLowerCase();
  if (/^(<!doctype html|<html[\s>]|<head[\s>]|<body[\s>])/.test(start)) return "html";
  return "text";
}

/**
 * The kind of an upload (see the module comment for the order), or a 400
 * `file_type_not_supported` naming the accepted kinds.
 */
export function detectKind(
  bytes: Uint8Array,
  info: { contentType?: string | null; fileName?: string | null },
): DocumentKind {
  const type = stripMimeParameters(info.contentType ?? "");
  const byExtension = KIND_BY_EXTENSION.get(extensionOf(info.fileName));
  const byType = KIND_BY_TYPE.get(type);
  if (byType === "text" && (byExtension === "markdown" || byExtension === "csv")) {
    return byExtension;
  }
  if (byType) return byType;
  if (!GENERIC_TYPES.has(type) && fileCategory(type) !== null) {
    throw unsupported(`Content type "${type}"`);
  }
  if (byExtension) return byExtension;
  const sniffed = sniffKind(bytes);
  if (sniffed) return sniffed;
  throw unsupported(info.fileName ? `"${info.fileName}"` : "The file");
}
