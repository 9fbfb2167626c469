/**
 * File content types, per-type size limits and scoped paths: the pure rules behind files and
 * the file-system tools (no I/O, no SQL).
 *
 * Content types follow `@dust-tt/client`'s supported list (`isSupportedFileContentType`).
 * Limits follow Dust's idea of per-category maxima: text-like files are small (they are read
 * whole by the file tools), images are capped at Dust's 5 MB, documents and media are larger.
 * @module
 */
import { AppError } from "../errors.ts";

export type FileCategory = "text" | "image" | "document" | "audio" | "video";

const MB = 1024 * 1024;

/** Maximum bytes per category. The upload route's body limit (64 MB) stays above all of them. */
export const MAX_FILE_SIZES: Readonly<Record<FileCategory, number>> = {
  text: 10 * MB,
  image: 5 * MB,
  document: 50 * MB,
  audio: 50 * MB,
  video: 50 * MB,
};

const TEXT_TYPES = [
  "text/plain",
  "text/markdown",
  "text/csv",
  "text/comma-separated-values",
  "text/tsv",
  "text/tab-separated-values",
  "text/html",
  "text/xml",
  "text/calendar",
  "text/css",
  "text/javascript",
  "text/typescript",
  "text/yaml",
  "text/vnd.yaml",
  "text/x-python",
  "text/x-python-script",
  "text/x-sh",
  "text/x-c",
  "text/x-csharp",
  "text/x-java-source",
  "text/x-php",
  "text/x-ruby",
  "text/x-sql",
  "text/x-swift",
  "text/x-rust",
  "text/x-go",
  "text/x-kotlin",
  "text/x-scala",
  "text/x-groovy",
  "text/x-perl",
  "text/x-perl-script",
  "text/vnd.dust.attachment.slack.thread",
  "text/vnd.dust.attachment.pasted",
  "application/json",
  "application/xml",
  "application/x-yaml",
  "application/x-sh",
  "application/vnd.dust.section.json",
];

const DOCUMENT_TYPES = [
  "application/pdf",
  "application/msword",
  "application/vnd.ms-excel",
  "application/vnd.ms-powerpoint",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.google-apps.document",
  "application/vnd.google-apps.presentation",
  "application/vnd.google-apps.spreadsheet",
  "application/octet-stream",
  "message/rfc822",
];

const IMAGE_TYPES = [
  "image/jpeg",
  "image/png",
  "image/gif",
  "image/webp",
  "image/svg+xml",
  "image/bmp",
  "image/x-icon",
];

const AUDIO_TYPES = [
  "audio/mpeg",
  "audio/x-m4a",
  "audio/ogg",
  "audio/wav",
  "audio/x-wav",
  "audio/webm",
];

const CATEGORY_BY_TYPE: ReadonlyMap<string, FileCategory> = new Map([
  ...TEXT_TYPES.map((t) => [t, "text"] as const),
  ...DOCUMENT_TYPES.map((t) => [t, "document"] as const),
  ...IMAGE_TYPES.map((t) => [t, "image"] as const),
  ...AUDIO_TYPES.map((t) => [t, "audio"] as const),
  ["video/webm", "video"] as const,
]);

