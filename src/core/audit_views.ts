/**
 * The audit log of MCP tool calls, read side and settings: admins (and the workspace's API
 * keys) list it with filters and a cursor and export it as JSON lines; admins alone set the
 * retention (access.ts `requireWorkspaceAdmin`). Refused calls appear as one entry per
 * credential, tool, outcome and window with their `count` (audit.ts). The settings answer
 * shows how many entries the workspace holds against its cap (`--audit-max-entries`).
 * @module
 */
import type { Db } from "../db/db.ts";
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { findUserBySId } from "./users.ts";
import { canReadAuditLog, requireScope, requireWorkspaceAdmin } from "./access.ts";
import {
  AUDIT_OUTCOMES,
  type AuditOutcome,
  countAuditEntries,
  flushAuditLog,
  pruneAuditLog,
} from "./audit.ts";

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
  /** The call (for a count of refusals: the first one of the window). */
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
  /** Calls this entry stands for: 1, or the refusals of one credential and window. */
  count: number;
  /** The last refusal counted in this entry (null for a single call). */
  lastAt: string | null;
}

export interface AuditPage {
  entries: AuditEntryView[];
  hasMore: boolean;
  nextCursor: number | null;
}

/** Only a workspace admin (or the workspace's API key) reads the audit log. */
export function assertAuditReader(actor: Actor): void {
  if (!canReadAuditLog(actor)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "Only workspace admins can read the audit log.",
    );
  }
}

/** A page of the actor's workspace audit log, newest first. */
export async function listAuditEntries(
  db: Db,
  actor: Actor,
  filter: AuditFilter,
): Promise<AuditPage> {
  assertAuditReader(actor);
  return await queryAuditPage(db, actor.workspace.id, filter);
}

/** The query behind {@link listAuditEntries}; also used by the operator CLI (no actor). */
export async function queryAuditPage(
  db: Db,
  workspaceId: number,
  filter: AuditFilter,
): Promise<AuditPage> {
  await flushAuditLog(db);
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
  let userId = -1;
  if (filter.userSId) {
    const u = await findUserBySId(db, filter.userSId);
    if (!u) return { entries: [], hasMore: false, nextCursor: null };
    userId = u.id;
  }
  if (filter.outcome && !AUDIT_OUTCOMES.includes(filter.outcome)) {
    throw invalid(`outcome: must be one of ${AUDIT_OUTCOMES.join(", ")}`);
  }
  const rows = await db.all(
    `SELECT a.*, w.s_id AS workspace_s_id, u.s_id AS user_s_id, u.email AS user_email
     FROM audit_log a JOIN workspaces w ON w.id = a.workspace_id
     LEFT JOIN users u ON u.id = a.user_id
     WHERE a.workspace_id = ? AND a.id < ? AND (? = -1 OR a.user_id = ?)
       AND (CAST(? AS TEXT) IS NULL OR a.tool = ?) AND (CAST(? AS TEXT) IS NULL OR a.outcome = ?)
       AND a.created_at >= ? AND a.created_at < ?
     ORDER BY a.id DESC LIMIT ?`,
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
    count: r.count as number,
    lastAt: r.last_at === null ? null : new Date(r.last_at as number).toISOString(),
  };
}

/**
 * Every matching entry as JSON lines (newest first), read page by page so an export of a
 * large log never holds it all in memory.
 */
export async function* exportAuditJsonl(
  db: Db,
  workspaceId: number,
  filter: Omit<AuditFilter, "limit" | "cursor">,
): AsyncGenerator<string> {
  let cursor: number | undefined;
  for (;;) {
    const page = await queryAuditPage(db, workspaceId, { ...filter, limit: 500, cursor });
    for (const e of page.entries) yield JSON.stringify(e);
    if (!page.hasMore || page.nextCursor === null) return;
    cursor = page.nextCursor;
  }
}

/** Bounds of the audit retention setting, in days. */
export const AUDIT_RETENTION_MIN_DAYS = 1;
export const AUDIT_RETENTION_MAX_DAYS = 3650;

/** The audit settings answer: retention, and entries stored against the per-workspace cap. */
export interface AuditSettings {
  retentionDays: number;
  /** Entries the workspace's audit log holds now. */
  entries: number;
  /** Most entries kept (`--audit-max-entries`); past it the oldest are removed first. */
  maxEntries: number;
}

type SettingsDeps = Pick<Deps, "db" | "config">;

/** The workspace's audit settings (admins and API keys, like the log itself). */
export async function getAuditSettings(deps: SettingsDeps, actor: Actor): Promise<AuditSettings> {
  assertAuditReader(actor);
  const r = await deps.db.get(
    "SELECT audit_retention_days FROM workspaces WHERE id = ?",
    actor.workspace.id,
  ) as { audit_retention_days: number };
  return {
    retentionDays: r.audit_retention_days,
    entries: await countAuditEntries(deps.db, actor.workspace.id),
    maxEntries: deps.config.auditMaxEntries,
  };
}

/**
 * Set how many days audit entries are kept (workspace admins only: never an API key, which
 * could otherwise erase the record of what it did). Entries past the new retention are
 * pruned at once, so shortening it takes effect immediately.
 */
export async function setAuditRetention(
  deps: SettingsDeps,
  actor: Actor,
  input: { retentionDays: number },
): Promise<AuditSettings> {
  requireWorkspaceAdmin(actor, "Only workspace admins can change the audit settings.");
  requireScope(actor, "write");
  const days = input.retentionDays;
  if (
    !Number.isInteger(days) || days < AUDIT_RETENTION_MIN_DAYS || days > AUDIT_RETENTION_MAX_DAYS
  ) {
    throw invalid(
      `retentionDays: must be a whole number of days between ${AUDIT_RETENTION_MIN_DAYS} and ${AUDIT_RETENTION_MAX_DAYS}`,
    );
  }
  await deps.db.run(
    "UPDATE workspaces SET audit_retention_days = ?, updated_at = ? WHERE id = ?",
    days,
    Date.now(),
    actor.workspace.id,
  );
  await pruneAuditLog(deps.db, Date.now(), deps.config.auditMaxEntries);
  return await getAuditSettings(deps, actor);
}
