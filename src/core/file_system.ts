/**
 * The operations behind Dust's hosted-MCP file tools (`files_list`, `files_cat`, `files_create`,
 * `files_grep`, `files_resolve`), with Dust's inputs, limits and texts
 * (`front/lib/api/mcp_server/tools/files/*.ts`). Each takes `(deps, actor, input)`, checks the
 * scope (conversation readable / Pod readable) and throws AppError with Dust's message, which
 * the MCP layer returns as an `isError` result.
 *
 * `files_grep` matches with RE2 (as Dust), in linear time, on a search worker with a time
 * limit: a backtracking JavaScript RegExp such as `(a+)+$` could run for ever, and a worker
 * cannot be stopped while one runs.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import {
  type FileScope,
  formatFileSize,
  isReadableAsText,
  isVisionImage,
  kbRoundedUp,
  relativePathInScope,
  scopedPrefix,
  stripMimeParameters,
  toScopedPath,
} from "./file_types.ts";
import { checkFileScope, type FileRow, requireFileScope, scopeOfFile } from "./files.ts";
import { searchOwnerOf } from "./search_worker.ts";
import {
  findFileInWorkspace,
  findScopeFile,
  listScopeFiles,
  writeScopeFile,
} from "./scoped_files.ts";

/** Dust's constants (`files/metadata.ts`, `action_output_limits.ts`, `grep_regex.ts`). */
export const CAT_LINES_DEFAULT = 200;
export const CAT_LINES_MAX = 500;
export const FILE_OFFLOAD_TEXT_SIZE_BYTES = 20 * 1024;
export const CAT_IMAGE_MAX_BYTES = 2 * 1024 * 1024;
export const CREATE_CONTENT_MAX_BYTES = 50 * 1024;
export const GREP_MATCHES_MAX = 50;
export const GREP_PATTERN_MAX_CHARS = 4096;
export const GREP_LINE_MAX_CHARS = 1024 * 1024;
/** Our own bounds: files listed per call, text scanned per grep, and grep wall time. */
export const LIST_FILES_MAX = 1000;
export const GREP_SCAN_MAX_BYTES = 10 * 1024 * 1024;
export const GREP_TIMEOUT_MS = 2000;

const INTERACTIVE_CONTENT_TYPE = "application/vnd.dust.frame";

function toolError(message: string, status = 400): AppError {
  return new AppError(status, status === 404 ? "file_not_found" : "invalid_request_error", message);
}

/** One file as `files_list` names it. */
export interface ListedFile {
  path: string;
  mimeType: string;
  sizeBytes: number;
}

/**
 * `files_list`: one line per ready file, `<path> (<mime>, <KB> KB)`, sorted by path; `files`
 * are the same files as data (the MCP tool links them as resources).
 */
export async function filesList(
  deps: Deps,
  actor: Actor,
  input: { scope: FileScope },
): Promise<{ text: string; files: ListedFile[] }> {
  await requireFileScope(deps, actor, input.scope, "read");
  const rows = await listScopeFiles(deps, actor.workspace.id, input.scope, LIST_FILES_MAX + 1);
  if (rows.length === 0) return { text: "No files available.", files: [] };
  const files = rows.slice(0, LIST_FILES_MAX).map((f) => ({
    path: toScopedPath(f.scopeType!, f.scopeSId!, f.path!),
    mimeType: stripMimeParameters(f.contentType),
    sizeBytes: f.fileSize,
    sId: f.sId,
  }));
  const lines = files.map((f) => {
    const id = f.mimeType === INTERACTIVE_CONTENT_TYPE ? ` [id: ${f.sId}]` : "";
    return `${f.path} (${f.mimeType}, ${kbRoundedUp(f.sizeBytes)} KB)${id}`;
  });
  if (rows.length > LIST_FILES_MAX) lines.push(`[Showing the first ${LIST_FILES_MAX} files.]`);
  return {
    text: lines.join("\n"),
    files: files.map(({ path, mimeType, sizeBytes }) => ({ path, mimeType, sizeBytes })),
  };
}

