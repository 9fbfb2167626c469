/**
 * The OAuth trace of real clients' attempts (connection doctor, issue 16): register →
 * authorize → consent → token → the grant's first MCP call, one row per step with the outcome,
 * the refusal reason and how long the step took. Rows never hold a code, token, verifier,
 * secret or state: the callers pass only client ids, grant ids, the reason text the server
 * itself wrote, and redirect URIs without their query.
 *
 * An attempt reaches a workspace at consent; before that its rows have no workspace. When a
 * dynamically registered client (one registration per connection) reaches a workspace, its
 * earlier rows are attached to it. Rows of shared clients (CIMD, static) are never attached:
 * another workspace's users share that client id. Unattributed rows are shown to admins only
 * on a server with a single workspace (then nobody else's attempts can be among them).
 *
 * Kept {@link TRACE_TTL_MS} and at most {@link TRACE_MAX_ROWS} rows per workspace (and as many
 * unattributed), pruned by the `oauth-trace-prune` cluster job.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { requireWorkspaceRole } from "./access.ts";

export const TRACE_TTL_MS = 24 * 3600 * 1000;
export const TRACE_MAX_ROWS = 500;
export const TRACE_PRUNE_INTERVAL_MS = 10 * 60_000;
export type TraceStep = "register" | "authorize" | "consent" | "token" | "mcp";

export interface TraceEntry {
  step: TraceStep;
  clientId: string;
  clientKind?: string | null;
  clientName?: string | null;
  workspaceId?: number | null;
  /** A workspace named by its sId (the token endpoint knows only that). */
  workspaceSId?: string | null;
  grantSId?: string | null;
  ok: boolean;
  status: number;
  reason?: string | null;
  detail?: string | null;
  durationMs: number;
}

/** At most this many characters of reason or detail are kept. */
const TEXT_MAX = 300;

function clip(s: string | null | undefined): string | null {
  if (s === null || s === undefined || s === "") return null;
  return s.length > TEXT_MAX ? `${s.slice(0, TEXT_MAX - 1)}…` : s;
}

