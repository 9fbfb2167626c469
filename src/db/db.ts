/**
 * The one query interface the core calls, for both engines (SQLite through `node:sqlite`,
 * PostgreSQL through `postgres`):
 *
 * - `get`, `all`, `run` take SQL text with positional `?` parameters (or `:name` parameters and
 *   one object), in the dialect both engines share: `ON CONFLICT … DO NOTHING / DO UPDATE SET
 *   x = excluded.x`, `RETURNING`, `lower(…)` instead of `COLLATE NOCASE`, integers 0/1 for
 *   booleans, epoch milliseconds for time.
 * - A list parameter is a JS array written in SQL as `IN (SELECT value FROM json_each(?))`:
 *   SQLite receives it as JSON text, PostgreSQL reads the phrase as `= ANY(?)` with an array.
 * - `tx(fn)` runs `fn` in one transaction. Statements on the same `Db` issued from inside `fn`
 *   (in its async context) join the transaction; every other statement waits until it ends, so
 *   no other request's statement ever runs inside it. Nested `tx` calls join the outer one.
 *   Keep `fn` short and free of non-database awaits (no network, no file streaming).
 *
 * Engine-specific SQL (full-text search, migrations) lives in this folder only.
 * @module
 */
import type { CredentialEpoch } from "./credential_epoch.ts";

/** A value bound to a parameter. Arrays are list parameters (see the module doc). */
export type SqlValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | readonly (string | number)[];

export type SqlParams = SqlValue[] | [Record<string, SqlValue>];

/** A row as the driver returns it: column name → value. */
export type Row = Record<string, unknown>;

export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

export type Engine = "sqlite" | "postgres";

/** One SQL text bound for repeated use (`db.prepare(sql)`): the same calls, parameters only. */
export interface Statement {
  get<T = Row>(...params: SqlParams): Promise<T | undefined>;
  all<T = Row>(...params: SqlParams): Promise<T[]>;
  run(...params: SqlParams): Promise<RunResult>;
}

/** {@link Db.prepare} for any engine: the statement calls back into the Db with its SQL. */
export function bindStatement(db: Db, sql: string): Statement {
  return {
    get: <T = Row>(...params: SqlParams) => db.get<T>(sql, ...params),
    all: <T = Row>(...params: SqlParams) => db.all<T>(sql, ...params),
    run: (...params: SqlParams) => db.run(sql, ...params),
  };
}

export interface Db {
  readonly engine: Engine;
  /** Moves when what a credential check reads may have changed (src/db/credential_epoch.ts). */
  readonly credentialEpoch: CredentialEpoch;
  /** The first row, or undefined. */
  get<T = Row>(sql: string, ...params: SqlParams): Promise<T | undefined>;
  all<T = Row>(sql: string, ...params: SqlParams): Promise<T[]>;
  run(sql: string, ...params: SqlParams): Promise<RunResult>;
  /** A statement for SQL run several times (a loop of inserts); each engine caches its plan. */
  prepare(sql: string): Statement;
  /** Several statements without parameters (schema changes). */
  exec(sql: string): Promise<void>;
  tx<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * A transaction that first takes the lock `name`, shared by every process on this database
   * (PostgreSQL: an advisory lock, statements then see what the previous holder committed;
   * SQLite: the write lock `tx` already takes). For work one instance at a time: migrations,
   * periodic jobs.
   */
  lockedTx<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Inside `tx`: wait for the lock `name` and hold it until the transaction ends, so that
   * writers of the same thing (one event stream's log) commit one after the other, in the
   * order their ids were given. PostgreSQL: a transaction-scoped advisory lock; SQLite: nothing
   * to do, its one writer already commits transactions one at a time.
   */
  txLock(name: string): Promise<void>;
  /** True inside `tx` (the caller's async context holds the transaction). */
  inTx(): boolean;
  close(): Promise<void>;
}

/** Epoch milliseconds: the one timestamp format of the database. */
export function now(): number {
  return Date.now();
}

/** True for a single named-parameter object (not an array, not bytes). */
export function isNamedParams(params: readonly unknown[]): params is [Record<string, SqlValue>] {
  const p = params[0];
  return params.length === 1 && p !== null && typeof p === "object" && !Array.isArray(p) &&
    !(p instanceof Uint8Array);
}
