/**
 * Files at scoped paths (`conversation-<sId>/<path>`, `pod-<sId>/<path>`): list, find, and
 * create-or-overwrite, the storage side of the file-system tools (`file_system.ts`). Access is
 * checked by the caller (`requireFileScope` in files.ts).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { now } from "../db/db.ts";
import { newResourceId } from "../util/ids.ts";
import { type FileScope, scopeColumns, stripMimeParameters } from "./file_types.ts";
import { FILE_COLUMNS, fileFromRow, type FileRow, type FileUseCase } from "./files.ts";
import { assertStorageFits, storageOwnerOf, storageTx } from "./storage_quota.ts";
import { removeBlob } from "./backup_runs.ts";

/** Ready files of a scope by path, at most `limit` of them. */
export async function listScopeFiles(
  deps: Deps,
  workspaceId: number,
  scope: FileScope,
  limit: number,
): Promise<FileRow[]> {
  const { type, sId } = scopeColumns(scope);
  return (await deps.db.all(
    `SELECT ${FILE_COLUMNS} FROM files WHERE workspace_id = ? AND scope_type = ? AND scope_s_id = ?
     AND status = 'ready' AND path IS NOT NULL ORDER BY path LIMIT ?`,
    workspaceId,
    type,
    sId,
    limit,
  )).map(fileFromRow);
}

/** The ready file at a relative path of a scope, or null. */
export async function findScopeFile(
  deps: Deps,
  workspaceId: number,
  scope: FileScope,
  rel: string,
): Promise<FileRow | null> {
  const { type, sId } = scopeColumns(scope);
  const r = await deps.db.get(
    `SELECT ${FILE_COLUMNS} FROM files WHERE workspace_id = ? AND scope_type = ? AND scope_s_id = ?
     AND path = ? AND status = 'ready'`,
    workspaceId,
    type,
    sId,
    rel,
  );
  return r ? fileFromRow(r) : null;
}

/**
 * Create or overwrite the file at `rel` in a scope. The new bytes go to a fresh key first,
 * the row is switched to it in one transaction, then the old bytes are removed: a reader sees
 * the old file or the new one, never a mix, and a crash leaves at most an orphan blob.
 * The bytes become the writer's (storage quotas): the check against the quotas runs in the
 * same transaction, counting what an overwrite frees; a refused write removes its new bytes.
 */
export async function writeScopeFile(
  deps: Deps,
  actor: Actor,
  input: { scope: FileScope; rel: string; bytes: Uint8Array; contentType: string },
): Promise<{ file: FileRow; created: boolean }> {
  const key = deps.files.newKey();
  await deps.files.write(key, input.bytes);
  const { type, sId } = scopeColumns(input.scope);
  const useCase: FileUseCase = type === "conversation" ? "conversation" : "project_context";
  const metadata = type === "conversation" ? { conversationId: sId } : { spaceId: sId };
  const name = input.rel.slice(input.rel.lastIndexOf("/") + 1);
  const contentType = stripMimeParameters(input.contentType);
  const owner = storageOwnerOf(actor);
  const userId = actor.kind === "user" ? actor.user.id : null;
  const size = input.bytes.byteLength;
  let written;
  try {
    written = await storageTx(deps, owner.workspaceId, async () => {
      const existing = await deps.db.get(
        `SELECT ${FILE_COLUMNS} FROM files WHERE workspace_id = ? AND scope_type = ? AND scope_s_id = ?
         AND path = ? AND status != 'failed'`,
        actor.workspace.id,
        type,
        sId,
        input.rel,
      );
      const old = existing ? fileFromRow(existing) : null;
      const freed = old?.status === "ready" ? old.fileSize : 0;
      const freedByWriter = (old?.userId ?? null) === userId ? freed : 0;
      await assertStorageFits(deps, owner, {
        memberBytes: size - freedByWriter,
        workspaceBytes: size - freed,
      }, "file");
      const t = now();
      if (old) {
        const r = await deps.db.get(
          `UPDATE files SET content_type = ?, file_size = ?, status = 'ready', storage_key = ?,
             user_id = ?, updated_at = ? WHERE id = ? RETURNING ${FILE_COLUMNS}`,
          contentType,
          size,
          key,
          userId,
          t,
          old.id,
        );
        return { file: fileFromRow(r), oldKey: old.storageKey, created: false };
      }
      const r = await deps.db.get(
        `INSERT INTO files (s_id, workspace_id, user_id, content_type, file_name, file_size, status,
           use_case, use_case_metadata, scope_type, scope_s_id, path, storage_key, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'ready', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${FILE_COLUMNS}`,
        newResourceId("fil"),
        actor.workspace.id,
        userId,
        contentType,
        name,
        size,
        useCase,
        JSON.stringify(metadata),
        type,
        sId,
        input.rel,
        key,
        t,
        t,
      );
      return { file: fileFromRow(r), oldKey: null as string | null, created: true };
    });
  } catch (e) {
    await deps.files.remove(key);
    throw e;
  }
  const { file, oldKey, created } = written;
  if (oldKey) await removeBlob(deps, oldKey);
  return { file, created };
}

/** A file of the workspace by sId, with no access check (the caller checks its scope). */
export async function findFileInWorkspace(deps: Deps, workspaceId: number, fileSId: string) {
  const r = await deps.db.get(
    `SELECT ${FILE_COLUMNS} FROM files WHERE s_id = ? AND workspace_id = ?`,
    fileSId,
    workspaceId,
  );
  return r ? fileFromRow(r) : null;
}
