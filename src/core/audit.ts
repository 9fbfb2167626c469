/**
 * The audit log of MCP tool calls, write side: who (workspace, user, credential, client) called
 * which tool with which arguments (secrets and long values redacted, the whole bounded), the
 * outcome, the latency and the bytes returned. Reading, export and settings: audit_views.ts.
 *
 * The log cannot be flooded (issue 10): a call refused before it ran (over the rate budget,
 * or a write without the `write` scope) is not stored one row each but counted in one row per
 * credential, tool, outcome and {@link REFUSAL_WINDOW_MS} window; a row's arguments are at most
 * {@link AUDIT_MAX_ARGUMENT_CHARS}; and each workspace keeps at most `--audit-max-entries`
 * rows, the oldest removed first (`audit_usage` counts them, kept exact by triggers).
 * Rows older than the workspace's `audit_retention_days` are pruned too.
 * @module
 */
import type { Db } from "../db/db.ts";

import type { CredentialKind } from "../auth/actor.ts";

export type AuditOutcome = "success" | "error" | "denied" | "rate_limited";
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = [
  "success",
  "error",
  "denied",
  "rate_limited",
];

export interface AuditEntryInput {
  at: number;
  workspaceId: number;
  userId: number | null;
  credentialKind: CredentialKind;
  credentialId: string | null;
  clientId: string | null;
  tool: string;
  arguments: unknown;
  outcome: AuditOutcome;
  error: string | null;
  latencyMs: number;
  bytesReturned: number;
  requestId: string | null;
  /**
   * The call was refused before the tool ran (rate budget, missing scope): it is counted in
   * its credential's window row rather than stored on its own.
   */
  refused?: boolean;
}

/** Keys whose values are never stored, whatever their length. */
const SECRET_KEY = /token|password|passwd|secret|authorization|api_?key|cookie|code_verifier/i;
/** Strings longer than this are cut (file contents, long messages). */
export const AUDIT_MAX_STRING = 200;
/** The stored arguments (JSON) of one entry are at most this many characters. */
export const AUDIT_MAX_ARGUMENT_CHARS = 2048;
/** Error texts are cut to this many characters. */
const MAX_ERROR_CHARS = 500;
const MAX_DEPTH = 4;
const MAX_ITEMS = 20;
/** Refused calls of one credential, tool and outcome are counted per window this long. */
export const REFUSAL_WINDOW_MS = 10 * 60_000;
/** Default of `--audit-max-entries`: rows kept per workspace. */
export const DEFAULT_AUDIT_MAX_ENTRIES = 1_000_000;

/** Copy of `value` safe to store: secrets replaced, long strings cut, depth and size bounded. */
export function redactArguments(value: unknown, depth = 0): unknown {
  if (typeof value === "string") {
    return value.length > AUDIT_MAX_STRING
      ? `${value.slice(0, AUDIT_MAX_STRING)}…[+${value.length - AUDIT_MAX_STRING} chars]`
      : value;
  }
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[nested]";
  if (Array.isArray(value)) {
    const out = value.slice(0, MAX_ITEMS).map((v) => redactArguments(v, depth + 1));
    if (value.length > MAX_ITEMS) out.push(`…[+${value.length - MAX_ITEMS} items]`);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).slice(0, MAX_ITEMS)) {
    out[k] = SECRET_KEY.test(k) ? "[redacted]" : redactArguments(v, depth + 1);
  }
  return out;
}

/**
 * The JSON stored for a call's arguments: redacted, and at most
 * {@link AUDIT_MAX_ARGUMENT_CHARS} characters. Past that, a marked preview of the redacted
 * JSON replaces the object (`{"[truncated]": "<first characters>", "[chars]": <length>}`).
 */
export function storedArguments(value: unknown): string {
  const json = JSON.stringify(redactArguments(value ?? {})) ?? "{}";
  if (json.length <= AUDIT_MAX_ARGUMENT_CHARS) return json;
  // The preview is re-escaped when stringified, so leave room for quotes and backslashes.
  let cut = AUDIT_MAX_ARGUMENT_CHARS - 64;
  let out = "";
  do {
    out = JSON.stringify({ "[truncated]": json.slice(0, cut), "[chars]": json.length });
    cut = Math.floor(cut * 0.75);
  } while (out.length > AUDIT_MAX_ARGUMENT_CHARS);
  return out;
}