/** Resolve `path` in `scope` to a ready file, with Dust's "File not found" text. */
async function requireScopedFile(
  deps: Deps,
  actor: Actor,
  scope: FileScope,
  path: string,
): Promise<FileRow> {
  const rel = relativePathInScope(path, scope);
  await requireFileScope(deps, actor, scope, "read");
  const f = await findScopeFile(deps, actor.workspace.id, scope, rel);
  if (!f || !f.storageKey) throw toolError(`File not found: \`${path}\`.`, 404);
  return f;
}

async function readText(deps: Deps, f: FileRow, maxBytes: number) {
  const bytes = await deps.files.read(f.storageKey!);
  const truncated = bytes.byteLength > maxBytes;
  const text = new TextDecoder().decode(truncated ? bytes.subarray(0, maxBytes) : bytes);
  return { text, truncated };
}

/** Lines of `text`, splitting on LF and dropping the CR of CRLF (readline's crlfDelay rule). */
function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

const encoder = new TextEncoder();

/** Page through `lines` from `startLine`, within `maxLines` and the 20 KB output budget. */
export function pageLines(
  lines: string[],
  path: string,
  startLine: number,
  maxLines: number,
  fileSizeBytes: number,
): string {
  const out: string[] = [];
  let bytes = 0;
  let byteCapped = false;
  for (let n = startLine; n <= lines.length && out.length < maxLines; n++) {
    const numbered = `${n}: ${lines[n - 1]}`;
    const size = encoder.encode(numbered + "\n").byteLength;
    if (bytes + size > FILE_OFFLOAD_TEXT_SIZE_BYTES) {
      if (out.length === 0) {
        const cut = encoder.encode(numbered).subarray(0, FILE_OFFLOAD_TEXT_SIZE_BYTES);
        out.push(new TextDecoder().decode(cut).replace(/\uFFFD$/, ""));
      }
      byteCapped = true;
      break;
    }
    out.push(numbered);
    bytes += size;
  }
  if (out.length === 0) {
    return startLine > 1
      ? `No lines found at offset ${startLine} in \`${path}\`.`
      : `\`${path}\` is empty.`;
  }
  const endLine = startLine + out.length - 1;
  let text = out.join("\n");
  if (byteCapped) {
    text += `\n\n[Truncated at ${FILE_OFFLOAD_TEXT_SIZE_BYTES / 1024}KB. File is ${
      kbRoundedUp(fileSizeBytes)
    }KB. Showing lines ${startLine}-${endLine}. Use offset=${endLine + 1} to read more.]`;
  } else if (out.length >= maxLines && endLine < lines.length) {
    text += `\n\n[Showing lines ${startLine}-${endLine}. Use offset=${endLine + 1} to read more.]`;
  }
  return text;
}

export interface FilesCatInput {
  scope: FileScope;
  path: string;
  offset?: number;
  limit?: number;
}

/** `files_cat`: numbered lines of a text file; images and binaries get a note instead. */
export async function filesCat(deps: Deps, actor: Actor, input: FilesCatInput) {
  const offset = input.offset ?? 1;
  const limit = input.limit ?? CAT_LINES_DEFAULT;
  if (!Number.isInteger(offset) || offset < 1) {
    throw toolError("offset: must be an integer of at least 1");
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > CAT_LINES_MAX) {
    throw toolError(`limit: must be an integer between 1 and ${CAT_LINES_MAX}`);
  }
  const f = await requireScopedFile(deps, actor, input.scope, input.path);
  const mime = stripMimeParameters(f.contentType);
  const kb = kbRoundedUp(f.fileSize);
  if (isVisionImage(mime)) {
    if (f.fileSize > CAT_IMAGE_MAX_BYTES) {
      return {
        text: `\`${input.path}\` is an image (${kb} KB) that exceeds the ${
          CAT_IMAGE_MAX_BYTES / 1024
        } KB limit and cannot be displayed via MCP.`,
      };
    }
    return {
      text:
        `\`${input.path}\` is an image (${mime}, ${kb} KB). Image binary content is not returned via MCP.`,
      path: input.path,
      mimeType: mime,
    };
  }
  if (!isReadableAsText(mime)) {
    return { text: `\`${input.path}\` is a binary file (${mime}) and cannot be read as text.` };
  }
  const { text } = await readText(deps, f, f.fileSize);
  return { text: pageLines(splitLines(text), input.path, offset, limit, f.fileSize) };
}

