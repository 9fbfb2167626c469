/**
 * The SQLite engine of {@link Db}: one `node:sqlite` connection (WAL), pragmas in PocketBase's
 * order (busy timeout first — it must precede WAL —, then WAL, `synchronous=NORMAL`, foreign
 * keys) and a cache of prepared statements.
 *
 * `node:sqlite` is synchronous and SQLite has one writer, but `tx(fn)` awaits `fn`. While a
 * transaction is open the connection belongs to it: an `AsyncLocalStorage` marks the
 * transaction's async context, statements from that context run at once, and statements from
 * any other context wait (in order) until the transaction commits or rolls back. So another
 * request's statement never runs inside an open transaction, never sees its uncommitted rows and
 * is never committed or rolled back with it. Statements outside a transaction need no lock: each
 * runs to completion synchronously.
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { AsyncLocalStorage } from "node:async_hooks";
import { CredentialEpoch } from "./credential_epoch.ts";
import {
  bindStatement,
  type Db,
  isNamedParams,
  type Row,
  type RunResult,
  type SqlParams,
  type Statement,
} from "./db.ts";

/** Distinct SQL texts kept prepared per connection (the oldest is dropped past this). */
const STATEMENT_CACHE_MAX = 512;

/** A statement waiting this long for another context's transaction is refused (a deadlock). */
export const TX_WAIT_LIMIT_MS = 60_000;

const ROW_LOCKS = /\s+FOR\s+UPDATE(\s+SKIP\s+LOCKED)?\b/gi;

/**
 * The shared dialect's row locks (`FOR UPDATE [SKIP LOCKED]`, for leases several PostgreSQL
 * instances claim at once) mean nothing to SQLite, whose one writer already runs each statement
 * alone: they are dropped. Done when a text is first prepared, so the cached statement pays
 * nothing.
 */
function sqliteDialect(sql: string): string {
  return sql.replace(ROW_LOCKS, "");
}

/**
 * A connection whose `prepare()` returns a cached statement for SQL it has seen. Preparing costs
 * several times a point lookup (perf.md: 13–19 µs against 3 µs) and was 12 % of the server's
 * main-thread CPU under bench/load_mixed.ts. Reuse is safe: `node:sqlite` statements are
 * synchronous, reset after each call and clear their bindings.
 */
class CachingDatabase extends DatabaseSync {
  readonly #statements = new Map<string, StatementSync>();

