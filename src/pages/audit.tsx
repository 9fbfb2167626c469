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
import { formExpiredPage, Layout } from "./layout.tsx";
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
    const n = /^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v);
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

function Row(p: { e: AuditEntryView }) {
  const e = p.e;
  return (
    <tr>
      <td>{e.createdAt}</td>
      <td>{e.user?.email ?? "—"}</td>
      <td>{e.clientId ?? e.credentialKind}</td>
      <td>{e.tool}</td>
      <td class={e.outcome === "success" ? "ok" : "error"}>
        {e.outcome}
        {e.count > 1 ? <div>{`× ${e.count} (until ${e.lastAt})`}</div> : null}
      </td>
      <td>{e.latencyMs.toFixed(1)} ms</td>
      <td>{e.bytesReturned}</td>
      <td>
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
  message?: string;
}

function RetentionForm(p: { wId: string; csrf: string; days: number; message?: string }) {
  return (
    <form method="post" action={`/w/${p.wId}/audit/retention`}>
      <input type="hidden" name="csrf" value={p.csrf} />
      <label for="retentionDays">Keep entries for (days)</label>
      <input
        id="retentionDays"
        name="retentionDays"
        type="number"
        min={AUDIT_RETENTION_MIN_DAYS}
        max={AUDIT_RETENTION_MAX_DAYS}
        value={String(p.days)}
      />
      <button type="submit">Save retention</button>
      {p.message ? <p role="status">{p.message}</p> : null}
    </form>
  );
}

function AuditPage(p: AuditPageProps) {
  const base = `/w/${p.wId}/audit`;
  return (
    <Layout title="MCP audit log">
      <div class="card">
        <h1>MCP audit log</h1>
        <p>
          Every MCP tool call in this workspace: who, which client, which tool, the outcome. Calls
          refused for the rate budget or a missing scope are counted: one entry per token, tool and
          {` ${REFUSAL_WINDOW_MS / 60_000} `}minutes, with the number of calls.
        </p>
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
        />
        <form method="get" action={base}>
          <label for="user">User id</label>
          <input id="user" name="user" value={p.raw.user} />
          <label for="tool">Tool</label>
          <input id="tool" name="tool" value={p.raw.tool} />
          <label for="outcome">Outcome</label>
          <select id="outcome" name="outcome">
            <option value="">any</option>
            {AUDIT_OUTCOMES.map((o) => (
              <option key={o} value={o} selected={p.raw.outcome === o}>{o}</option>
            ))}
          </select>
          <label for="since">Since (ISO date-time)</label>
          <input id="since" name="since" value={p.raw.since} />
          <label for="until">Until (ISO date-time)</label>
          <input id="until" name="until" value={p.raw.until} />
          <button type="submit">Filter</button>
        </form>
        <p>
          <a href={`${base}/export.jsonl${query(p.raw)}`}>Export these entries as JSON lines</a>
        </p>
        <table>
          <thead>
            <tr>
              <th>Time</th>
              <th>User</th>
              <th>Client</th>
              <th>Tool</th>
              <th>Outcome</th>
              <th>Latency</th>
              <th>Bytes</th>
              <th>Arguments</th>
            </tr>
          </thead>
          <tbody>{p.entries.map((e) => <Row key={e.id} e={e} />)}</tbody>
        </table>
        {p.entries.length === 0 ? <p>No entries.</p> : null}
        {p.next
          ? (
            <p>
              <a href={`${base}${query({ ...p.raw, cursor: p.next })}`}>Older entries</a>
            </p>
          )
          : null}
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
    try {
      const r = await listAuditEntries(c.var.deps.db, page.actor, { ...f, limit: PAGE_SIZE });
      const settings = await getAuditSettings(c.var.deps, page.actor);
      return c.html(
        <AuditPage
          wId={page.actor.workspace.sId}
          raw={f.raw}
          entries={r.entries}
          next={r.nextCursor}
          csrf={page.session.session.csrf}
          settings={settings}
          message={message}
        />,
        status as 200,
      );
    } catch (e) {
      if (e instanceof AppError && e.status === 403) return c.html(<h1>{e.message}</h1>, 403);
      throw e;
    }
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
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      if (e.status === 403) return c.html(<h1>{e.message}</h1>, 403);
      return await render(c, page, e.message, 400);
    }
  });
  app.get("/w/:wId/audit/export.jsonl", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    try {
      assertAuditReader(page.actor);
    } catch (e) {
      if (e instanceof AppError) return c.text(e.message, 403);
      throw e;
    }
    const { raw: _raw, cursor: _cursor, ...filter } = filterOf(c);
    return jsonlResponse(
      await exportAuditJsonl(c.var.deps.db, page.actor.workspace.id, filter),
      `audit-${page.actor.workspace.sId}.jsonl`,
    );
  });
  return app;
}
