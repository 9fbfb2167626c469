/**
 * The sweep of orphan blobs. Bytes are written under a fresh key, complete, before the files
 * row points to them, and an overwrite removes the old bytes only after its row switched keys:
 * a crash between the two steps (an upload, `files_create`, an inline content fragment, a
 * deleted file or workspace) leaves a blob no row references. Nothing else ever removes such a
 * blob, so the server sweeps them: with local files once at start, before it listens; with an
 * S3-compatible store (shared by instances that keep writing) at start and every hour, only
 * blobs older than {@link ORPHAN_MARGIN_MS}, plus the multipart uploads a dead instance left.
 * @module
 */
import type { Deps } from "../deps.ts";
import { UPLOAD_MAX_MS } from "./files.ts";
import { removeBlob } from "./backup_runs.ts";

export interface BlobSweep {
  /** Blobs removed: no files row referenced them. */
  removed: number;
  /** Blobs kept: a files row references each. */
  kept: number;
  /** False when the listing bound cut the walk short (the rest waits for the next sweep). */
  complete: boolean;
  /** Unfinished writes abandoned (S3 multipart uploads, local temp files) that were aborted. */
  aborted: number;
}

/**
 * How old an unreferenced blob must be before a sweep that runs while others write removes it.
 * On S3 a multipart object's LastModified is when its upload STARTED, so a blob completed a
 * moment ago may look as old as its upload was long; its row commits right after. Every write
 * ends within {@link UPLOAD_MAX_MS} (3 h: uploads are cut there; in-memory writes take
 * seconds), and the other half covers the row's commit and clock skew between the instances and
 * the store. Six hours of orphans cost at most what failed uploads stored meanwhile.
 */
export const ORPHAN_MARGIN_MS = 2 * UPLOAD_MAX_MS;

/** How often an instance on S3 sweeps (besides at start). */
export const BLOB_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Remove every blob whose key no files row references (whatever the row's status) and abort
 * abandoned unfinished writes. One listing of the store, then one query over the referenced
 * keys: the listing comes first, so a blob written after it is never judged.
 *
 * `olderThanMs` unset judges every blob: only safe when no writer is active (the local store at
 * start, before the server listens and agent runs resume; operator commands never write
 * blobs). A sweep that runs while instances write passes {@link ORPHAN_MARGIN_MS}.
 */
export async function sweepOrphanBlobs(
  deps: Pick<Deps, "db" | "files">,
  options: { olderThanMs?: number } = {},
): Promise<BlobSweep> {
  const { keys, complete } = await deps.files.listKeys({ olderThanMs: options.olderThanMs });
  const orphans = new Set(keys);
  const referenced = await deps.db.all(
    "SELECT storage_key FROM files WHERE storage_key IS NOT NULL",
  );
  for (const row of referenced) orphans.delete(String(row.storage_key));
  for (const key of orphans) await removeBlob(deps, key);
  const aborted = await deps.files.abortStaleUploads(options.olderThanMs ?? 0);
  return { removed: orphans.size, kept: keys.length - orphans.size, complete, aborted };
}
