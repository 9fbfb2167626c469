/**
 * A Pod's files as its console page lists and takes them: the ready files of the Pod's scope
 * (`pod-<id>/…`, the same files the MCP file tools see), and an upload from the browser that
 * creates or overwrites `pod-<id>/<name>` (storage quotas apply, as for every write).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { requireFileScope } from "./files.ts";
import { type FileScope, relativePathInScope, stripMimeParameters } from "./file_types.ts";
import { listScopeFiles, writeScopeFile } from "./scoped_files.ts";
import { LIST_FILES_MAX } from "./file_system.ts";

/** Largest file the Pod page takes (the page's request body limit is 2 MiB). */
export const POD_PAGE_UPLOAD_MAX = 2 * 1024 * 1024 - 64 * 1024;

export interface PodFile {
  sId: string;
  path: string;
  name: string;
  contentType: string;
  sizeBytes: number;
  updatedAt: number;
}

const scopeOf = (podId: string): FileScope => ({ type: "pod", pod_id: podId });

/** The Pod's ready files by path (readers of the Pod), at most `LIST_FILES_MAX`. */
export async function listPodFiles(
  deps: Deps,
  actor: Actor,
  input: { podId: string },
): Promise<PodFile[]> {
  const scope = scopeOf(input.podId);
  await requireFileScope(deps, actor, scope, "read");
  return (await listScopeFiles(deps, actor.workspace.id, scope, LIST_FILES_MAX)).map((f) => ({
    sId: f.sId,
    path: `pod-${input.podId}/${f.path}`,
    name: f.path ?? f.fileName,
    contentType: stripMimeParameters(f.contentType),
    sizeBytes: f.fileSize,
    updatedAt: f.updatedAt,
  }));
}

/** A writer of the Pod uploads a file as `pod-<id>/<name>` (overwriting a file of that name). */
export async function uploadPodFile(
  deps: Deps,
  actor: Actor,
  input: { podId: string; name: string; contentType: string; bytes: Uint8Array },
): Promise<{ path: string; created: boolean }> {
  const scope = scopeOf(input.podId);
  await requireFileScope(deps, actor, scope, "write");
  const name = input.name.trim().replace(/[\\/]+/g, "_").slice(0, 200);
  if (!name || name === "." || name === "..") throw invalid("file: the file needs a name");
  if (input.bytes.byteLength > POD_PAGE_UPLOAD_MAX) {
    throw invalid(`file: larger than ${Math.floor(POD_PAGE_UPLOAD_MAX / 1024)} KiB`);
  }
  const path = `pod-${input.podId}/${name}`;
  const rel = relativePathInScope(path, scope);
  const type = stripMimeParameters(input.contentType || "application/octet-stream");
  const { created } = await writeScopeFile(deps, actor, {
    scope,
    rel,
    bytes: input.bytes,
    contentType: /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(type) ? type : "application/octet-stream",
  });
  return { path, created };
}
