/**
 * SQLite through `node:sqlite`. Pragmas in PocketBase's order: busy timeout first (it must
 * precede WAL), then WAL, `synchronous=NORMAL`, foreign keys. `node:sqlite` is synchronous:
 * never `await` inside {@link tx}.
 * @module
 */
import { DatabaseSync } from "node:sqlite";

export type Db = DatabaseSync;

export interface OpenOptions {
  readOnly?: boolean;
}

export function openDb(path: string, options: OpenOptions = {}): Db {
  const db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
  db.exec("PRAGMA busy_timeout = 5000");
  if (!options.readOnly) db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA temp_store = MEMORY");
  return db;
}

let depth = 0;

/**
 * Run `fn` in one transaction (`BEGIN IMMEDIATE`, so writers queue on the busy timeout rather
 * than fail on upgrade). Nested calls join the outer transaction. `fn` must be synchronous.
 */
export function tx<T>(db: Db, fn: () => T): T {
  if (depth > 0) return fn();
  db.exec("BEGIN IMMEDIATE");
  depth++;
  try {
    const out = fn();
    if (out instanceof Promise) throw new Error("tx(): the callback must be synchronous");
    db.exec("COMMIT");
    return out;
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  } finally {
    depth--;
  }
}

/** Epoch milliseconds: the one timestamp format of the database. */
export function now(): number {
  return Date.now();
}
