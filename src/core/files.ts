/**
 * Files: `fil_` sIds, content type and size rules, status `created` → `ready`, use cases
 * `conversation` (Dust's public API) and `project_context` (Pod files), scoped paths
 * `conversation-<sId>/<path>` / `pod-<sId>/<path>`, bytes in `deps.files` under generated keys.
 *
 * Access (rules in access.ts): a scoped file follows its scope (conversation or Pod); an
 * unscoped upload is visible to its uploader only. Every miss is 404 `file_not_found`, the
 * same answer as a missing id, so nothing leaks across workspaces or scopes.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId } from "../util/ids.ts";
import { endBy } from "../util/streams.ts";
import { canAccessFileScope, reachesOwnConversations, requireScope } from "./access.ts";
import { findReadableConversation } from "./conversation_views.ts";
import { findSpaceInWorkspace } from "./space_rows.ts";
import { removeBlob } from "./backup_runs.ts";
import {
  assertStorageFits,
  releaseReservation,
  reserveStorage,
  storageOwnerOf,
  storageTx,
} from "./storage_quota.ts";
import {
  assertUploadable,
  fileNameToSegment,
  type FileScope,
  scopeColumns,
  stripMimeParameters,
  toScopedPath,
} from "./file_types.ts";

export type FileStatus = "created" | "ready" | "failed";
export type FileUseCase = "conversation" | "project_context";

export interface FileRow {
  id: number;
  sId: string;
  workspaceId: number;
  userId: number | null;
  contentType: string;
  fileName: string;
  fileSize: number;
  status: FileStatus;
  useCase: string;
  useCaseMetadata: Record<string, unknown>;
  scopeType: "conversation" | "pod" | null;
  scopeSId: string | null;
  path: string | null;
  storageKey: string | null;
  createdAt: number;
  updatedAt: number;
}

export const FILE_COLUMNS =
  "id, s_id, workspace_id, user_id, content_type, file_name, file_size, status, use_case, use_case_metadata, scope_type, scope_s_id, path, storage_key, created_at, updated_at";

// deno-lint-ignore no-explicit-any
export function fileFromRow(r: any): FileRow {
  return {
    id: r.id,
    sId: r.s_id,
    workspaceId: r.workspace_id,
    userId: r.user_id,
    contentType: r.content_type,
    fileName: r.file_name,
    fileSize: r.file_size,
    status: r.status,
    useCase: r.use_case,
    useCaseMetadata: JSON.parse(r.use_case_metadata),
    scopeType: r.scope_type,
    scopeSId: r.scope_s_id,
    path: r.path,
    storageKey: r.storage_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The scope a stored file lives in, or null for an unscoped upload. */
export function scopeOfFile(f: FileRow): FileScope | null {
  if (f.scopeType === "conversation") return { type: "conversation", conversation_id: f.scopeSId! };
  if (f.scopeType === "pod") return { type: "pod", pod_id: f.scopeSId! };
  return null;
}

/** Dust's `FileType` JSON (`id` is the sId string, as in the SDK schema). */
export function toFileJSON(deps: Deps, workspaceSId: string, f: FileRow) {
  const base = `${deps.config.publicUrl}/api/v1/w/${workspaceSId}/files/${f.sId}`;
  return {
    id: f.sId,
    sId: f.sId,
    contentType: f.contentType,
    fileName: f.fileName,
    fileSize: f.fileSize,
    status: f.status,
    useCase: f.useCase,
    useCaseMetadata: f.useCaseMetadata,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
    path: f.scopeType && f.path ? toScopedPath(f.scopeType, f.scopeSId!, f.path) : null,
    uploadUrl: base,
    ...(f.status === "ready" ? { downloadUrl: `${base}?action=download` } : {}),
  };
}

