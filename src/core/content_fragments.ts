/**
 * Content fragments of a post: inline text (1 byte to 512 KB, a supported content type) is
 * stored as a file in the conversation's file scope; a fragment by `fileId` attaches an
 * existing readable file (an unscoped upload joins the conversation's scope); a content node
 * (`nodeId` + `nodeDataSourceViewId`: a document the caller reads) is stored as a copy of the
 * document's text, so it answers as a file fragment. Bytes are written before the post's
 * transaction and removed again if it fails. Stored fragments count against the poster's
 * storage quota: checked before the bytes are written, and again in the post's transaction.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { newResourceId, newSId } from "../util/ids.ts";
import {
  assertUploadable,
  fileCategory,
  fileNameToSegment,
  stripMimeParameters,
} from "./file_types.ts";
import { readNodeDocument } from "./documents.ts";
import { type FileRow, requireReadableFile } from "./files.ts";
import type { ConversationRow } from "./conversation_views.ts";
import { assertStorageFits, storageOwnerOf } from "./storage_quota.ts";

export type FragmentInput =
  | {
    title: string;
    content: string;
    contentType: string;
    url?: string | null;
    context?: object | null;
  }
  | { title: string; fileId: string; url?: string | null; context?: object | null }
  | {
    title: string;
    nodeId: string;
    nodeDataSourceViewId: string;
    url?: string | null;
    context?: object | null;
  };

/** Dust's inline content fragment limit (512 KB). */
export const MAX_INLINE_FRAGMENT_BYTES = 512 * 1024;
export type PreparedFragment =
  | {
    kind: "inline";
    title: string;
    contentType: string;
    url: string | null;
    context: object;
    key: string;
    size: number;
  }
  | { kind: "file"; title: string; url: string | null; context: object; file: FileRow };

export async function prepareFragment(
  deps: Deps,
  actor: Actor,
  f: FragmentInput,
): Promise<PreparedFragment> {
  const common = { title: f.title, url: f.url ?? null, context: f.context ?? {} };
  if ("fileId" in f) {
    const file = await requireReadableFile(deps, actor, f.fileId);
    if (file.status !== "ready") throw invalid(`fileId: the file "${f.fileId}" has no content yet`);
    return { kind: "file", ...common, file };
  }
  if ("nodeId" in f) {
    const doc = await readNodeDocument(deps, actor, {
      dataSourceViewId: f.nodeDataSourceViewId,
      documentId: f.nodeId,
    });
    const bytes = new TextEncoder().encode(doc.text);
    const contentType = fileCategory(doc.mimeType) ? doc.mimeType : "text/plain";
    return await storeInline(deps, actor, common, contentType, bytes);
  }
  const bytes = new TextEncoder().encode(f.content);
  if (bytes.length === 0 || bytes.length > MAX_INLINE_FRAGMENT_BYTES) {
    throw invalid(
      `content: a content fragment must be 1 byte to ${MAX_INLINE_FRAGMENT_BYTES} bytes`,
    );
  }
  return await storeInline(deps, actor, common, f.contentType, bytes);
}

/** Check the type and size limits, then write the bytes under a fresh storage key. */
async function storeInline(
  deps: Deps,
  actor: Actor,
  common: { title: string; url: string | null; context: object },
  contentType: string,
  bytes: Uint8Array,
): Promise<Extract<PreparedFragment, { kind: "inline" }>> {
  assertUploadable(contentType, common.title, bytes.length);
  const size = bytes.length;
  await assertStorageFits(
    deps,
    storageOwnerOf(actor),
    { memberBytes: size, workspaceBytes: size },
    "file",
  );
  const key = deps.files.newKey();
  await deps.files.write(key, bytes);
  return {
    kind: "inline",
    ...common,
    contentType: stripMimeParameters(contentType),
    key,
    size: bytes.length,
  };
}

/** Remove the stored bytes of prepared fragments that were not inserted. */
export async function discardFragments(deps: Deps, fragments: PreparedFragment[]): Promise<void> {
  for (const f of fragments) {
    if (f.kind === "inline") await deps.files.remove(f.key).catch(() => {});
  }
}

/** Store an inline fragment's file row in the conversation's file scope (quota checked). */
export async function insertFragmentFile(
  deps: Deps,
  actor: Actor,
  c: ConversationRow,
  f: Extract<PreparedFragment, { kind: "inline" }>,
  t: number,
): Promise<{ id: number; contentType: string; size: number }> {
  const size = f.size;
  await assertStorageFits(
    deps,
    storageOwnerOf(actor),
    { memberBytes: size, workspaceBytes: size },
    "file",
  );
  const r = await deps.db.get(
    `INSERT INTO files (s_id, workspace_id, user_id, content_type, file_name, file_size, status,
       use_case, use_case_metadata, scope_type, scope_s_id, path, storage_key, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 'ready', 'conversation', ?, 'conversation', ?, ?, ?, ?, ?) RETURNING id`,
    newResourceId("fil"),
    c.workspaceId,
    actor.kind === "user" ? actor.user.id : null,
    f.contentType,
    f.title,
    f.size,
    JSON.stringify({ conversationId: c.sId }),
    c.sId,
    await freePath(deps, c, f.title),
    f.key,
    t,
    t,
  ) as { id: number };
  return { id: r.id, contentType: f.contentType, size: f.size };
}

/** A file attached by id joins the conversation's file scope when it had none. */
export async function attachFile(deps: Deps, c: ConversationRow, file: FileRow, t: number) {
  if (file.scopeType === null) {
    await deps.db.run(
      `UPDATE files SET scope_type = 'conversation', scope_s_id = ?, path = ?, use_case_metadata = ?,
         updated_at = ? WHERE id = ?`,
      c.sId,
      await freePath(deps, c, file.fileName),
      JSON.stringify({ conversationId: c.sId }),
      t,
      file.id,
    );
  }
  return { id: file.id, contentType: file.contentType, size: file.fileSize };
}

/** The file name as a path in the conversation's scope, suffixed when already taken. */
async function freePath(deps: Deps, c: ConversationRow, name: string): Promise<string> {
  const taken = deps.db.prepare(
    `SELECT 1 FROM files WHERE workspace_id = ? AND scope_type = 'conversation' AND scope_s_id = ?
     AND path = ? AND status != 'failed'`,
  );
  const base = fileNameToSegment(name);
  if (!await taken.get(c.workspaceId, c.sId, base)) return base;
  return `${newSId()}-${base}`.slice(0, 255);
}
