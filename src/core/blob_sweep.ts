/**
 * The startup sweep of orphan blobs. Bytes are written under a fresh key and renamed into
 * place before the files row points to them, and an overwrite removes the old bytes only after
 * its row switched keys: a crash between the two steps (an upload, `files_create`, an inline
 * content fragment, a deleted file or workspace) leaves a blob no row references. Nothing else
 * ever removes such a blob, so the server sweeps them once at start.
 * @module
 */
import type { Db } from "../db/db.ts";
import type { LocalFiles } from "../storage/local_files.ts";

export interface BlobSweep {
  /** Blobs removed: no files row referenced them. */
  removed: number;
  /** Blobs kept: a files row references each. */
  kept: number;
  /** False when the listing bound cut the walk short (the rest waits for the next start). */
  complete: boolean;
}

/**
 * Remove every blob whose key no files row references, whatever the row's status. One walk of
 * the files directory, then one query over the referenced keys.
 *
 * Safe because it runs before the server listens and before agent runs resume: no writer is
 * active (operator commands never write blobs). The walk comes before the query so that even
 * a writer in another process, whose blob is renamed into place right before its row commits,
 * is only at risk for that instant, not for the whole sweep.
 */
export async function removeOrphanBlobs(db: Db, files: LocalFiles): Promise<BlobSweep> {
  const { keys, complete } = await files.listKeys();
  const orphans = new Set(keys);
  const referenced = db.prepare("SELECT storage_key FROM files WHERE storage_key IS NOT NULL");
  for (const row of await referenced.all()) orphans.delete(String(row.storage_key));
  for (const key of orphans) await files.remove(key);
  return { removed: orphans.size, kept: keys.length - orphans.size, complete };
}
