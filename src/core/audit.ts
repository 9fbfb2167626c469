/**
 * The audit log of MCP tool calls: who (workspace, user, credential, client) called which
 * tool with which arguments (secrets and long values redacted), the outcome, the latency
 * and the bytes returned. Admins list it with filters and a cursor, and export it as JSON
 * lines; rows older than the workspace's `audit_retention_days` are pruned.
 * @module
 */
import type { Db } from "../db/sqlite.ts";
import { tx } from "../db/sqlite.ts";
import type { Actor, CredentialKind } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { findUserBySId } from "./users.ts";
import { isAdmin, requireScope } from "./access.ts";

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
}

/** Keys whose values are never stored, whatever their length. */
const SECRET_KEY = /token|password|passwd|secret|authorization|api_?key|cookie|code_verifier/i;
/** Strings longer than this are cut (file contents, long messages). */
export const AUDIT_MAX_STRING = 200;
const MAX_DEPTH = 4;
const MAX_ITEMS = 20;

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

const INSERT_SQL =
  `INSERT INTO audit_log (created_at, workspace_id, user_id, credential_kind, credential_id,
     client_id, tool, arguments, outcome, error, latency_ms, bytes_returned, request_id)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Entries are written in batches: at most this many, or after this delay. */
const BATCH_MAX = 256;
const BATCH_DELAY_MS = 20;

interface Pending {
  rows: AuditEntryInput[];
  timer: ReturnType<typeof setTimeout> | undefined;
  stmt: ReturnType<Db["prepare"]>;
}
const pending = new WeakMap<Db, Pending>();

/**
 * Append one entry (arguments are redacted here, so callers cannot forget). Entries are
 * buffered and written in one transaction per batch: a separate commit per tool call would
 * cost more than most tool calls themselves. Readers call {@link flushAuditLog} first, and
 * the server flushes on shutdown; a crash loses at most the last {@link BATCH_DELAY_MS} ms.
 */
export function recordToolCall(db: Db, e: AuditEntryInput): void {
  let p = pending.get(db);
  if (!p) pending.set(db, p = { rows: [], timer: undefined, stmt: db.prepare(INSERT_SQL) });
  p.rows.push({ ...e, arguments: redactArguments(e.arguments ?? {}) });
  if (p.rows.length >= BATCH_MAX) flushAuditLog(db);
  else if (p.timer === undefined) p.timer = setTimeout(() => flushAuditLog(db), BATCH_DELAY_MS);
}

/** Write every buffered entry now (before reads, and on shutdown). */
export function flushAuditLog(db: Db): void {
  const p = pending.get(db);
  if (!p) return;
  if (p.timer !== undefined) clearTimeout(p.timer);
  p.timer = undefined;
  if (p.rows.length === 0) return;
  const rows = p.rows;
  p.rows = [];
  tx(db, () => {
    for (const e of rows) {
      p.stmt.run(
        e.at,
        e.workspaceId,
        e.userId,
        e.credentialKind,
        e.credentialId,
        e.clientId,
        e.tool,
        JSON.stringify(e.arguments),
        e.outcome,
        e.error === null ? null : e.error.slice(0, 500),
        Math.round(e.latencyMs * 1000) / 1000,
        e.bytesReturned,
        e.requestId,
      );
    }
  });
}

export interface AuditFilter {
  userSId?: string;
  tool?: string;
  outcome?: AuditOutcome;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  limit?: number;
  /** The `id` of the last entry of the previous page (entries are newest first). */
  cursor?: number;
}

export interface AuditEntryView {
  id: number;
  createdAt: string;
  workspaceId: string;
  user: { sId: string; email: string } | null;
  credentialKind: string;
  credentialId: string | null;
  clientId: string | null;
  tool: string;
  arguments: unknown;
  outcome: AuditOutcome;
  error: string | null;
  latencyMs: number;
  bytesReturned: number;
  requestId: string | null;
}

export interface AuditPage {
  entries: AuditEntryView[];
  hasMore: boolean;
  nextCursor: number | null;
}

/** Only a workspace admin (or the workspace's API key) reads the audit log. */
export function assertAuditReader(actor: Actor): void {
  if (actor.kind === "user" && !isAdmin(actor)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "Only workspace admins can read the audit log.",
    );
  }
}

/** A page of the actor's workspace audit log, newest first. */
export function listAuditEntries(db: Db, actor: Actor, filter: AuditFilter): AuditPage {
  assertAuditReader(actor);
  return queryAuditPage(db, actor.workspace.id, filter);
}

/** The query behind {@link listAuditEntries}; also used by the operator CLI (no actor). */
export function queryAuditPage(db: Db, workspaceId: number, filter: AuditFilter): AuditPage {
  flushAuditLog(db);
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
  let userId = -1;
  if (filter.userSId) {
    const u = findUserBySId(db, filter.userSId);
    if (!u) return { entries: [], hasMore: false, nextCursor: null };
    userId = u.id;
  }
  if (filter.outcome && !AUDIT_OUTCOMES.includes(filter.outcome)) {
    throw invalid(`outcome: must be one of ${AUDIT_OUTCOMES.join(", ")}`);
  }
  const rows = db.prepare(
    `SELECT a.*, w.s_id AS workspace_s_id, u.s_id AS user_s_id, u.email AS user_email
     FROM audit_log a JOIN workspaces w ON w.id = a.workspace_id
     LEFT JOIN users u ON u.id = a.user_id
     WHERE a.workspace_id = ? AND a.id < ? AND (? = -1 OR a.user_id = ?)
       AND (? IS NULL OR a.tool = ?) AND (? IS NULL OR a.outcome = ?)
       AND a.created_at >= ? AND a.created_at < ?
     ORDER BY a.id DESC LIMIT ?`,
  ).all(
    workspaceId,
    filter.cursor ?? Number.MAX_SAFE_INTEGER,
    userId,
    userId,
    filter.tool ?? null,
    filter.tool ?? null,
    filter.outcome ?? null,
    filter.outcome ?? null,
    filter.since ?? 0,
    filter.until ?? Number.MAX_SAFE_INTEGER,
    limit + 1,
  ) as Array<Record<string, unknown>>;
  const hasMore = rows.length > limit;
  const entries = rows.slice(0, limit).map(toView);
  return { entries, hasMore, nextCursor: hasMore ? entries[entries.length - 1].id : null };
}

function toView(r: Record<string, unknown>): AuditEntryView {
  return {
    id: r.id as number,
    createdAt: new Date(r.created_at as number).toISOString(),
    workspaceId: r.workspace_s_id as string,
    user: r.user_s_id ? { sId: r.user_s_id as string, email: r.user_email as string } : null,
    credentialKind: r.credential_kind as string,
    credentialId: r.credential_id as string | null,
    clientId: r.client_id as string | null,
    tool: r.tool as string,
    arguments: JSON.parse(r.arguments as string),
    outcome: r.outcome as AuditOutcome,
    error: r.error as string | null,
    latencyMs: r.latency_ms as number,
    bytesReturned: r.bytes_returned as number,
    requestId: r.request_id as string | null,
  };
}

/**
 * Every matching entry as JSON lines (newest first), read page by page so an export of a
 * large log never holds it all in memory.
 */
export function* exportAuditJsonl(
  db: Db,
  workspaceId: number,
  filter: Omit<AuditFilter, "limit" | "cursor">,
): Generator<string> {
  let cursor: number | undefined;
  for (;;) {
    const page = queryAuditPage(db, workspaceId, { ...filter, limit: 500, cursor });
    for (const e of page.entries) yield JSON.stringify(e);
    if (!page.hasMore || page.nextCursor === null) return;
    cursor = page.nextCursor;
  }
}

/** Delete entries older than each workspace's retention. Returns the number deleted. */
export function pruneAuditLog(db: Db, at = Date.now()): number {
  flushAuditLog(db);
  const r = db.prepare(
    `DELETE FROM audit_log WHERE id IN (
       SELECT a.id FROM audit_log a JOIN workspaces w ON w.id = a.workspace_id
       WHERE a.created_at < ? - w.audit_retention_days * 86400000)`,
  ).run(at);
  return Number(r.changes);
}

/** Bounds of the audit retention setting, in days. */
export const AUDIT_RETENTION_MIN_DAYS = 1;
export const AUDIT_RETENTION_MAX_DAYS = 3650;

/** The workspace's audit settings (admins only, like the log itself). */
export function getAuditSettings(db: Db, actor: Actor): { retentionDays: number } {
  assertAuditReader(actor);
  const r = db.prepare("SELECT audit_retention_days FROM workspaces WHERE id = ?").get(
    actor.workspace.id,
  ) as { audit_retention_days: number };
  return { retentionDays: r.audit_retention_days };
}

/**
 * Set how many days audit entries are kept (admins, or the workspace's API key). Entries past
 * the new retention are pruned at once, so shortening it takes effect immediately.
 */
export function setAuditRetention(
  db: Db,
  actor: Actor,
  input: { retentionDays: number },
): { retentionDays: number } {
  assertAuditReader(actor);
  requireScope(actor, "write");
  const days = input.retentionDays;
  if (
    !Number.isInteger(days) || days < AUDIT_RETENTION_MIN_DAYS || days > AUDIT_RETENTION_MAX_DAYS
  ) {
    throw invalid(
      `retentionDays: must be a whole number of days between ${AUDIT_RETENTION_MIN_DAYS} and ${AUDIT_RETENTION_MAX_DAYS}`,
    );
  }
  db.prepare("UPDATE workspaces SET audit_retention_days = ?, updated_at = ? WHERE id = ?").run(
    days,
    Date.now(),
    actor.workspace.id,
  );
  pruneAuditLog(db);
  return { retentionDays: days };
}
