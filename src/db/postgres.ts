/**
 * The PostgreSQL engine of {@link Db}, through `postgres` (porsager's driver: pure TypeScript,
 * a pool, prepared statements, `LISTEN/NOTIFY`). The core's SQL is translated here, once per
 * text: `?` and `:name` parameters become `$n`, and a list parameter
 * (`IN (SELECT value FROM json_each(?))`) becomes `= ANY($n)` bound to an array.
 *
 * Transactions run `SERIALIZABLE`: the core was written against SQLite's single writer ("one
 * active token per user", unique sends, counters), and serializable isolation keeps those rules
 * without a lock per rule. A serialization failure or deadlock retries the whole transaction
 * (the callback must only touch the database, which the Db contract already asks). As on SQLite,
 * statements issued from inside the callback's async context join the transaction.
 * @module
 */
import postgres from "postgres";
import { AsyncLocalStorage } from "node:async_hooks";
import { AppError } from "../errors.ts";
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

type Sql = postgres.Sql;
type TxSql = postgres.TransactionSql;

/** Serialization failures and deadlocks: the transaction is retried. */
const RETRY_CODES = new Set(["40001", "40P01"]);
const TX_ATTEMPTS = 20;

/**
 * Full-jitter exponential backoff before retry `attempt` (at most ~1 s): a long transaction
 * that lost to short ones waits long enough, at a random moment, to get a turn.
 */
function retryDelayMs(attempt: number): number {
  return Math.random() * Math.min(1000, 5 * 2 ** attempt);
}

interface Translated {
  text: string;
  /** For `:name` parameters: the name bound to each `$n`, in order. */
  names: string[] | null;
  /** 0-based `$n` positions that are list parameters (bound as arrays). */
  lists: Set<number>;
}

const LIST_PHRASE =
  /\bIN\s*\(\s*SELECT\s+value\s+FROM\s+json_each\(\s*(\?|:[A-Za-z_]\w*)\s*\)\s*\)/gi;

/**
 * Translate the shared dialect to PostgreSQL's: parameters to `$n` (outside string literals,
 * quoted identifiers and `::` casts), list phrases to `= ANY(…)`.
 */
export function translateSql(sql: string): Translated {
  const LIST_MARK = "\u0000";
  // A list parameter keeps a mark until it is numbered below.
  const listed = sql.replace(LIST_PHRASE, (_m, p: string) => `= ANY(${LIST_MARK}${p})`);
  const lists = new Set<number>();
  const listNames = new Set<string>();
  let out = "";
  let n = 0;
  const names: string[] = [];
  const seen = new Map<string, number>();
  let named = false;
  let nextIsList = false;
  for (let i = 0; i < listed.length; i++) {
    const c = listed[i];
    if (c === "'" || c === '"') {
      const end = listed.indexOf(c, i + 1);
      const stop = end < 0 ? listed.length : end;
      out += listed.slice(i, stop + 1);
      i = stop;
    } else if (c === "-" && listed[i + 1] === "-") {
      const end = listed.indexOf("\n", i);
      const stop = end < 0 ? listed.length : end;
      out += listed.slice(i, stop);
      i = stop - 1;
    } else if (c === LIST_MARK) {
      nextIsList = true;
    } else if (c === "?") {
      if (nextIsList) lists.add(n);
      nextIsList = false;
      out += `$${++n}`;
    } else if (c === ":" && listed[i + 1] === ":") {
      out += "::";
      i++;
    } else if (
      c === ":" && /[A-Za-z_]/.test(listed[i + 1] ?? "") && !/\w/.test(listed[i - 1] ?? "")
    ) {
      const m = /^[A-Za-z_]\w*/.exec(listed.slice(i + 1))!;
      named = true;
      if (nextIsList) listNames.add(m[0]);
      nextIsList = false;
      let idx = seen.get(m[0]);
      if (idx === undefined) {
        names.push(m[0]);
        idx = names.length;
        seen.set(m[0], idx);
      }
      out += `$${idx}`;
      i += m[0].length;
    } else out += c;
  }
  for (const name of listNames) lists.add(seen.get(name)! - 1);
  return { text: out, names: named ? names : null, lists };
}

/**
 * PostgreSQL text cannot hold U+0000 (SQLite's can): such a value is refused as bad input, the
 * same on every surface, instead of failing as a server error.
 */
function refuseNul(v: string): string {
  if (v.includes("\u0000")) {
    throw new AppError(
      400,
      "invalid_request_error",
      "Text values must not contain the NUL character (U+0000).",
    );
  }
  return v;
}

function bindValue(v: unknown, isList = false): unknown {
  if (typeof v === "string") {
    // The core may pass a list as the JSON text SQLite's json_each reads.
    if (isList) return (JSON.parse(refuseNul(v)) as unknown[]).map((x) => bindValue(x));
    return refuseNul(v);
  }
  if (Array.isArray(v)) return v.map((x) => bindValue(x));
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v === undefined) return null;
  return v;
}

export interface PostgresOptions {
  /** Pool size (default 10). */
  max?: number;
}

