/**
 * `extractText(bytes, info)`: the text, title and mime type of an uploaded document — PDF,
 * DOCX, Markdown, HTML, plain text or CSV/TSV — or an `AppError` that says what is wrong
 * (400 `file_type_not_supported` naming the accepted kinds, `file_too_large`,
 * `file_processing_error`). No HTTP, no SQL.
 *
 * This runs the parsers in the calling thread: the server never calls it directly but through
 * `ExtractPool` (`pool.ts`), which runs it in a separate process with a time and a memory
 * limit, so a hostile document can neither stall the server nor exhaust its memory.
 * @module
 */
import { detectKind, KIND_MIME } from "./kinds.ts";
import {
  DEFAULT_EXTRACT_LIMITS,
  type ExtractLimits,
  inputTooLarge,
  maxInputBytes,
  textTooLong,
  unreadable,
} from "./limits.ts";
import {
  extractCsv,
  type Extracted,
  extractHtml,
  extractMarkdown,
  extractPlainText,
} from "./text_kinds.ts";
import { extractPdf } from "./pdf.ts";
import { extractDocx } from "./docx.ts";

export interface ExtractInfo {
  contentType?: string | null;
  fileName?: string | null;
}

export interface ExtractResult {
  text: string;
  title: string | null;
  mimeType: string;
}

const TITLE_MAX = 256;

/** Line ends unified, control characters and trailing spaces dropped, blank runs collapsed. */
export function tidyText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "")
    .replace(/[ \t\u00a0]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function tidyTitle(title: string | null): string | null {
  // deno-lint-ignore no-control-regex
  const t = (title ?? "").replace(/[\u0000-\u001f\u007f\s]+/g, " ").trim();
  if (!t) return null;
  return t.length > TITLE_MAX ? `${t.slice(0, TITLE_MAX - 1)}…` : t;
}

export async function extractText(
  bytes: Uint8Array,
  info: ExtractInfo,
  limits: Partial<ExtractLimits> = {},
): Promise<ExtractResult> {
  const l: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS, ...limits };
  const kind = detectKind(bytes, info);
  const max = maxInputBytes(kind, l);
  if (bytes.byteLength > max) {
    throw inputTooLarge(info.fileName ? `"${info.fileName}"` : "The file", bytes.byteLength, max);
  }
  let out: Extracted;
  switch (kind) {
    case "pdf":
      out = await extractPdf(bytes, l);
      break;
    case "docx":
      out = await extractDocx(bytes, l);
      break;
    case "html":
      out = await extractHtml(bytes);
      break;
    case "csv":
      out = await extractCsv(bytes, l.maxTextChars);
      break;
    case "markdown":
      out = extractMarkdown(bytes);
      break;
    case "text":
      out = extractPlainText(bytes);
      break;
  }
  const text = tidyText(out.text);
  if (text.length === 0) {
    throw unreadable(
      kind === "pdf"
        ? "No text could be extracted from the PDF (a scanned document needs OCR, which this server does not do)."
        : "The document has no text.",
    );
  }
  if (text.length > l.maxTextChars) throw textTooLong(l.maxTextChars);
  return { text, title: tidyTitle(out.title), mimeType: KIND_MIME[kind] };
}