/** Whether the actor may read (or write into) a file scope: facts loaded here, rule in access.ts. */
export async function checkFileScope(
  deps: Deps,
  actor: Actor,
  scope: FileScope,
  mode: "read" | "write",
): Promise<boolean> {
  if (scope.type === "conversation") {
    const readable = await findReadableConversation(deps, actor, scope.conversation_id) !== null;
    return await canAccessFileScope(deps.db, actor, {
      type: "conversation",
      conversationReadable: readable,
    }, mode);
  }
  const space = await findSpaceInWorkspace(deps.db, actor.workspace.id, scope.pod_id);
  return await canAccessFileScope(deps.db, actor, { type: "pod", space }, mode);
}

/**
 * Require access to a scope, answering with Dust's file-tool texts: "Conversation not found
 * or not accessible: <id>" / "Pod not found or you do not have access: <id>" (404). Writes
 * also need the token's `write` scope (403).
 */
export async function requireFileScope(
  deps: Deps,
  actor: Actor,
  scope: FileScope,
  mode: "read" | "write",
): Promise<void> {
  if (mode === "write") requireScope(actor, "write");
  if (await checkFileScope(deps, actor, scope, mode)) return;
  if (scope.type === "conversation") {
    throw new AppError(
      404,
      "conversation_not_found",
      `Conversation not found or not accessible: ${scope.conversation_id}`,
    );
  }
  if (mode === "write" && await checkFileScope(deps, actor, scope, "read")) {
    throw new AppError(403, "workspace_auth_error", `You cannot write into Pod ${scope.pod_id}.`);
  }
  throw new AppError(
    404,
    "space_not_found",
    `Pod not found or you do not have access: ${scope.pod_id}`,
  );
}

function fileNotFound(): AppError {
  return new AppError(404, "file_not_found", "File not found.");
}

/** Rule for unscoped uploads: the uploading user, or API keys for key uploads. */
function isUploader(actor: Actor, f: FileRow): boolean {
  if (!reachesOwnConversations(actor)) return false; // uploads waiting for a conversation
  return actor.kind === "user" ? f.userId === actor.user.id : f.userId === null;
}

/** Load a file the actor may read (scoped: the scope's read rule; unscoped: the uploader). */
export async function requireReadableFile(
  deps: Deps,
  actor: Actor,
  fileSId: string,
): Promise<FileRow> {
  const r = await deps.db.get(
    `SELECT ${FILE_COLUMNS} FROM files WHERE s_id = ? AND workspace_id = ?`,
    fileSId,
    actor.workspace.id,
  );
  if (!r) throw fileNotFound();
  const f = fileFromRow(r);
  const scope = scopeOfFile(f);
  const ok = scope ? await checkFileScope(deps, actor, scope, "read") : isUploader(actor, f);
  if (!ok) throw fileNotFound();
  return f;
}

export interface CreateFileInput {
  contentType: string;
  fileName: string;
  fileSize: number;
  useCase: string;
  useCaseMetadata?: { conversationId?: string; spaceId?: string } | null;
}

/** Where a new upload goes: the scope its use case names (checked), or nowhere. */
async function resolveUploadScope(
  deps: Deps,
  actor: Actor,
  input: CreateFileInput,
): Promise<FileScope | null> {
  const meta = input.useCaseMetadata ?? {};
  if (input.useCase === "conversation") {
    if (!meta.conversationId) {
      // An unscoped upload is the user's own, like a conversation in no space.
      if (!reachesOwnConversations(actor)) {
        throw new AppError(
          403,
          "workspace_auth_error",
          "This token cannot upload outside its spaces.",
        );
      }
      return null;
    }
    const scope: FileScope = { type: "conversation", conversation_id: meta.conversationId };
    await requireFileScope(deps, actor, scope, "write");
    return scope;
  }
  if (input.useCase === "project_context") {
    if (!meta.spaceId) throw invalid("useCaseMetadata.spaceId: required for project_context");
    const scope: FileScope = { type: "pod", pod_id: meta.spaceId };
    await requireFileScope(deps, actor, scope, "write");
    return scope;
  }
  throw invalid(`useCase: "${input.useCase}" is not supported (conversation, project_context)`);
}

