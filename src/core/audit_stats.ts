/**
 * The audit log in figures, for the charts above the audit table: calls over time by tool and
 * by outcome, latency percentiles (over time and per tool), and the busiest clients and
 * members — for the same filter as the table (user, tool, outcome, time window). Readers: the
 * audit log's readers (access.ts `canReadAuditLog`).
 *
 * Every figure is a GROUP BY in SQL over the window's rows (index `audit_log(workspace_id,
 * created_at)`), so the work is bounded by the window, and the answer by the number of time
 * buckets ({@link MAX_BUCKETS}), tools and latency classes. Percentiles come from a histogram
 * of latency classes ({@link LATENCY_BOUNDS_MS}): a percentile is reported as the upper bound
 * of the class it falls in ("at most 50 ms"), the same on both engines. Refused calls (counted
 * per window, with no latency) count as calls but not in the latencies.
 *
 * Client names: an OAuth client's registered name, "MCP token dmcp_…" for an MCP token, in
 * place of the ids the log stores ({@link describeClients}).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AUDIT_OUTCOMES, type AuditOutcome, flushAuditLog } from "./audit.ts";
import { assertAuditReader } from "./audit_views.ts";
import { findUserBySId } from "./users.ts";

/** Upper bounds of the latency classes, in ms (the last class is everything slower). */
export const LATENCY_BOUNDS_MS = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1000,
  2000,
  5000,
  10000,
  30000,
  60000,
] as const;
/** Most time buckets of a chart. */
export const MAX_BUCKETS = 72;
/** Bucket sizes tried, smallest first (ms). */
const BUCKET_SIZES = [60_000, 300_000, 900_000, 3_600_000, 10_800_000, 21_600_000, 86_400_000];
/** Default window when the filter gives no start: the last 7 days. */
export const DEFAULT_WINDOW_MS = 7 * 86_400_000;
/** Tools drawn as their own line; the others are summed as "other". */
const TOP_TOOLS = 6;
/** Clients and members in the "busiest" bars. */
const TOP_CALLERS = 8;

export interface AuditStatsFilter {
  userSId?: string;
  tool?: string;
  outcome?: AuditOutcome;
  since?: number;
  until?: number;
}

