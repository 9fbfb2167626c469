/**
 * File bytes on local disk under `<dataDir>/files`. Keys are generated here, never taken from
 * a client's file name; every write goes to a temp file in the same directory, is fsynced and
 * renamed into place, so a reader never sees half a file and a crash leaves none behind.
 * @module
 */
import { join, resolve, sep } from "node:path";
import { randomString } from "../util/ids.ts";
import {
  assertStorageKey,
  type BlobStore,
  MAX_LISTED_KEYS,
  newStorageKey,
  STORAGE_KEY_PATTERN,
} from "./blob_store.ts";

export { MAX_LISTED_KEYS };

const FAN_OUT_PATTERN = /^[A-Za-z0-9]{2}$/;

export class LocalFiles implements BlobStore {
  readonly kind = "local";
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir, "files");
  }

  /**
   * Create the directory and remove temp files a crash may have left — unless other instances
   * may share the directory (`shared`: several instances on one database), whose writes in
   * flight would go with them: the periodic sweep then removes temp files older than its margin.
   */
  async init(options: { shared?: boolean } = {}): Promise<void> {
    await Deno.mkdir(join(this.root, "tmp"), { recursive: true });
    if (options.shared) return;
    for await (const entry of Deno.readDir(join(this.root, "tmp"))) {
      await Deno.remove(join(this.root, "tmp", entry.name)).catch(() => {});
    }
  }

  /** A fresh storage key: two-level fan-out plus a random name. */
  newKey(): string {
    return newStorageKey();
  }

  /** Resolve a key to an absolute path, refusing anything outside the files directory. */
  pathOf(key: string): string {
    assertStorageKey(key);
    const full = resolve(this.root, key);
    if (!full.startsWith(this.root + sep)) throw new Error("storage path outside files directory");
    return full;
  }

  /** Write bytes atomically (temp + fsync + rename) under `key`. */
  async write(key: string, bytes: Uint8Array | ReadableStream<Uint8Array>): Promise<number> {
    const target = this.pathOf(key);
    await Deno.mkdir(resolve(target, ".."), { recursive: true });
    const temp = join(this.root, "tmp", `${randomString(16)}.part`);
    let size = 0;
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      if (bytes instanceof Uint8Array) {
        let off = 0;
        while (off < bytes.length) off += await file.write(bytes.subarray(off));
        size = bytes.length;
      } else {
        for await (const chunk of bytes) {
          let off = 0;
          while (off < chunk.length) off += await file.write(chunk.subarray(off));
          size += chunk.length;
        }
      }
      await file.sync();
    } catch (e) {
      file.close();
      await Deno.remove(temp).catch(() => {});
      throw e;
    }
    file.close();
    await Deno.rename(temp, target);
    return size;
  }

  /**
   * The keys of the blobs on disk (one walk of the fan-out directories, at most `max`; `tmp`
   * and anything not shaped like a key are not ours to judge and are skipped). `complete` is
   * false when the bound cut the walk short. `olderThanMs` keeps only blobs whose mtime is
   * older than that (one stat each). A bare number is `max` (the older call shape).
   */
  async listKeys(
    options: number | { max?: number; olderThanMs?: number } = {},
  ): Promise<{ keys: string[]; complete: boolean }> {
    const { max = MAX_LISTED_KEYS, olderThanMs } = typeof options === "number"
      ? { max: options }
      : options;
    const cutoff = olderThanMs === undefined ? undefined : Date.now() - olderThanMs;
    const keys: string[] = [];
    for await (const fan of Deno.readDir(this.root)) {
      if (!fan.isDirectory || !FAN_OUT_PATTERN.test(fan.name)) continue;
      for await (const blob of Deno.readDir(join(this.root, fan.name))) {
        const key = `${fan.name}/${blob.name}`;
        if (!blob.isFile || !STORAGE_KEY_PATTERN.test(key)) continue;
        if (cutoff !== undefined && !(await this.#writtenBefore(key, cutoff))) continue;
        if (keys.length >= max) return { keys, complete: false };
        keys.push(key);
      }
    }
    return { keys, complete: true };
  }

  /** Whether the blob's mtime is before `cutoff` (a blob removed meanwhile is not listed). */
  async #writtenBefore(key: string, cutoff: number): Promise<boolean> {
    try {
      const mtime = (await Deno.stat(join(this.root, key))).mtime;
      return mtime !== null && mtime.getTime() < cutoff;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  async read(key: string): Promise<Uint8Array> {
    return await Deno.readFile(this.pathOf(key));
  }

  async open(key: string): Promise<Deno.FsFile> {
    return await Deno.open(this.pathOf(key), { read: true });
  }

  /** The blob as a stream; the file closes when the stream ends or is cancelled. */
  async readStream(key: string): Promise<ReadableStream<Uint8Array>> {
    return (await this.open(key)).readable;
  }

  async remove(key: string): Promise<void> {
    await Deno.remove(this.pathOf(key)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** Remove the temp files of writes started more than `olderThanMs` ago (a crashed writer's;
   * `init` already clears them all at start). */
  async abortStaleUploads(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const tmp = join(this.root, "tmp");
    let aborted = 0;
    for await (const entry of Deno.readDir(tmp)) {
      const path = join(tmp, entry.name);
      const stat = await Deno.stat(path).catch(() => null);
      if (!entry.isFile || !stat?.mtime || !(stat.mtime.getTime() < cutoff)) continue;
      if (await Deno.remove(path).then(() => true, () => false)) aborted++;
    }
    return aborted;
  }

  /** Nothing to release: every operation opens and closes its own files. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