/** A free path for an upload's file name in its scope: `name`, `name (2).ext`, ... */
async function freeUploadPath(deps: Deps, workspaceId: number, scope: FileScope, fileName: string) {
  const { type, sId } = scopeColumns(scope);
  const taken = deps.db.prepare(
    `SELECT 1 FROM files WHERE workspace_id = ? AND scope_type = ? AND scope_s_id = ? AND path = ?
     AND status != 'failed'`,
  );
  const name = fileNameToSegment(fileName);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let i = 1; i <= 100; i++) {
    const candidate = i === 1 ? name : `${stem} (${i})${ext}`;
    if (!await taken.get(workspaceId, type, sId, candidate)) return candidate;
  }
  return `${newResourceId("fil")}-${name}`.slice(0, 255);
}

/**
 * `POST /files`: validate type, size and use case, then record a file awaiting its bytes. A
 * declared size past the storage quota is refused here already (413), before any byte is
 * sent; the upload reserves the bytes for real (uploadFileContent).
 */
export async function createFile(
  deps: Deps,
  actor: Actor,
  input: CreateFileInput,
): Promise<FileRow> {
  requireScope(actor, "write");
  assertUploadable(input.contentType, input.fileName, input.fileSize);
  const scope = await resolveUploadScope(deps, actor, input);
  const cols = scope ? scopeColumns(scope) : null;
  const metadata = scope
    ? (scope.type === "conversation"
      ? { conversationId: scope.conversation_id }
      : { spaceId: scope.pod_id })
    : {};
  return await storageTx(deps, actor.workspace.id, async () => {
    const size = input.fileSize;
    await assertStorageFits(
      deps,
      storageOwnerOf(actor),
      { memberBytes: size, workspaceBytes: size },
      "file",
    );
    const path = scope
      ? await freeUploadPath(deps, actor.workspace.id, scope, input.fileName)
      : null;
    const t = now();
    const r = await deps.db.get(
      `INSERT INTO files (s_id, workspace_id, user_id, content_type, file_name, file_size, status,
         use_case, use_case_metadata, scope_type, scope_s_id, path, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?) RETURNING ${FILE_COLUMNS}`,
      newResourceId("fil"),
      actor.workspace.id,
      actor.kind === "user" ? actor.user.id : null,
      stripMimeParameters(input.contentType),
      input.fileName,
      input.fileSize,
      input.useCase,
      JSON.stringify(metadata),
      cols?.type ?? null,
      cols?.sId ?? null,
      path,
      t,
      t,
    );
    return fileFromRow(r);
  });
}

/** The most bytes an upload request may carry, multipart framing included. */
export const UPLOAD_BODY_MAX = 64 * 1024 * 1024;

/** The longest an upload's bytes may take to arrive (64 MB at under 6 KB/s): the orphan
 * sweep's margin on a shared store relies on every write ending by then. */
export const UPLOAD_MAX_MS = 3 * 60 * 60 * 1000;

/**
 * An upload's request body, capped while it streams (it is never buffered: the upload route
 * skips the app's bodyLimit, which holds a body sent without Content-Length whole in memory).
 * A declared Content-Length over the cap is refused before a byte is read; a body that sends
 * more than the cap fails as soon as it passes it. Both answer 413 `file_too_large`.
 */
export function capUploadBody(
  body: ReadableStream<Uint8Array> | null,
  contentLength: string | undefined,
): ReadableStream<Uint8Array> | null {
  const tooLarge = () =>
    new AppError(413, "file_too_large", `The upload is larger than ${UPLOAD_BODY_MAX} bytes.`);
  if (contentLength && Number(contentLength) > UPLOAD_BODY_MAX) throw tooLarge();
  return body?.pipeThrough(limitBytes(UPLOAD_BODY_MAX, tooLarge)) ?? null;
}

/** A stream that passes bytes through and fails as soon as more than `max` have gone by. */
function limitBytes(max: number, onTooLarge: () => Error): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > max) controller.error(onTooLarge());
      else controller.enqueue(chunk);
    },
  });
}

/**
 * `POST /files/:fileId`: store the bytes (streamed to disk, atomically) and mark the file
 * ready. The byte count must equal the declared `fileSize`; more is refused as soon as it
 * passes the declared size, so a lying client cannot fill the disk. The declared size is
 * reserved against the storage quotas before a byte is read (413 when it does not fit) and
 * given back however the upload ends; the transaction that makes the file ready turns the
 * reservation into stored bytes.
 */
