/** @jsxImportSource hono/jsx */
/**
 * Admin page `/w/{wId}/audit`: the workspace's MCP audit log, filtered by user, tool, outcome
 * and time, newest first with a "next page" link, and `/w/{wId}/audit/export.jsonl` for the
 * same filter as JSON lines, and a retention form (`POST /w/{wId}/audit/retention`, CSRF- and
 * origin-checked). Workspace admins only; the same core functions back
 * `GET /api/v1/w/{wId}/audit`, `PATCH /api/v1/w/{wId}/audit/settings` and the CLI.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { formExpiredPage, Layout, Table } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
import { AUDIT_OUTCOMES, type AuditOutcome, REFUSAL_WINDOW_MS } from "../core/audit.ts";
import {
  assertAuditReader,
  AUDIT_RETENTION_MAX_DAYS,
  AUDIT_RETENTION_MIN_DAYS,
  type AuditEntryView,
  type AuditFilter,
  type AuditSettings,
  exportAuditJsonl,
  getAuditSettings,
  listAuditEntries,
  setAuditRetention,
} from "../core/audit_views.ts";
import { AppError } from "../errors.ts";
import { jsonlResponse } from "../api/audit.ts";
import { describeClients, getAuditStats } from "../core/audit_stats.ts";
import { AuditCharts } from "./audit_charts.tsx";
import { listMemberChoices, type MemberChoice } from "../core/members.ts";

const PAGE_SIZE = 50;

type WorkspacePage = Exclude<Awaited<ReturnType<typeof requireWorkspacePage>>, Response>;

/** The filter from the query string; invalid values are ignored (it is a browsing page). */
function filterOf(c: Context<AppEnv>): AuditFilter & { raw: Record<string, string> } {
  const q = (k: string) => (c.req.query(k) ?? "").trim().slice(0, 64);
  const raw = {
    user: q("user"),
    tool: q("tool"),
    outcome: q("outcome"),
    since: q("since"),
    until: q("until"),
  };
  const ms = (v: string) => {
    if (!v) return undefined;
    // A date-time picker sends no zone: the page's times are UTC.
    const n = /^\d{1,15}$/.test(v)
      ? Number(v)
      : Date.parse(/T\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v);
    return Number.isNaN(n) ? undefined : n;
  };
  const cursor = Number(c.req.query("cursor"));
  return {
    raw,
    userSId: raw.user || undefined,
    tool: raw.tool || undefined,
    outcome: (AUDIT_OUTCOMES as readonly string[]).includes(raw.outcome)
      ? raw.outcome as AuditOutcome
      : undefined,
    since: ms(raw.since),
    until: ms(raw.until),
    cursor: Number.isInteger(cursor) && cursor > 0 ? cursor : undefined,
  };
}