export class PostgresDb implements Db {
  readonly engine = "postgres" as const;
  readonly sql: Sql;
  readonly #context = new AsyncLocalStorage<TxSql>();
  readonly #translations = new Map<string, Translated>();
  /** Migration 0020's committed counter, read outside any transaction. */
  readonly credentialEpoch = new CredentialEpoch(undefined, async () => {
    const rows = await this.sql`SELECT n FROM credential_epoch WHERE id = 1`;
    return Number(rows[0]?.n ?? 0);
  });
  #closed = false;

  constructor(readonly url: string, options: PostgresOptions = {}) {
    this.sql = postgres(url, {
      max: options.max ?? 10,
      onnotice: () => {},
      // Numbers stay numbers: int8 (epoch milliseconds, counts) and numeric (sums) arrive as
      // strings by default; every such value here is far below 2^53.
      types: {
        int8: {
          to: 20,
          from: [20],
          serialize: (x: number | bigint) => String(x),
          parse: (x: string) => Number(x),
        },
        numeric: {
          to: 1700,
          from: [1700],
          serialize: (x: number) => String(x),
          parse: (x: string) => Number(x),
        },
        // Booleans as SQLite gives them (0/1): the core compares flags and `x IS NULL AS y`
        // results with numbers, and stores its flags as integers on both engines.
        bool: {
          to: 16,
          from: [16],
          serialize: (x: unknown) => (x ? "t" : "f"),
          parse: (x: string) => (x === "t" ? 1 : 0),
        },
      },
      connection: { application_name: "dust-mcp" },
    });
  }

  inTx(): boolean {
    return this.#context.getStore() !== undefined;
  }

  #translate(sql: string): Translated {
    let t = this.#translations.get(sql);
    if (!t) {
      t = translateSql(sql);
      if (this.#translations.size > 2048) this.#translations.clear();
      this.#translations.set(sql, t);
    }
    return t;
  }

  #query(sql: string, params: SqlParams): postgres.PendingQuery<postgres.Row[]> {
    // The same words as node:sqlite, so a closed database reads alike on both engines.
    if (this.#closed) throw new Error("database is not open");
    const t = this.#translate(sql);
    let values: unknown[];
    if (t.names) {
      const obj = isNamedParams(params) ? params[0] : {};
      values = t.names.map((name, i) => bindValue(obj[name], t.lists.has(i)));
    } else values = (params as unknown[]).map((v, i) => bindValue(v, t.lists.has(i)));
    const conn: Sql | TxSql = this.#context.getStore() ?? this.sql;
    // deno-lint-ignore no-explicit-any
    return conn.unsafe(t.text, values as any[], { prepare: true });
  }

  async get<T = Row>(sql: string, ...params: SqlParams): Promise<T | undefined> {
    const rows = await this.#query(sql, params);
    this.credentialEpoch.noteStatement(sql);
    return rows[0] as T | undefined;
  }

  async all<T = Row>(sql: string, ...params: SqlParams): Promise<T[]> {
    const rows = await this.#query(sql, params);
    this.credentialEpoch.noteStatement(sql);
    return [...rows] as T[];
  }

  async run(sql: string, ...params: SqlParams): Promise<RunResult> {
    const rows = await this.#query(sql, params);
    this.credentialEpoch.noteStatement(sql);
    return { changes: rows.count ?? 0 };
  }

  prepare(sql: string): Statement {
    return bindStatement(this, sql);
  }

  async exec(sql: string): Promise<void> {
    if (this.#closed) throw new Error("database is not open");
    const conn: Sql | TxSql = this.#context.getStore() ?? this.sql;
    await conn.unsafe(sql);
    this.credentialEpoch.noteStatement(sql);
  }

  async tx<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTx()) return await fn();
    for (let attempt = 1;; attempt++) {
      const writes = this.credentialEpoch.writes;
      try {
        const out = await this.sql.begin(
          "isolation level serializable",
          (t) => this.#context.run(t, fn),
        ) as T;
        // Committed: a credential check that read the old rows meanwhile must not be reused.
        if (this.credentialEpoch.writes !== writes) this.credentialEpoch.bump();
        return out;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (!code || !RETRY_CODES.has(code) || attempt >= TX_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, retryDelayMs(attempt)));
      }
    }
  }

  /** Read committed, so that statements after the lock see what its last holder committed. */
  async lockedTx<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.inTx()) throw new Error("lockedTx() cannot run inside another transaction");
    const writes = this.credentialEpoch.writes;
    const out = await this.sql.begin("isolation level read committed", async (t) => {
      await t`SELECT pg_advisory_xact_lock(hashtext(${name}))`;
      return await this.#context.run(t, fn);
    }) as T;
    if (this.credentialEpoch.writes !== writes) this.credentialEpoch.bump();
    return out;
  }

  async txLock(name: string): Promise<void> {
    const t = this.#context.getStore();
    if (!t) throw new Error("txLock() must run inside tx()");
    await t`SELECT pg_advisory_xact_lock(hashtext(${name}))`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.sql.end({ timeout: 5 });
  }
}