/** A redirect URI as the trace shows it: without query or fragment (they may carry anything). */
export function traceUri(uri: string | null | undefined): string | null {
  if (!uri) return null;
  return uri.replace(/[?#].*$/s, "");
}

/** Record one step (one INSERT; only OAuth endpoints and a grant's first MCP call call it). */
export async function recordTrace(db: Db, e: TraceEntry, at = now()): Promise<void> {
  await db.run(
    `INSERT INTO oauth_traces (workspace_id, client_id, client_kind, client_name, grant_s_id,
       step, ok, status, reason, detail, duration_ms, created_at)
     VALUES (COALESCE(CAST(? AS INTEGER), (SELECT id FROM workspaces WHERE s_id = ?)),
       ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    e.workspaceId ?? null,
    e.workspaceSId ?? null,
    clip(e.clientId) ?? "",
    e.clientKind ?? null,
    clip(e.clientName),
    e.grantSId ?? null,
    e.step,
    e.ok ? 1 : 0,
    e.status,
    clip(e.reason),
    clip(e.detail),
    Math.max(0, Math.round(e.durationMs)),
    at,
  );
  if (e.ok && (e.workspaceId || e.workspaceSId) && e.clientKind === "dcr") {
    // The connection reached a workspace: its registration and authorization belong to it.
    await db.run(
      `UPDATE oauth_traces SET workspace_id = COALESCE(CAST(? AS INTEGER),
         (SELECT id FROM workspaces WHERE s_id = ?))
       WHERE client_id = ? AND workspace_id IS NULL AND created_at > ?`,
      e.workspaceId ?? null,
      e.workspaceSId ?? null,
      e.clientId,
      at - TRACE_TTL_MS,
    );
  }
}

/**
 * The token step of a grant whose MCP call is not traced yet (then this call is its first),
 * or null: one indexed read, and only when {@link FirstCallGate} has not seen the grant in
 * this process. Grants whose token step is not in the trace (older than a day) are skipped.
 */
export async function untracedFirstCall(
  db: Db,
  grantSId: string,
): Promise<
  {
    workspaceId: number | null;
    clientId: string;
    clientKind: string | null;
    clientName: string | null;
  } | null
> {
  const rows = await db.all(
    `SELECT step, workspace_id, client_id, client_kind, client_name FROM oauth_traces
     WHERE grant_s_id = ? AND step IN ('token', 'mcp')`,
    grantSId,
  ) as {
    step: string;
    workspace_id: number | string | null;
    client_id: string;
    client_kind: string | null;
    client_name: string | null;
  }[];
  const token = rows.find((r) => r.step === "token");
  if (!token || rows.some((r) => r.step === "mcp")) return null;
  return {
    workspaceId: token.workspace_id === null ? null : Number(token.workspace_id),
    clientId: token.client_id,
    clientKind: token.client_kind,
    clientName: token.client_name,
  };
}

/**
 * The in-process memory of grants whose first MCP call was already considered, so that every
 * later `/mcp` request of the grant costs one Set lookup. Bounded (oldest forgotten first).
 */
export class FirstCallGate {
  #seen = new Set<string>();
  constructor(readonly max = 20_000) {}
  /** True the first time a key is offered (then remembered). */
  first(key: string): boolean {
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.max) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.add(key);
    return true;
  }
}

export interface TraceView {
  id: number;
  at: number;
  clientId: string;
  clientKind: string | null;
  clientName: string | null;
  grantSId: string | null;
  step: TraceStep;
  ok: boolean;
  status: number;
  reason: string | null;
  detail: string | null;
  durationMs: number;
  /** False for an attempt that never reached a workspace. */
  attributed: boolean;
}

export interface TraceAttempt {
  clientId: string;
  clientName: string | null;
  clientKind: string | null;
  /** Oldest first. */
  steps: TraceView[];
}

// deno-lint-ignore no-explicit-any
function viewOf(r: any): TraceView {
  return {
    id: Number(r.id),
    at: Number(r.created_at),
    clientId: r.client_id,
    clientKind: r.client_kind,
    clientName: r.client_name,
    grantSId: r.grant_s_id,
    step: r.step,
    ok: Number(r.ok) === 1,
    status: Number(r.status),
    reason: r.reason,
    detail: r.detail,
    durationMs: Number(r.duration_ms),
    attributed: r.workspace_id !== null,
  };
}

/**
 * The workspace's trace of the last 24 hours, newest attempt first, grouped by client
 * (workspace admins only). Unattributed rows are included on a single-workspace server.
 */
export async function listTraceAttempts(
  db: Db,
  actor: Actor,
  options: { limit?: number } = {},
  at = now(),
): Promise<{ attempts: TraceAttempt[]; unattributedHidden: number }> {
  const admin = requireWorkspaceRole(actor, ["admin"], "Only workspace admins see the trace.");
  const limit = Math.min(Math.max(options.limit ?? 200, 1), TRACE_MAX_ROWS);
  const single = Number(
    (await db.get("SELECT COUNT(*) AS n FROM workspaces") as { n: number | string }).n,
  ) === 1;
  const rows = await db.all(
    `SELECT id, workspace_id, client_id, client_kind, client_name, grant_s_id, step, ok, status,
       reason, detail, duration_ms, created_at
     FROM oauth_traces
     WHERE (workspace_id = ? OR (workspace_id IS NULL AND ? = 1)) AND created_at > ?
     ORDER BY created_at DESC, id DESC LIMIT ?`,
    admin.workspace.id,
    single ? 1 : 0,
    at - TRACE_TTL_MS,
    limit,
  );
  const hidden = single ? 0 : Number(
    (await db.get(
      "SELECT COUNT(*) AS n FROM oauth_traces WHERE workspace_id IS NULL AND created_at > ?",
      at - TRACE_TTL_MS,
    ) as { n: number | string }).n,
  );
  const byClient = new Map<string, TraceAttempt>();
  for (const r of rows) {
    const v = viewOf(r);
    let a = byClient.get(v.clientId);
    if (!a) {
      a = { clientId: v.clientId, clientName: v.clientName, clientKind: v.clientKind, steps: [] };
      byClient.set(v.clientId, a);
    }
    a.clientName ??= v.clientName;
    a.clientKind ??= v.clientKind;
    a.steps.unshift(v);
  }
  return { attempts: [...byClient.values()], unattributedHidden: hidden };
}

/**
 * Drop rows older than {@link TRACE_TTL_MS}, then keep the newest `maxRows` per workspace (and
 * as many unattributed). Returns how many rows went.
 */
export async function pruneTraces(db: Db, at = now(), maxRows = TRACE_MAX_ROWS): Promise<number> {
  let removed = Number(
    (await db.run("DELETE FROM oauth_traces WHERE created_at <= ?", at - TRACE_TTL_MS)).changes,
  );
  const over = await db.all(
    `SELECT workspace_id, COUNT(*) AS n FROM oauth_traces GROUP BY workspace_id
     HAVING COUNT(*) > ?`,
    maxRows,
  ) as { workspace_id: number | null; n: number | string }[];
  for (const o of over) {
    const cut = await db.get(
      `SELECT created_at, id FROM oauth_traces
       WHERE (workspace_id = CAST(? AS INTEGER) OR (CAST(? AS INTEGER) IS NULL AND workspace_id IS NULL))
       ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?`,
      o.workspace_id,
      o.workspace_id,
      maxRows - 1,
    ) as { created_at: number | string; id: number | string } | undefined;
    if (!cut) continue;
    const r = await db.run(
      `DELETE FROM oauth_traces
       WHERE (workspace_id = CAST(? AS INTEGER) OR (CAST(? AS INTEGER) IS NULL AND workspace_id IS NULL))
         AND (created_at < ? OR (created_at = ? AND id < ?))`,
      o.workspace_id,
      o.workspace_id,
      Number(cut.created_at),
      Number(cut.created_at),
      Number(cut.id),
    );
    removed += Number(r.changes);
  }
  return removed;
}