const INSERT_HEAD =
  `INSERT INTO audit_log (created_at, workspace_id, user_id, credential_kind, credential_id,
     client_id, tool, arguments, outcome, error, latency_ms, bytes_returned, request_id)
   VALUES `;
/** Rows per INSERT statement (13 parameters each, far below both engines' limits). */
const INSERT_ROWS_MAX = 64;
const insertSqls = new Map<number, string>();

/** The INSERT of `n` rows (cached: each engine caches the statement by its text). */
function insertSql(n: number): string {
  let sql = insertSqls.get(n);
  if (!sql) {
    sql = INSERT_HEAD + Array(n).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
    insertSqls.set(n, sql);
  }
  return sql;
}

/** One window row per credential, tool and outcome: a refusal adds to its count. */
const COUNT_REFUSAL_SQL =
  `INSERT INTO audit_log (created_at, workspace_id, user_id, credential_kind, credential_id,
     client_id, tool, arguments, outcome, error, latency_ms, bytes_returned, request_id,
     count, window_start, last_at)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)
   ON CONFLICT (workspace_id, credential_id, tool, outcome, window_start)
     WHERE window_start IS NOT NULL
   DO UPDATE SET count = audit_log.count + excluded.count,
     last_at = CASE WHEN excluded.last_at > audit_log.last_at THEN excluded.last_at
       ELSE audit_log.last_at END`;

/** Entries are written in batches: at most this many, or after this delay. */
const BATCH_MAX = 256;
const BATCH_DELAY_MS = 20;

/** A stored entry waiting for the next flush. */
type StoredEntry = Omit<AuditEntryInput, "arguments" | "refused"> & { arguments: string };

/** Refusals of one credential, tool, outcome and window, counted before the flush. */
interface RefusalCount {
  first: StoredEntry;
  windowStart: number;
  count: number;
  lastAt: number;
}

interface Pending {
  rows: StoredEntry[];
  refusals: Map<string, RefusalCount>;
  timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
  maxEntries: number;
  /** The flushes started so far, one after the other (a flush waits for the ones before). */
  flushing: Promise<void>;
}
const pending = new WeakMap<Db, Pending>();

/**
 * Append one entry (arguments are redacted and bounded here, so callers cannot forget).
 * Entries are buffered and written in one transaction per batch: a separate commit per tool
 * call would cost more than most tool calls themselves. Readers call {@link flushAuditLog}
 * first, and the server flushes on shutdown; a crash loses at most the last
 * {@link BATCH_DELAY_MS} ms. `maxEntries` is the per-workspace cap (`--audit-max-entries`).
 */
export async function recordToolCall(
  db: Db,
  e: AuditEntryInput,
  maxEntries = DEFAULT_AUDIT_MAX_ENTRIES,
): Promise<void> {
  let p = pending.get(db);
  if (!p) {
    pending.set(
      db,
      p = {
        rows: [],
        refusals: new Map(),
        timer: undefined,
        maxEntries,
        flushing: Promise.resolve(),
      },
    );
  }
  p.maxEntries = maxEntries;
  const { refused, ...entry } = e;
  const stored: StoredEntry = { ...entry, arguments: storedArguments(e.arguments) };
  if (refused) countRefusal(p, stored);
  else p.rows.push(stored);
  if (p.rows.length + p.refusals.size >= BATCH_MAX) await flushAuditLog(db);
  else if (p.timer === undefined) {
    // A failed flush (the database closed under it) must not end the process: the rows are
    // lost either way, and the next call retries with its own rows.
    p.timer = setTimeout(() => void flushAuditLog(db).catch(() => {}), BATCH_DELAY_MS);
  }
}

function countRefusal(p: Pending, e: StoredEntry): void {
  const windowStart = Math.floor(e.at / REFUSAL_WINDOW_MS) * REFUSAL_WINDOW_MS;
  const key = JSON.stringify([e.workspaceId, refusalCredential(e), e.tool, e.outcome, windowStart]);
  const seen = p.refusals.get(key);
  if (seen) {
    seen.count++;
    seen.lastAt = Math.max(seen.lastAt, e.at);
  } else p.refusals.set(key, { first: e, windowStart, count: 1, lastAt: e.at });
}

/** The credential a refusal is counted against (every `/mcp` caller has one). */
function refusalCredential(e: StoredEntry): string {
  return e.credentialId ?? `${e.credentialKind}:${e.userId ?? ""}`;
}