function query(params: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

function Row(p: { e: AuditEntryView; clients: Map<string, string> }) {
  const e = p.e;
  const client = e.clientId ? p.clients.get(e.clientId) ?? e.clientId : e.credentialKind;
  return (
    <tr>
      <td>{e.createdAt.replace("T", " ").replace(/\.\d+Z$/, "Z")}</td>
      <td class="wrap">{e.user?.email ?? "—"}</td>
      <td class="wrap" title={e.clientId ?? undefined}>{client}</td>
      <td>{e.tool}</td>
      <td class={e.outcome === "success" ? "ok" : "error"}>
        {e.outcome}
        {e.count > 1 ? <div>{`× ${e.count} (until ${e.lastAt})`}</div> : null}
      </td>
      <td class="num nowrap">{Math.round(e.latencyMs)} ms</td>
      <td class="num">{e.bytesReturned}</td>
      <td class="args">
        <code>{JSON.stringify(e.arguments).slice(0, 300)}</code>
        {e.error ? <div>{e.error}</div> : null}
      </td>
    </tr>
  );
}

interface AuditPageProps {
  wId: string;
  raw: Record<string, string>;
  entries: AuditEntryView[];
  next: number | null;
  csrf: string;
  settings: AuditSettings;
  stats: Awaited<ReturnType<typeof getAuditStats>>;
  clients: Map<string, string>;
  members: MemberChoice[];
  message?: string;
}

function RetentionForm(
  p: { wId: string; csrf: string; days: number; message?: string; query: string },
) {
  return (
    <form method="post" action={`/w/${p.wId}/audit/retention${p.query}`} class="row-form">
      <input type="hidden" name="csrf" value={p.csrf} />
      <div>
        <label for="retentionDays">Keep entries for (days)</label>
        <input
          id="retentionDays"
          name="retentionDays"
          type="number"
          min={AUDIT_RETENTION_MIN_DAYS}
          max={AUDIT_RETENTION_MAX_DAYS}
          value={String(p.days)}
        />
      </div>
      <div>
        <button type="submit" class="secondary">Save retention</button>
      </div>
      {p.message ? <p role="status">{p.message}</p> : null}
    </form>
  );
}

/** A query-string time (epoch ms or ISO) as a date-time picker value (UTC, minutes). */
function pickerValue(raw: string): string {
  if (!raw) return "";
  const n = /^\d{1,15}$/.test(raw)
    ? Number(raw)
    : Date.parse(/T\d\d:\d\d(:\d\d)?$/.test(raw) ? `${raw}Z` : raw);
  return Number.isNaN(n) ? "" : new Date(n).toISOString().slice(0, 16);
}

function FilterForm(p: AuditPageProps) {
  const tools = p.stats.perTool.map((t) => t.tool);
  return (
    <form method="get" action={`/w/${p.wId}/audit`} class="row-form" id="audit-filter">
      <div>
        <label for="user">Member</label>
        <select id="user" name="user">
          <option value="">anyone</option>
          {p.members.map((m) => (
            <option key={m.sId} value={m.sId} selected={p.raw.user === m.sId}>{m.email}</option>
          ))}
        </select>
      </div>
      <div>
        <label for="tool">Tool</label>
        <input id="tool" name="tool" type="text" list="audit-tools" value={p.raw.tool} />
        <datalist id="audit-tools">
          {tools.map((t) => <option key={t} value={t}></option>)}
        </datalist>
      </div>
      <div>
        <label for="outcome">Outcome</label>
        <select id="outcome" name="outcome">
          <option value="">any</option>
          {AUDIT_OUTCOMES.map((o) => (
            <option key={o} value={o} selected={p.raw.outcome === o}>{o}</option>
          ))}
        </select>
      </div>
      <div>
        <label for="since">Since (UTC)</label>
        <input id="since" name="since" type="datetime-local" value={pickerValue(p.raw.since)} />
      </div>
      <div>
        <label for="until">Until (UTC)</label>
        <input id="until" name="until" type="datetime-local" value={pickerValue(p.raw.until)} />
      </div>
      <div class="actions">
        <button type="submit">Filter</button>
        <a class="button secondary" href={`/w/${p.wId}/audit`}>Clear</a>
      </div>
    </form>
  );
}

function AuditPage(p: AuditPageProps) {
  const base = `/w/${p.wId}/audit`;
  return (
    <Layout title="MCP audit log" charts>
      <div class="card">
        <h1>MCP audit log</h1>
        <p>
          Every MCP tool call in this workspace: who, which client, which tool, the outcome. Calls
          refused for the rate budget or a missing scope are counted: one entry per token, tool and
          {` ${REFUSAL_WINDOW_MS / 60_000} `}minutes, with the number of calls.
        </p>
        <FilterForm {...p} />
      </div>
      <AuditCharts stats={p.stats} />
      <div class="card" id="audit-entries">
        <h2>Entries</h2>
        <p>
          <a href={`${base}/export.jsonl${query(p.raw)}`}>Export these entries as JSON lines</a>
        </p>
        <Table
          head={[
            "Time (UTC)",
            "User",
            "Client",
            "Tool",
            "Outcome",
            { label: "Latency", num: true },
            { label: "Bytes", num: true },
            "Arguments",
          ]}
          rows={p.entries.length}
          empty="No entries."
        >
          {p.entries.map((e) => <Row key={e.id} e={e} clients={p.clients} />)}
        </Table>
        {p.next
          ? (
            <p>
              <a href={`${base}${query({ ...p.raw, cursor: p.next })}`}>Older entries</a>
            </p>
          )
          : null}
      </div>
      <div class="card" id="audit-retention">
        <h2>Retention</h2>
        <p id="audit-usage">
          {`${p.settings.entries.toLocaleString("en-US")} of at most ${
            p.settings.maxEntries.toLocaleString("en-US")
          } entries stored; past that, the oldest are removed first.`}
        </p>
        <RetentionForm
          wId={p.wId}
          csrf={p.csrf}
          days={p.settings.retentionDays}
          message={p.message}
          query={query(p.raw)}
        />
      </div>
    </Layout>
  );
}

/** The audit pages (mounted at the root). */
export function auditPageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/audit", securePage);
  app.use("/w/:wId/audit/*", securePage);
  app.use("/w/:wId/audit/retention", originCheck);
  const render = async (
    c: Context<AppEnv>,
    page: WorkspacePage,
    message?: string,
    status = 200,
  ) => {
    const f = filterOf(c);
    const deps = c.var.deps;
    const r = await listAuditEntries(deps.db, page.actor, { ...f, limit: PAGE_SIZE });
    const stats = await getAuditStats(deps, page.actor, f);
    const clientIds = [
      ...r.entries.map((e) => e.clientId),
      ...stats.clients.map((x) => x.id),
    ].filter((x): x is string => !!x);
    return c.html(
      <AuditPage
        wId={page.actor.workspace.sId}
        raw={f.raw}
        entries={r.entries}
        next={r.nextCursor}
        csrf={page.session.session.csrf}
        settings={await getAuditSettings(deps, page.actor)}
        stats={stats}
        clients={await describeClients(deps.db, clientIds)}
        members={await listMemberChoices(deps, page.actor)}
        message={message}
      />,
      status as 200,
    );
  };
  app.get("/w/:wId/audit", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    return await render(c, page);
  });
  app.post("/w/:wId/audit/retention", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    const form = await readCsrfForm(c, page.session);
    if (!form) {
      return formExpiredPage(c);
    }
    try {
      const days = Number(form.retentionDays);
      await setAuditRetention(c.var.deps, page.actor, { retentionDays: days });
      return await render(c, page, `Entries are kept for ${days} days.`);
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500 || e.status === 403) throw e;
      return await render(c, page, e.message, 400);
    }
  });
  app.get("/w/:wId/audit/export.jsonl", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    assertAuditReader(page.actor);
    const { raw: _raw, cursor: _cursor, ...filter } = filterOf(c);
    return jsonlResponse(
      await exportAuditJsonl(c.var.deps.db, page.actor.workspace.id, filter),
      `audit-${page.actor.workspace.sId}.jsonl`,
    );
  });
  return app;
}