/**
 * Largest file read whole (MCP `resources/read`): the limit `files_cat` puts on the images it
 * accepts, for every file; larger text files are read by pages with `files_cat`.
 */
export const READ_WHOLE_MAX_BYTES = CAT_IMAGE_MAX_BYTES;

/**
 * A whole file of a scope, by scoped path, if the actor reads the scope: text (UTF-8) for text
 * types, bytes for the others, at most {@link READ_WHOLE_MAX_BYTES}.
 */
export async function readScopedFile(
  deps: Deps,
  actor: Actor,
  input: { scope: FileScope; path: string },
): Promise<
  & { path: string; mimeType: string; sizeBytes: number }
  & (
    | { text: string; bytes?: undefined }
    | { bytes: Uint8Array; text?: undefined }
  )
> {
  const f = await requireScopedFile(deps, actor, input.scope, input.path);
  const mimeType = stripMimeParameters(f.contentType);
  const path = toScopedPath(f.scopeType!, f.scopeSId!, f.path!);
  if (f.fileSize > READ_WHOLE_MAX_BYTES) {
    throw toolError(
      `\`${path}\` (${kbRoundedUp(f.fileSize)} KB) exceeds the ${
        READ_WHOLE_MAX_BYTES / 1024
      } KB limit for reading a file whole; read it by pages with files_cat.`,
    );
  }
  const bytes = await deps.files.read(f.storageKey!);
  const meta = { path, mimeType, sizeBytes: f.fileSize };
  return isReadableAsText(mimeType)
    ? { ...meta, text: new TextDecoder().decode(bytes) }
    : { ...meta, bytes };
}

export interface FilesCreateInput {
  scope: FileScope;
  path: string;
  content: string;
  content_type: string;
}

/** `files_create`: create or overwrite a UTF-8 text file (≤ 50 KB); Frame files are refused. */
export async function filesCreate(deps: Deps, actor: Actor, input: FilesCreateInput) {
  const rel = relativePathInScope(input.path, input.scope);
  const bytes = encoder.encode(input.content);
  if (bytes.byteLength > CREATE_CONTENT_MAX_BYTES) {
    throw toolError(`Content exceeds the ${CREATE_CONTENT_MAX_BYTES / 1024} KB limit.`);
  }
  await requireFileScope(deps, actor, input.scope, "write");
  const mime = stripMimeParameters(input.content_type);
  if (!/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(mime)) {
    throw toolError(`Invalid content type: \`${input.content_type}\`.`);
  }
  if (mime === INTERACTIVE_CONTENT_TYPE) {
    throw toolError("Frame files cannot be created with files_create.");
  }
  const existing = await findScopeFile(deps, actor.workspace.id, input.scope, rel);
  if (existing && stripMimeParameters(existing.contentType) === INTERACTIVE_CONTENT_TYPE) {
    throw toolError("Frame files cannot be overwritten with files_create.");
  }
  const { created } = await writeScopeFile(deps, actor, {
    scope: input.scope,
    rel,
    bytes,
    contentType: mime,
  });
  const verb = created ? "Created" : "Updated";
  return {
    message: `${verb} \`${input.path}\` (${input.content_type}, ${
      formatFileSize(bytes.byteLength)
    })`,
    path: input.path,
    contentType: input.content_type,
  };
}