/** `text/plain; charset=utf-8` → `text/plain` (lower case, parameters dropped). */
export function stripMimeParameters(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

/** The category of a supported content type, or null when unsupported. */
export function fileCategory(contentType: string): FileCategory | null {
  return CATEGORY_BY_TYPE.get(stripMimeParameters(contentType)) ?? null;
}

/** Dust's rule for the file tools: text/* plus a few structured application types. */
export function isReadableAsText(contentType: string): boolean {
  const mime = stripMimeParameters(contentType);
  return mime.startsWith("text/") || [
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "application/xml",
    "application/x-ndjson",
    "application/javascript",
    "application/typescript",
    "application/vnd.dust.section.json",
  ].includes(mime);
}

/** Images a model could look at (the file tools describe them instead of returning bytes). */
export function isVisionImage(contentType: string): boolean {
  return ["image/jpeg", "image/png", "image/gif", "image/webp"].includes(
    stripMimeParameters(contentType),
  );
}

/** Types a browser may render inline without running script (`?action=view`). */
export function isSafeToDisplay(contentType: string): boolean {
  const mime = stripMimeParameters(contentType);
  return [
    "text/plain",
    "text/markdown",
    "text/csv",
    "text/tsv",
    "application/json",
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
  ].includes(mime);
}

/** Refuse an unsupported type (400 `file_type_not_supported`) or a size over its limit. */
export function assertUploadable(contentType: string, fileName: string, fileSize: number): void {
  const category = fileCategory(contentType);
  if (!category) {
    throw new AppError(
      400,
      "file_type_not_supported",
      `Content type "${contentType}" is not supported.`,
    );
  }
  const max = MAX_FILE_SIZES[category];
  if (fileSize > max) {
    throw new AppError(
      400,
      "file_too_large",
      `File "${fileName}" is too large (${fileSize} bytes; the limit for ${category} files is ${
        max / MB
      } MB).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Scoped paths: `conversation-<sId>/<relative path>` and `pod-<spaceSId>/<relative path>`.

export type FileScope =
  | { type: "conversation"; conversation_id: string }
  | { type: "pod"; pod_id: string };

export const SCOPED_PREFIX_CONVERSATION = "conversation-";
export const SCOPED_PREFIX_POD = "pod-";

/** Limits on relative paths: generous for real trees, small enough to keep listings sane. */
export const PATH_LIMITS = { segmentBytes: 255, totalChars: 1024, depth: 32 } as const;

/** The stored scope columns of a scope. */
export function scopeColumns(scope: FileScope): { type: "conversation" | "pod"; sId: string } {
  return scope.type === "conversation"
    ? { type: "conversation", sId: scope.conversation_id }
    : { type: "pod", sId: scope.pod_id };
}

/** `conversation-<id>/` or `pod-<id>/`. */
export function scopedPrefix(scope: FileScope): string {
  const { type, sId } = scopeColumns(scope);
  return `${type === "conversation" ? SCOPED_PREFIX_CONVERSATION : SCOPED_PREFIX_POD}${sId}/`;
}

/** The scoped path of a stored file. */
export function toScopedPath(scopeType: "conversation" | "pod", scopeSId: string, rel: string) {
  const prefix = scopeType === "conversation" ? SCOPED_PREFIX_CONVERSATION : SCOPED_PREFIX_POD;
  return `${prefix}${scopeSId}/${rel}`;
}

const encoder = new TextEncoder();

/**
 * Normalise a relative path, refusing anything that could escape its scope or confuse a
 * reader: `..` and `.` segments, absolute paths, empty segments, NUL and other control
 * characters, backslashes, overlong segments, paths and trees. Returns the clean path.
 */
export function normaliseRelativePath(rel: string): string {
  const bad = (why: string) => new AppError(400, "invalid_request_error", `Invalid path: ${why}.`);
  if (rel.length === 0) throw bad("the path is empty");
  if (rel.length > PATH_LIMITS.totalChars) {
    throw bad(`the path is longer than ${PATH_LIMITS.totalChars} characters`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(rel)) throw bad("control characters are not allowed");
  if (rel.includes("\\")) throw bad("backslashes are not allowed");
  if (rel.startsWith("/")) throw bad("absolute paths are not allowed");
  const segments = rel.normalize("NFC").split("/");
  if (segments.length > PATH_LIMITS.depth) {
    throw bad(`the path is deeper than ${PATH_LIMITS.depth} levels`);
  }
  for (const s of segments) {
    if (s === "") throw bad("empty path segments are not allowed");
    if (s === "." || s === "..") throw bad(`"${s}" segments are not allowed`);
    if (s.trim() !== s) throw bad("segments cannot start or end with spaces");
    if (encoder.encode(s).length > PATH_LIMITS.segmentBytes) {
      throw bad(`a segment is longer than ${PATH_LIMITS.segmentBytes} bytes`);
    }
  }
  return segments.join("/");
}

/**
 * Split a scoped path given with its scope: it must start with the scope's prefix (Dust's
 * message names the expected prefix); the remainder is normalised.
 */
export function relativePathInScope(path: string, scope: FileScope): string {
  const prefix = scopedPrefix(scope);
  if (!path.startsWith(prefix)) {
    throw new AppError(
      400,
      "invalid_request_error",
      `Path must start with \`${prefix}\` for the given scope.`,
    );
  }
  return normaliseRelativePath(path.slice(prefix.length));
}

/** A file name safe to use as the last segment of a path (uploads name their own files). */
export function fileNameToSegment(fileName: string): string {
  // deno-lint-ignore no-control-regex
  let s = fileName.replace(/[\u0000-\u001f\u007f\\/]/g, "_").trim();
  if (s === "" || s === "." || s === "..") s = "file";
  while (encoder.encode(s).length > PATH_LIMITS.segmentBytes) s = s.slice(0, -1);
  return s;
}

/** Kilobytes rounded up, as Dust prints sizes. */
export function kbRoundedUp(bytes: number): number {
  return Math.ceil(bytes / 1024);
}

/** A size for people: `27 bytes` under 1 KB, else `<KB rounded up> KB`. */
export function formatFileSize(bytes: number): string {
  return bytes < 1024 ? `${bytes} byte${bytes === 1 ? "" : "s"}` : `${kbRoundedUp(bytes)} KB`;
}
