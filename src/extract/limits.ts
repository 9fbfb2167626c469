/**
 * The bounds of one extraction: input bytes per kind, text out, PDF pages, and how far a
 * DOCX (a ZIP archive) may expand. Callers may narrow them (tests do); the defaults reuse the
 * server's existing limits.
 * @module
 */
import { AppError } from "../errors.ts";
import { MAX_FILE_SIZES } from "../core/file_types.ts";
import type { DocumentKind } from "./kinds.ts";

export interface ExtractLimits {
  /** Bytes a PDF or DOCX may have (the files route's limit for documents: 50 MB). */
  maxDocumentBytes: number;
  /** Bytes a text-like upload (Markdown, HTML, text, CSV) may have (files route: 10 MB). */
  maxTextFileBytes: number;
  /** Characters of extracted text; must match the upsert's limit (DOCUMENT_TEXT_MAX_CHARS). */
  maxTextChars: number;
  /** Pages a PDF may have. */
  maxPdfPages: number;
  /** Bytes the XML parts of a DOCX may expand to, by their declared sizes. */
  maxUnzippedBytes: number;
  /** Entries a DOCX archive may list. */
  maxZipEntries: number;
}

const MB = 1024 * 1024;

export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = {
  maxDocumentBytes: MAX_FILE_SIZES.document,
  maxTextFileBytes: MAX_FILE_SIZES.text,
  maxTextChars: 1_500_000,
  maxPdfPages: 2_000,
  maxUnzippedBytes: 64 * MB,
  maxZipEntries: 5_000,
};

/** The input limit of a kind. */
export function maxInputBytes(kind: DocumentKind, limits: ExtractLimits): number {
  return kind === "pdf" || kind === "docx" ? limits.maxDocumentBytes : limits.maxTextFileBytes;
}

/** The largest input any kind accepts (what an upload may carry before its kind is known). */
export function maxAnyInputBytes(limits: ExtractLimits): number {
  return Math.max(limits.maxDocumentBytes, limits.maxTextFileBytes);
}

function formatMb(bytes: number): string {
  return `${Math.round((bytes / MB) * 10) / 10} MB`;
}

/** 400 `file_too_large`: the upload is over its kind's limit. */
export function inputTooLarge(what: string, size: number, max: number): AppError {
  return new AppError(
    400,
    "file_too_large",
    `${what} is too large (${size} bytes; the limit is ${formatMb(max)}).`,
  );
}

/** 400 `file_too_large`: the text is longer than a document may hold. */
export function textTooLong(max: number): AppError {
  return new AppError(
    400,
    "file_too_large",
    `The document's text is longer than the ${max.toLocaleString("en-US")} characters a ` +
      "document may hold. Split it into smaller documents.",
  );
}

/** 400 `file_processing_error` with a message that says what is wrong with the file. */
export function unreadable(message: string): AppError {
  return new AppError(400, "file_processing_error", message);
}