  override prepare(sql: string): StatementSync {
    const cached = this.#statements.get(sql);
    if (cached) return cached;
    const fresh = super.prepare(sqliteDialect(sql));
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

/** A raw synchronous connection (search workers read through one of their own). */
export function openSqliteConnection(path: string, options: OpenOptions = {}): DatabaseSync {
  const db = new CachingDatabase(path, { readOnly: options.readOnly ?? false });
  db.exec("PRAGMA busy_timeout = 5000");
  if (!options.readOnly) db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA temp_store = MEMORY");
  return db;
}

type Bindable = string | number | bigint | null | Uint8Array;

/** Arrays become JSON text (read with `json_each`), booleans 0/1. */
function bindValue(v: unknown): Bindable {
  if (Array.isArray(v)) return JSON.stringify(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v === undefined) return null;
  return v as Bindable;
}

function bind(params: SqlParams): Bindable[] | [Record<string, Bindable>] {
  if (isNamedParams(params)) {
    const out: Record<string, Bindable> = {};
    for (const [k, v] of Object.entries(params[0])) out[k] = bindValue(v);
    return [out];
  }
  return (params as unknown[]).map(bindValue);
}

export class SqliteDb implements Db {
  readonly engine = "sqlite" as const;
  /** The synchronous connection (operator commands and tests that inspect the file). */
  readonly conn: DatabaseSync;
  readonly #context = new AsyncLocalStorage<object>();
  /** The context token of the transaction holding the connection, if any. */
  #owner: object | null = null;
  #waiters: (() => void)[] = [];

  readonly credentialEpoch: CredentialEpoch;

  constructor(readonly path: string, options: OpenOptions = {}) {
    this.conn = openSqliteConnection(path, options);
    // Commits by other connections (operator commands in another process) move data_version.
    const version = this.conn.prepare("PRAGMA data_version");
    this.credentialEpoch = new CredentialEpoch(() =>
      this.conn.isOpen ? Number((version.get() as { data_version: number }).data_version) : -1
    );
  }

  inTx(): boolean {
    return this.#owner !== null && this.#context.getStore() === this.#owner;
  }

  /** Resolves when the connection is released (false after the wait limit). */
  #wait(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<boolean>((resolve) => {
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      timer = setTimeout(() => resolve(false), TX_WAIT_LIMIT_MS);
    });
  }

  /**
   * Run `fn` once no transaction of another context holds the connection. The check and `fn`
   * run in the same synchronous step, so nothing can claim the connection in between.
   */
  async #exclusive<T>(fn: () => T): Promise<T> {
    const started = Date.now();
    while (this.#owner !== null && !this.inTx()) {
      if (!(await this.#wait()) && Date.now() - started >= TX_WAIT_LIMIT_MS) {
        throw new Error("database busy: a transaction held the connection too long");
      }
    }
    return fn();
  }

  #release(): void {
    this.#owner = null;
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const wake of waiting) wake();
  }

  get<T = Row>(sql: string, ...params: SqlParams): Promise<T | undefined> {
    return this.#exclusive(() => {
      // deno-lint-ignore no-explicit-any
      const row = this.conn.prepare(sql).get(...(bind(params) as any[])) as T;
      this.credentialEpoch.noteStatement(sql);
      return row;
    });
  }

  all<T = Row>(sql: string, ...params: SqlParams): Promise<T[]> {
    return this.#exclusive(() => {
      // deno-lint-ignore no-explicit-any
      const rows = this.conn.prepare(sql).all(...(bind(params) as any[])) as T[];
      this.credentialEpoch.noteStatement(sql);
      return rows;
    });
  }

  run(sql: string, ...params: SqlParams): Promise<RunResult> {
    return this.#exclusive(() => {
      // deno-lint-ignore no-explicit-any
      const r = this.conn.prepare(sql).run(...(bind(params) as any[]));
      this.credentialEpoch.noteStatement(sql);
      return { changes: Number(r.changes) };
    });
  }

  prepare(sql: string): Statement {
    return bindStatement(this, sql);
  }

  /**
   * Run synchronous work on the connection once no other context's transaction holds it (the
   * same rule as every query; reads in `fn` see committed rows only).
   */
  withConnection<T>(fn: (conn: DatabaseSync) => T): Promise<T> {
    return this.#exclusive(() => fn(this.conn));
  }

  exec(sql: string): Promise<void> {
    return this.#exclusive(() => {
      this.conn.exec(sql);
      this.credentialEpoch.noteStatement(sql);
    });
  }

  lockedTx<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    return this.tx(fn);
  }

  txLock(_name: string): Promise<void> {
    if (!this.inTx()) return Promise.reject(new Error("txLock() must run inside tx()"));
    return Promise.resolve();
  }

  async tx<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTx()) return await fn();
    const token = {};
    await this.#exclusive(() => {
      // Claimed in the same step as the check: no other context can start in between.
      this.#owner = token;
      try {
        // BEGIN IMMEDIATE: writers of other processes (operator commands) queue on the busy
        // timeout instead of failing on the read-to-write upgrade.
        this.conn.exec("BEGIN IMMEDIATE");
      } catch (e) {
        this.#release();
        throw e;
      }
    });
    const writes = this.credentialEpoch.writes;
    try {
      const out = await this.#context.run(token, fn);
      this.conn.exec("COMMIT");
      if (this.credentialEpoch.writes !== writes) this.credentialEpoch.bump();
      return out;
    } catch (e) {
      if (this.conn.isTransaction) this.conn.exec("ROLLBACK");
      throw e;
    } finally {
      this.#release();
    }
  }

  close(): Promise<void> {
    if (this.conn.isOpen) this.conn.close();
    return Promise.resolve();
  }
}

/** Open (creating when missing) the SQLite database at `path`. */
export function openDb(path: string, options: OpenOptions = {}): SqliteDb {
  return new SqliteDb(path, options);
}