/** Split Dust's `(?i)` prefix off a pattern: JavaScript has no inline flags. */
export async function compileGrepPattern(pattern: string): Promise<{ source: string }> {
  if (pattern.length > GREP_PATTERN_MAX_CHARS) {
    throw toolError(
      `Unsupported or invalid regular expression. Error: Regular expressions cannot exceed ${GREP_PATTERN_MAX_CHARS} characters.`,
    );
  }
  // RE2 syntax, as Dust's grep (`(?i)` inline, identity escapes such as `a\-b`, no
  // backreferences or lookarounds): matching is linear in the line length.
  // RE2 loads with the first grep: most servers never run one.
  const { RE2JS } = await import("re2js");
  try {
    RE2JS.compile(pattern);
  } catch (e) {
    throw toolError(
      `Unsupported or invalid regular expression. Error: ${e instanceof Error ? e.message : e}`,
    );
  }
  return { source: pattern };
}

/** `files_grep`: matching lines as `<n>: <line>`, at most 50, with Dust's trailing note. */
export async function filesGrep(
  deps: Deps,
  actor: Actor,
  input: { scope: FileScope; path: string; pattern: string },
) {
  const f = await requireScopedFile(deps, actor, input.scope, input.path);
  const mime = stripMimeParameters(f.contentType);
  if (!isReadableAsText(mime)) {
    return {
      text: `\`${input.path}\` is not a text file (${mime}) and cannot be searched with grep.`,
    };
  }
  const { source } = await compileGrepPattern(input.pattern);
  const { text, truncated } = await readText(deps, f, GREP_SCAN_MAX_BYTES);
  const result = await deps.searchWorkers.grep(
    { text, source, maxMatches: GREP_MATCHES_MAX, lineMaxChars: GREP_LINE_MAX_CHARS },
    { owner: searchOwnerOf(actor), timeoutMs: GREP_TIMEOUT_MS },
  );
  if (result.error) throw toolError(`Failed to search file \`${input.path}\`: ${result.error}`);
  const scanNote = truncated
    ? `\n[Only the first ${GREP_SCAN_MAX_BYTES / 1024 / 1024} MB of the file were searched.]`
    : "";
  if (result.matches.length === 0) {
    return { text: `No lines matched the pattern in \`${input.path}\`.${scanNote}` };
  }
  const n = result.matches.length;
  let out = result.matches.join("\n");
  out += result.capped
    ? `\n\n[Showing ${n} matching line${
      n === 1 ? "" : "s"
    } within the output limit. Refine your pattern or use \`files_cat\` with a line offset to read a specific section.]`
    : `\n\n[${n} match${n === 1 ? "" : "es"} found]`;
  return { text: out + scanNote };
}

/**
 * `files_resolve`: a `fil_` id → its scoped path, if it lives in the given scope. A file of a
 * scope the caller cannot read answers "File not found" (never its path).
 */
export async function filesResolve(
  deps: Deps,
  actor: Actor,
  input: { scope: FileScope; file_id: string },
) {
  await requireFileScope(deps, actor, input.scope, "read");
  const f = await findFileInWorkspace(deps, actor.workspace.id, input.file_id);
  const fileScope = f ? scopeOfFile(f) : null;
  const notFound = () => toolError(`File not found: \`${input.file_id}\`.`, 404);
  if (!f) throw notFound();
  if (!fileScope || !f.path) {
    if (!isUploaderOrScoped(actor, f)) throw notFound();
    throw toolError(
      `File \`${input.file_id}\` is not accessible through the file system (use case: ${f.useCase}).`,
    );
  }
  const canonical = toScopedPath(f.scopeType!, f.scopeSId!, f.path);
  if (!canonical.startsWith(scopedPrefix(input.scope))) {
    if (!await checkFileScope(deps, actor, fileScope, "read")) throw notFound();
    throw toolError(
      `File \`${input.file_id}\` does not belong to the given scope. Resolved path: \`${canonical}\`.`,
    );
  }
  if (f.status !== "ready") {
    throw toolError(`File \`${input.file_id}\` is not accessible through the file system.`);
  }
  return { path: canonical };
}

/** An unscoped file is only acknowledged to its uploader. */
function isUploaderOrScoped(actor: Actor, f: FileRow): boolean {
  return actor.kind === "user" ? f.userId === actor.user.id : f.userId === null;
}