/**
 * Write every buffered entry now (before reads, and on shutdown). Resolves once every entry
 * buffered before the call is committed, also those a flush already under way is writing (on
 * PostgreSQL a reader's query does not wait for another connection's transaction).
 */
export async function flushAuditLog(db: Db): Promise<void> {
  const p = pending.get(db);
  if (!p) return;
  if (p.timer !== undefined) clearTimeout(p.timer);
  p.timer = undefined;
  if (p.rows.length === 0 && p.refusals.size === 0) return await p.flushing;
  const { rows, refusals } = p;
  p.rows = [];
  p.refusals = new Map();
  const write = p.flushing.then(() => writeBatch(db, p, rows, refusals));
  p.flushing = write.catch(() => {});
  await write;
}

async function writeBatch(
  db: Db,
  p: Pending,
  rows: StoredEntry[],
  refusals: Map<string, RefusalCount>,
): Promise<void> {
  const touched = new Set<number>();
  await db.tx(async () => {
    // Many rows per statement: one statement per row cost more than the rows themselves.
    for (let i = 0; i < rows.length; i += INSERT_ROWS_MAX) {
      const chunk = rows.slice(i, i + INSERT_ROWS_MAX);
      await db.run(insertSql(chunk.length), ...chunk.flatMap(entryValues));
      for (const e of chunk) touched.add(e.workspaceId);
    }
    const upsert = db.prepare(COUNT_REFUSAL_SQL);
    for (const { first: f, count, windowStart, lastAt } of refusals.values()) {
      const who = [f.at, f.workspaceId, f.userId, f.credentialKind, refusalCredential(f)];
      const what = [f.clientId, f.tool, f.arguments, f.outcome, cutError(f.error), f.requestId];
      await upsert.run(...who, ...what, count, windowStart, lastAt);
      touched.add(f.workspaceId);
    }
    for (const workspaceId of touched) await enforceEntryCap(db, workspaceId, p.maxEntries);
  });
}

function cutError(error: string | null): string | null {
  return error === null ? null : error.slice(0, MAX_ERROR_CHARS);
}

function entryValues(e: StoredEntry) {
  return [
    e.at,
    e.workspaceId,
    e.userId,
    e.credentialKind,
    e.credentialId,
    e.clientId,
    e.tool,
    e.arguments,
    e.outcome,
    cutError(e.error),
    Math.round(e.latencyMs * 1000) / 1000,
    e.bytesReturned,
    e.requestId,
  ] as const;
}

/** Rows the workspace's audit log holds now (aggregated refusals count as one). */
export async function countAuditEntries(db: Db, workspaceId: number): Promise<number> {
  await flushAuditLog(db);
  const r = await db.get("SELECT entries FROM audit_usage WHERE workspace_id = ?", workspaceId) as {
    entries: number;
  } | undefined;
  return r?.entries ?? 0;
}

/** Remove the workspace's oldest rows past `maxEntries`; returns how many were removed. */
async function enforceEntryCap(db: Db, workspaceId: number, maxEntries: number): Promise<number> {
  const r = await db.get("SELECT entries FROM audit_usage WHERE workspace_id = ?", workspaceId) as {
    entries: number;
  } | undefined;
  if (!r || r.entries <= maxEntries) return 0;
  const deleted = await db.run(
    `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE workspace_id = ?
       ORDER BY created_at, id LIMIT ?)`,
    workspaceId,
    r.entries - maxEntries,
  );
  return Number(deleted.changes);
}

/**
 * Delete entries older than each workspace's retention, then the oldest entries of any
 * workspace past `maxEntries` rows. Returns the number deleted.
 */
export async function pruneAuditLog(
  db: Db,
  at = Date.now(),
  maxEntries = pending.get(db)?.maxEntries ?? DEFAULT_AUDIT_MAX_ENTRIES,
): Promise<number> {
  await flushAuditLog(db);
  return await db.tx(async () => {
    const r = await db.run(
      `DELETE FROM audit_log WHERE id IN (
         SELECT a.id FROM audit_log a JOIN workspaces w ON w.id = a.workspace_id
         WHERE a.created_at < ? - w.audit_retention_days * 86400000)`,
      at,
    );
    let deleted = Number(r.changes);
    const over = await db.all(
      "SELECT workspace_id FROM audit_usage WHERE entries > ?",
      maxEntries,
    ) as { workspace_id: number }[];
    for (const w of over) deleted += await enforceEntryCap(db, w.workspace_id, maxEntries);
    return deleted;
  });
}