export async function uploadFileContent(
  deps: Deps,
  actor: Actor,
  input: { fileId: string; body: ReadableStream<Uint8Array> },
): Promise<FileRow> {
  requireScope(actor, "write");
  const f = await requireReadableFile(deps, actor, input.fileId);
  const scope = scopeOfFile(f);
  if (!isUploader(actor, f) || (scope && !await checkFileScope(deps, actor, scope, "write"))) {
    throw fileNotFound();
  }
  if (f.status !== "created") throw invalid("The file has already been uploaded.");
  const owner = storageOwnerOf(actor);
  const reservation = await reserveStorage(deps, owner, f.fileSize, "file");
  try {
    const key = await streamToNewKey(deps, f, input.body);
    let updated;
    try {
      updated = await storageTx(deps, owner.workspaceId, async () => {
        await releaseReservation(deps.db, reservation);
        const size = f.fileSize;
        await assertStorageFits(deps, owner, { memberBytes: size, workspaceBytes: size }, "file");
        return await deps.db.get(
          `UPDATE files SET status = 'ready', storage_key = ?, updated_at = ?
           WHERE id = ? AND status = 'created' RETURNING ${FILE_COLUMNS}`,
          key,
          now(),
          f.id,
        );
      });
    } catch (e) {
      await deps.files.remove(key);
      throw e;
    }
    if (!updated) {
      await deps.files.remove(key);
      throw invalid("The file has already been uploaded.");
    }
    return fileFromRow(updated);
  } finally {
    await releaseReservation(deps.db, reservation);
  }
}

/** Stream an upload's bytes under a fresh key; exactly the declared size, or nothing stored. */
async function streamToNewKey(
  deps: Deps,
  f: FileRow,
  body: ReadableStream<Uint8Array>,
): Promise<string> {
  const key = deps.files.newKey();
  const tooLarge = () =>
    new AppError(
      400,
      "file_too_large",
      `File "${f.fileName}" is larger than its declared size (${f.fileSize} bytes).`,
    );
  const late = () =>
    new AppError(400, "file_processing_error", "The upload took longer than 3 hours.");
  const timed = endBy(body.pipeThrough(limitBytes(f.fileSize, tooLarge)), UPLOAD_MAX_MS, late);
  let size: number;
  try {
    size = await deps.files.write(key, timed.stream);
  } catch (e) {
    await deps.files.remove(key);
    if (e instanceof AppError) throw e;
    throw new AppError(400, "file_processing_error", "The upload was interrupted.");
  } finally {
    timed.done();
  }
  if (size !== f.fileSize) {
    await deps.files.remove(key);
    throw invalid(`The uploaded file has ${size} bytes but ${f.fileSize} were declared.`);
  }
  return key;
}

/** The bytes of a ready file the actor may read. */
export async function openFileContent(
  deps: Deps,
  actor: Actor,
  fileSId: string,
): Promise<{ file: FileRow; body: ReadableStream<Uint8Array> }> {
  const file = await requireReadableFile(deps, actor, fileSId);
  if (file.status !== "ready" || !file.storageKey) {
    throw invalid("The file has not been uploaded yet.");
  }
  return { file, body: await deps.files.readStream(file.storageKey) };
}

/** `DELETE /files/:fileId`: the row first (one statement), then the bytes. */
export async function deleteFile(deps: Deps, actor: Actor, fileSId: string): Promise<void> {
  requireScope(actor, "write");
  const f = await requireReadableFile(deps, actor, fileSId);
  const scope = scopeOfFile(f);
  if (scope ? !await checkFileScope(deps, actor, scope, "write") : !isUploader(actor, f)) {
    throw new AppError(403, "workspace_auth_error", "You cannot delete this file.");
  }
  await deps.db.run("DELETE FROM files WHERE id = ?", f.id);
  if (f.storageKey) await removeBlob(deps, f.storageKey);
}