export interface Series {
  label: string;
  values: (number | null)[];
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface AuditStats {
  since: number;
  until: number;
  bucketMs: number;
  /** Bucket start times (epoch ms). */
  buckets: number[];
  byTool: Series[];
  byOutcome: Series[];
  /** p50 / p95 / p99 per bucket (null where the bucket has no timed call). */
  latency: Series[];
  perTool: ({ tool: string; calls: number; errors: number } & Percentiles)[];
  clients: { label: string; id: string; calls: number }[];
  members: { label: string; calls: number }[];
  totals: { calls: number; errors: number } & Percentiles;
}

/** The SQL CASE giving a row's latency class (0 … bounds.length). */
const LATENCY_CLASS = `CASE ${
  LATENCY_BOUNDS_MS.map((b, i) => `WHEN a.latency_ms <= ${b} THEN ${i}`).join(" ")
} ELSE ${LATENCY_BOUNDS_MS.length} END`;

/** The upper bound of a latency class, in ms (the last, open class reports its lower bound). */
function classBound(i: number): number {
  return LATENCY_BOUNDS_MS[Math.min(i, LATENCY_BOUNDS_MS.length - 1)];
}

/** Percentiles of a histogram of latency classes. */
export function percentilesOf(histogram: number[]): Percentiles {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return { p50: null, p95: null, p99: null };
  const at = (q: number) => {
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i];
      if (seen >= rank) return classBound(i);
    }
    return classBound(histogram.length - 1);
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** The smallest bucket size giving at most {@link MAX_BUCKETS} buckets over the window. */
export function bucketSizeFor(windowMs: number): number {
  return BUCKET_SIZES.find((s) => windowMs / s <= MAX_BUCKETS) ?? Math.ceil(windowMs / MAX_BUCKETS);
}

const WHERE = `a.workspace_id = ? AND a.created_at >= ? AND a.created_at < ?
  AND (? = -1 OR a.user_id = ?) AND (CAST(? AS TEXT) IS NULL OR a.tool = ?)
  AND (CAST(? AS TEXT) IS NULL OR a.outcome = ?)`;

/** The figures of the actor's workspace audit log for `filter`. */
export async function getAuditStats(
  deps: Pick<Deps, "db">,
  actor: Actor,
  filter: AuditStatsFilter,
): Promise<AuditStats> {
  assertAuditReader(actor);
  const db = deps.db;
  await flushAuditLog(db);
  const until = filter.until ?? now();
  const since = filter.since ?? until - DEFAULT_WINDOW_MS;
  const bucketMs = bucketSizeFor(Math.max(until - since, 60_000));
  const start = Math.floor(since / bucketMs) * bucketMs;
  const count = Math.max(1, Math.ceil((until - start) / bucketMs));
  const buckets = Array.from({ length: count }, (_, i) => start + i * bucketMs);
  let userId = -1;
  if (filter.userSId) userId = (await findUserBySId(db, filter.userSId))?.id ?? -2;
  const params = [
    actor.workspace.id,
    since,
    until,
    userId,
    userId,
    filter.tool ?? null,
    filter.tool ?? null,
    filter.outcome ?? null,
    filter.outcome ?? null,
  ];
  // One scan of the window: every figure is a sum over these groups (the window's rows are
  // read once; four separate GROUP BYs read them four times).
  const groups = await db.all(
    `SELECT CAST((a.created_at - ?) / ? AS BIGINT) AS b, a.tool AS tool, a.outcome AS outcome,
       CASE WHEN a.window_start IS NULL THEN ${LATENCY_CLASS} ELSE -1 END AS k,
       a.client_id AS client_id, a.credential_kind AS kind, a.user_id AS user_id,
       sum(a.count) AS n, count(*) AS rows_n
     FROM audit_log a WHERE ${WHERE} GROUP BY 1, 2, 3, 4, 5, 6, 7`,
    start,
    bucketMs,
    ...params,
  ) as Group[];

  const toolTotals = new Map<string, number>();
  for (const g of groups) toolTotals.set(g.tool, (toolTotals.get(g.tool) ?? 0) + Number(g.n));
  const ranked = [...toolTotals].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = ranked.slice(0, TOP_TOOLS).map(([t]) => t);
  const lineOf = (tool: string) => (shown.includes(tool) ? tool : "other");
  const zeros = () => buckets.map(() => 0 as number | null);
  const byTool = new Map<string, (number | null)[]>();
  for (const t of [...shown, ...(ranked.length > TOP_TOOLS ? ["other"] : [])]) {
    byTool.set(t, zeros());
  }
  const byOutcome = new Map<string, (number | null)[]>(AUDIT_OUTCOMES.map((o) => [o, zeros()]));
  const errorsByTool = new Map<string, number>();
  const classes = LATENCY_BOUNDS_MS.length + 1;
  const perBucket = buckets.map(() => new Array<number>(classes).fill(0));
  const perTool = new Map<string, number[]>();
  const overall = new Array<number>(classes).fill(0);
  const clients = new Map<string, { id: string | null; kind: string; calls: number }>();
  const members = new Map<number | null, number>();
  for (const g of groups) {
    const i = Number(g.b);
    const n = Number(g.n);
    const k = Number(g.k);
    const inWindow = i >= 0 && i < count;
    if (inWindow) {
      (byTool.get(lineOf(g.tool))![i] as number) += n;
      (byOutcome.get(g.outcome)![i] as number) += n;
    }
    if (g.outcome !== "success") errorsByTool.set(g.tool, (errorsByTool.get(g.tool) ?? 0) + n);
    if (k >= 0) {
      const timed = Number(g.rows_n);
      if (inWindow) perBucket[i][k] += timed;
      if (!perTool.has(g.tool)) perTool.set(g.tool, new Array<number>(classes).fill(0));
      perTool.get(g.tool)![k] += timed;
      overall[k] += timed;
    }
    const clientKey = `${g.client_id ?? ""}\u0000${g.kind}`;
    const c = clients.get(clientKey) ?? { id: g.client_id, kind: g.kind, calls: 0 };
    c.calls += n;
    clients.set(clientKey, c);
    const uid = g.user_id === null ? null : Number(g.user_id);
    members.set(uid, (members.get(uid) ?? 0) + n);
  }
  const bucketPercentiles = perBucket.map(percentilesOf);
  const latency: Series[] = (["p50", "p95", "p99"] as const).map((p) => ({
    label: p,
    values: bucketPercentiles.map((x) => x[p]),
  }));

  const totalCalls = ranked.reduce((a, [, n]) => a + n, 0);
  const totalErrors = [...errorsByTool.values()].reduce((a, b) => a + b, 0);
  return {
    since,
    until,
    bucketMs,
    buckets,
    byTool: [...byTool].map(([label, values]) => ({ label, values })),
    byOutcome: [...byOutcome].map(([label, values]) => ({ label, values })),
    latency,
    perTool: ranked.map(([tool, n]) => ({
      tool,
      calls: n,
      errors: errorsByTool.get(tool) ?? 0,
      ...percentilesOf(perTool.get(tool) ?? []),
    })),
    clients: await busiestClients(db, [...clients.values()]),
    members: await busiestMembers(db, members),
    totals: { calls: totalCalls, errors: totalErrors, ...percentilesOf(overall) },
  };
}

interface Group {
  b: number;
  tool: string;
  outcome: AuditOutcome;
  k: number;
  client_id: string | null;
  kind: string;
  user_id: number | null;
  n: number;
  rows_n: number;
}

const byCallsThenName = <T extends { calls: number }>(name: (x: T) => string) => (a: T, b: T) =>
  b.calls - a.calls || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0);

