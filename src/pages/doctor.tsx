/** @jsxImportSource hono/jsx */
/**
 * Admin page `/w/{wId}/doctor`: the connection doctor and the OAuth trace. "Run the doctor"
 * (`POST /w/{wId}/doctor`, CSRF- and origin-checked) replays the chosen client's path against
 * the public URL, the viewer acting as the simulated user (src/doctor/run.ts); below, the last
 * 24 hours of real clients' attempts: register → authorize → consent → token → first MCP call,
 * with timings and refusal reasons (src/core/oauth_traces.ts). Workspace admins only.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { errorPage, formExpiredPage, Layout, Table } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
import { listTraceAttempts, type TraceAttempt } from "../core/oauth_traces.ts";
import { requireDoctorRunner } from "../core/doctor_approval.ts";
import { CLIENT_IDS, CLIENT_PROFILES, pickClients } from "../doctor/clients.ts";
import { type DoctorReport, runDoctor } from "../doctor/run.ts";
import type { DoctorStep } from "../doctor/steps.ts";
import { AppError } from "../errors.ts";

type Page = Exclude<Awaited<ReturnType<typeof requireWorkspacePage>>, Response>;

const STATUS_CLASS: Record<DoctorStep["status"], string> = {
  pass: "ok",
  warn: "warn",
  fail: "error",
  skip: "muted",
};

function StepRows(p: { steps: DoctorStep[] }) {
  return (
    <>
      {p.steps.map((s) => (
        <tr key={s.id}>
          <td>{s.title}</td>
          <td class={STATUS_CLASS[s.status]}>{s.status}</td>
          <td>{s.why}</td>
          <td>{s.status === "pass" ? "" : s.fix ?? ""}</td>
          <td class="num">{s.ms ?? ""}</td>
        </tr>
      ))}
    </>
  );
}

function Report(p: { report: DoctorReport }) {
  const head = ["Step", "Result", "Why", "What to change", { label: "ms", num: true }];
  return (
    <div class="card" id="doctor-report">
      <h2>Results for {p.report.url}</h2>
      <p class={p.report.ok ? "ok" : "error"} role="status">
        {p.report.ok ? "Every step passed." : "Some steps failed: see what to change."}
      </p>
      <Table head={head} rows={p.report.general.length} empty="" label="General checks">
        <StepRows steps={p.report.general} />
      </Table>
      {p.report.clients.map((c) => (
        <section key={c.client}>
          <h3>{c.name}</h3>
          <Table head={head} rows={c.steps.length} empty="" label={`Steps for ${c.name}`}>
            <StepRows steps={c.steps} />
          </Table>
        </section>
      ))}
    </div>
  );
}

function Trace(p: { attempts: TraceAttempt[]; hidden: number }) {
  return (
    <div class="card" id="oauth-trace">
      <h2>Real clients' attempts (last 24 hours)</h2>
      <p class="muted">
        Each registration, authorization request, consent, token exchange and a grant's first MCP
        call, with how long it took and why it was refused. No code, token or secret is kept.
      </p>
      {p.hidden > 0
        ? (
          <p class="muted">
            {p.hidden}{" "}
            attempt steps never reached a workspace; on a server with several workspaces they are
            not shown here.
          </p>
        )
        : null}
      {p.attempts.length === 0 ? <p>No attempts recorded.</p> : null}
      {p.attempts.map((a) => (
        <section key={a.clientId}>
          <h3>
            {a.clientName ?? "Unnamed client"} <span class="badge">{a.clientKind ?? "?"}</span>
          </h3>
          <p class="muted">{a.clientId || "(no client id)"}</p>
          <Table
            head={["Time (UTC)", "Step", "Result", "Reason", "Detail", { label: "ms", num: true }]}
            rows={a.steps.length}
            empty=""
            label={`Attempts of ${a.clientName ?? a.clientId}`}
          >
            {a.steps.map((s) => (
              <tr key={s.id}>
                <td>{new Date(s.at).toISOString().replace("T", " ").slice(0, 19)}</td>
                <td>{s.step}</td>
                <td class={s.ok ? "ok" : "error"}>{s.ok ? "ok" : `refused (${s.status})`}</td>
                <td>{s.reason ?? ""}</td>
                <td>{s.detail ?? ""}</td>
                <td class="num">{s.durationMs}</td>
              </tr>
            ))}
          </Table>
        </section>
      ))}
    </div>
  );
}

async function render(
  c: Context<AppEnv>,
  page: Page,
  extra: { report?: DoctorReport; error?: string; client?: string } = {},
  status = 200,
) {
  requireDoctorRunner(page.actor);
  const trace = await listTraceAttempts(c.var.deps.db, page.actor);
  const wId = page.actor.workspace.sId;
  return c.html(
    <Layout title="Connection doctor">
      <div class="card">
        <h1>Connection doctor</h1>
        <p>
          Replays, against this server's public URL ({c.var.deps.config.publicUrl}), the exact
          discovery and sign-in path of a popular AI client: the 401 challenge, the metadata,
          registration, the authorization request (with and without{" "}
          <code>resource</code>, and with a trailing slash), a token exchange approved by you as a
          simulated user, and the first{" "}
          <code>tools/list</code>. What it registers and the grant it gets are deleted and revoked
          at the end.
        </p>
        {extra.error ? <p class="error" role="alert">{extra.error}</p> : null}
        <form method="post" action={`/w/${wId}/doctor`}>
          <input type="hidden" name="csrf" value={page.session.session.csrf} />
          <label for="client">Client</label>
          <select id="client" name="client">
            <option value="all">All clients</option>
            {CLIENT_IDS.map((id) => (
              <option key={id} value={id} selected={extra.client === id}>
                {CLIENT_PROFILES[id].name}
              </option>
            ))}
          </select>
          <div class="actions">
            <button type="submit">Run the doctor</button>
          </div>
        </form>
      </div>
      {extra.report ? <Report report={extra.report} /> : null}
      <Trace attempts={trace.attempts} hidden={trace.unattributedHidden} />
    </Layout>,
    status as 200,
  );
}

export function doctorPageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/doctor", securePage, originCheck);
  const guarded = async (c: Context<AppEnv>, fn: (page: Page) => Promise<Response>) => {
    const page = await requireWorkspacePage(c, c.req.param("wId") ?? "");
    if (page instanceof Response) return page;
    try {
      return await fn(page);
    } catch (e) {
      if (e instanceof AppError && e.status === 403) {
        return await errorPage(c, 403, "Not allowed", e.message);
      }
      throw e;
    }
  };
  app.get("/w/:wId/doctor", (c) => guarded(c, (page) => render(c, page)));
  app.post("/w/:wId/doctor", (c) =>
    guarded(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return await formExpiredPage(c);
      const actor = requireDoctorRunner(page.actor);
      const clients = pickClients(form.client);
      if (!clients) return await render(c, page, { error: "Pick a client." }, 400);
      const deps = c.var.deps;
      const report = await runDoctor({
        db: deps.db,
        url: deps.config.publicUrl,
        issuer: deps.config.publicUrl,
        workspaceId: actor.workspace.id,
        userId: actor.user.id,
        clients,
      });
      return await render(c, page, { report, client: form.client });
    }));
  return app;
}
