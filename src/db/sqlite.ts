/**
 * SQLite through `node:sqlite`. Pragmas in PocketBase's order: busy timeout first (it must
 * precede WAL), then WAL, `synchronous=NORMAL`, foreign keys. `node:sqlite` is synchronous:
 * never `await` inside {@link tx}.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";

export type Db = DatabaseSync;

/** Distinct SQL texts kept prepared per connection (the oldest is dropped past this). */
const STATEMENT_CACHE_MAX = 512;

/**
 * A connection whose `prepare()` returns a cached statement for SQL it has seen. Core code
 * calls `db.prepare(sql)` inline on every request; preparing costs several times the query
 * itself (perf.md: 13–19 µs against 3 µs for a point lookup) and was 12 % of the server's
 * main-thread CPU under bench/load_mixed.ts. Reuse is safe here: `node:sqlite` statements
 * are synchronous, reset after each call and clear their bindings, and nothing in src/ uses
 * `iterate()` or per-statement settings.
 */
class CachingDatabase extends DatabaseSync {
  readonly #statements = new Map<string, StatementSync>();

  override prepare(sql: string): StatementSync {
    const cached = this.#statements.get(sql);
    if (cached) return cached;
    const fresh = super.prepare(sql);
    if (this.#statements.size >= STATEMENT_CACHE_MAX) {
      this.#statements.delete(this.#statements.keys().next().value!);
    }
    this.#statements.set(sql, fresh);
    return fresh;
  }
}

export interface OpenOptions {
  readOnly?: boolean;
}

export function openDb(path: string, options: OpenOptions = {}): Db {
  const db = new CachingDatabase(path, { readOnly: options.readOnly ?? false });
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