async function busiestClients(
  db: Db,
  all: { id: string | null; kind: string; calls: number }[],
) {
  const top = all.sort(byCallsThenName((x) => x.id ?? x.kind)).slice(0, TOP_CALLERS);
  const names = await describeClients(db, top.map((c) => c.id).filter(isString));
  return top.map((c) => ({
    id: c.id ?? c.kind,
    label: c.id ? names.get(c.id) ?? c.id : c.kind,
    calls: c.calls,
  }));
}

async function busiestMembers(db: Db, all: Map<number | null, number>) {
  const ids = [...all.keys()].filter((id): id is number => id !== null);
  const emails = new Map(
    ids.length
      ? (await db.all(
        "SELECT id, email FROM users WHERE id IN (SELECT value FROM json_each(?))",
        ids,
      ) as { id: number; email: string }[]).map((r) => [Number(r.id), r.email])
      : [],
  );
  return [...all].map(([id, calls]) => ({
    label: id === null ? "no member (API key)" : emails.get(id) ?? "deleted user",
    calls,
  })).sort(byCallsThenName((x) => x.label)).slice(0, TOP_CALLERS);
}

const isString = (v: string | null): v is string => typeof v === "string";

/** The MCP token prefix in the audit log's client id for token calls (`mcp_token:<sId>`). */
const MCP_TOKEN_CLIENT = "mcp_token:";

/**
 * Readable names for the client ids the audit log stores: an OAuth client's registered name,
 * "MCP token dmcp_…" for an MCP token. Ids with no name stay out of the map.
 */
export async function describeClients(db: Db, clientIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const unique = [...new Set(clientIds)].slice(0, 500);
  const tokens = unique.filter((c) => c.startsWith(MCP_TOKEN_CLIENT));
  const oauth = unique.filter((c) => !c.startsWith(MCP_TOKEN_CLIENT));
  if (oauth.length) {
    const rows = await db.all(
      `SELECT client_id, client_name FROM oauth_clients
       WHERE client_id IN (SELECT value FROM json_each(?))`,
      oauth,
    ) as { client_id: string; client_name: string }[];
    for (const r of rows) out.set(r.client_id, r.client_name);
  }
  if (tokens.length) {
    const rows = await db.all(
      `SELECT s_id, token_prefix FROM mcp_tokens WHERE s_id IN (SELECT value FROM json_each(?))`,
      tokens.map((t) => t.slice(MCP_TOKEN_CLIENT.length)),
    ) as { s_id: string; token_prefix: string }[];
    for (const r of rows) out.set(`${MCP_TOKEN_CLIENT}${r.s_id}`, `MCP token ${r.token_prefix}…`);
  }
  return out;
}
