/** @jsxImportSource hono/jsx */
/**
 * Agent pages: `/w/{wId}/agents` (the agents a member sees, Dust's `list` view), `…/new` and
 * `POST /w/{wId}/agents` (builders create), `/w/{wId}/agents/{aId}` (details; the edit form
 * — name, description, instructions, model, tools, spaces, scope — and archive for those who
 * may edit it, `canEditAgent`), and a test chat: `POST …/{aId}/test` posts the message to the
 * agent in a new conversation of visibility `test` (listed nowhere, read by its author only)
 * and opens it, where the answer streams. Every change goes through agent_editing.ts.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { formExpiredPage } from "./layout.tsx";
import { originCheck, readCsrfForm } from "./page_auth.ts";
import {
  ConsoleLayout,
  type ConsolePage,
  consolePage,
  Csrf,
  Notice,
  Time,
  withMember,
} from "./console_common.tsx";
import {
  type AgentRow,
  canCreateAgents,
  canEditAgent,
  getAgentConfiguration,
  listAgentConfigurations,
} from "../core/agents.ts";
import {
  AGENT_TOOLS,
  archiveAgent,
  createAgent,
  EDITABLE_SCOPES,
  updateAgent,
} from "../core/agent_editing.ts";
import { listSpaces, type SpaceJson } from "../core/spaces.ts";
import { postConversation } from "../core/conversations.ts";
import { defaultMessageContext } from "../core/message_context.ts";
import { AppError, invalid } from "../errors.ts";

const SCOPE_HELP: Record<string, string> = {
  workspace: "workspace: listed for every member",
  published: "published: listed for every member",
  hidden: "hidden: listed only for members who made it a favourite",
  private: "private: only you",
  global: "built in",
};
const TOOL_HELP: Record<string, string> = {
  search: "search — the documents of the spaces below (as the member who asks)",
  files: "files — the conversation's and its Pod's files",
};

const agentsPath = (wId: string) => `/w/${wId}/agents`;
const agentPath = (wId: string, aId: string) => `${agentsPath(wId)}/${encodeURIComponent(aId)}`;

/** Spaces an agent's search may be limited to: those the editor reads, Pods included. */
async function pickableSpaces(c: Context<AppEnv>, page: ConsolePage): Promise<SpaceJson[]> {
  return await listSpaces(c.var.deps, page.actor, { kinds: ["global", "regular", "project"] });
}

type AgentValues = Pick<
  AgentRow,
  | "name"
  | "description"
  | "instructions"
  | "providerId"
  | "modelId"
  | "temperature"
  | "scope"
  | "tools"
  | "spaceIds"
  | "maxStepsPerRun"
>;

const NEW_AGENT: AgentValues = {
  name: "",
  description: "",
  instructions: "",
  providerId: "openai",
  modelId: "gpt-4o",
  temperature: 0.7,
  scope: "workspace",
  tools: ["search", "files"],
  spaceIds: [],
  maxStepsPerRun: 8,
};

function AgentForm(
  p: { page: ConsolePage; action: string; v: AgentValues; spaces: SpaceJson[]; submit: string },
) {
  const v = p.v;
  return (
    <form method="post" action={p.action}>
      <Csrf page={p.page} />
      <label for="name">Name (letters, digits, '_', '-', '.'; mention it as @name)</label>
      <input
        id="name"
        name="name"
        type="text"
        required
        maxlength={64}
        pattern="[A-Za-z0-9._\-]{1,64}"
        value={v.name}
      />
      <label for="description">Description</label>
      <input
        id="description"
        name="description"
        type="text"
        maxlength={1024}
        value={v.description}
      />
      <label for="instructions">Instructions</label>
      <textarea id="instructions" name="instructions" rows={8} required maxlength={100000}>
        {v.instructions ?? ""}
      </textarea>
      <fieldset>
        <legend>Model</legend>
        <label for="providerId">Provider</label>
        <input
          id="providerId"
          name="providerId"
          type="text"
          required
          maxlength={64}
          value={v.providerId}
        />
        <label for="modelId">Model id</label>
        <input id="modelId" name="modelId" type="text" required maxlength={128} value={v.modelId} />
        <label for="temperature">Temperature (0 to 2)</label>
        <input
          id="temperature"
          name="temperature"
          type="number"
          min="0"
          max="2"
          step="0.1"
          value={String(v.temperature)}
        />
        <label for="maxStepsPerRun">Steps per answer (1 to 32)</label>
        <input
          id="maxStepsPerRun"
          name="maxStepsPerRun"
          type="number"
          min="1"
          max="32"
          step="1"
          value={String(v.maxStepsPerRun)}
        />
      </fieldset>
      <fieldset>
        <legend>Tools</legend>
        {AGENT_TOOLS.map((t) => (
          <div key={t}>
            <input
              id={`tool_${t}`}
              name={`tool_${t}`}
              type="checkbox"
              value="1"
              checked={v.tools.includes(t)}
            />{" "}
            <label for={`tool_${t}`} class="inline-label">{TOOL_HELP[t]}</label>
          </div>
        ))}
      </fieldset>
      <fieldset>
        <legend>Spaces its search reads (none ticked: every space the asking member reads)</legend>
        {p.spaces.map((s) => (
          <div key={s.sId}>
            <input
              id={`space_${s.sId}`}
              name={`space_${s.sId}`}
              type="checkbox"
              value="1"
              checked={v.spaceIds.includes(s.sId)}
            />{" "}
            <label for={`space_${s.sId}`} class="inline-label">
              {s.name} <span class="muted">({s.kind === "project" ? "Pod" : s.kind})</span>
            </label>
          </div>
        ))}
      </fieldset>
      <label for="scope">Scope</label>
      <select id="scope" name="scope">
        {EDITABLE_SCOPES.map((s) => (
          <option key={s} value={s} selected={v.scope === s}>{SCOPE_HELP[s]}</option>
        ))}
      </select>
      <button type="submit">{p.submit}</button>
    </form>
  );
}

/** The form's values as the core's input (unticked boxes are absent from a form post). */
function valuesOf(form: Record<string, string>, spaces: SpaceJson[]) {
  const temperature = Number(form.temperature ?? "0.7");
  const steps = Number(form.maxStepsPerRun ?? "8");
  if (!Number.isFinite(temperature)) throw invalid("temperature: a number from 0 to 2");
  const scope = (EDITABLE_SCOPES as readonly string[]).includes(form.scope ?? "")
    ? form.scope as (typeof EDITABLE_SCOPES)[number]
    : "workspace";
  return {
    name: (form.name ?? "").trim(),
    description: form.description ?? "",
    instructions: form.instructions ?? "",
    model: {
      providerId: (form.providerId ?? "").trim(),
      modelId: (form.modelId ?? "").trim(),
      temperature,
    },
    scope,
    maxStepsPerRun: steps,
    tools: AGENT_TOOLS.filter((t) => form[`tool_${t}`] === "1"),
    spaceIds: spaces.filter((s) => form[`space_${s.sId}`] === "1").map((s) => s.sId),
  };
}

/** What a refused form shows back: the submitted values. */
function submitted(v: ReturnType<typeof valuesOf>): AgentValues {
  return {
    name: v.name,
    description: v.description,
    instructions: v.instructions,
    providerId: v.model.providerId,
    modelId: v.model.modelId,
    temperature: v.model.temperature,
    scope: v.scope,
    tools: v.tools,
    spaceIds: v.spaceIds,
    maxStepsPerRun: v.maxStepsPerRun,
  };
}

async function renderList(c: Context<AppEnv>, page: ConsolePage, ok?: string) {
  const wId = page.actor.workspace.sId;
  const agents = await listAgentConfigurations(c.var.deps, page.actor, { view: "list" });
  return c.html(
    <ConsoleLayout title="Agents">
      <div class="card">
        <h1>Agents</h1>
        <Notice ok={ok} />
        {canCreateAgents(page.actor)
          ? (
            <p>
              <a class="button" href={`${agentsPath(wId)}/new`}>New agent</a>
            </p>
          )
          : <p class="muted">Builders and admins create and edit agents.</p>}
        <table>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Scope</th>
              <th scope="col">Model</th>
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.sId}>
                <td>
                  <a href={agentPath(wId, a.sId)}>@{a.name}</a>
                  {a.description ? <div class="muted">{a.description}</div> : null}
                </td>
                <td>{a.scope}</td>
                <td>{`${a.providerId} / ${a.modelId}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {agents.length === 0 ? <p>No agents.</p> : null}
      </div>
    </ConsoleLayout>,
  );
}

async function renderNew(
  c: Context<AppEnv>,
  page: ConsolePage,
  v: AgentValues = NEW_AGENT,
  error?: string,
) {
  const wId = page.actor.workspace.sId;
  if (!canCreateAgents(page.actor)) {
    throw new AppError(403, "workspace_auth_error", "Only builders can create agents.");
  }
  return c.html(
    <ConsoleLayout title="New agent" crumbs={<a href={agentsPath(wId)}>Agents</a>}>
      <div class="card">
        <h1>New agent</h1>
        <Notice error={error} />
        <AgentForm
          page={page}
          action={agentsPath(wId)}
          v={v}
          spaces={await pickableSpaces(c, page)}
          submit="Create agent"
        />
      </div>
    </ConsoleLayout>,
    error ? 400 : 200,
  );
}

async function renderAgent(
  c: Context<AppEnv>,
  page: ConsolePage,
  notice: { ok?: string; error?: string; values?: AgentValues } = {},
) {
  const wId = page.actor.workspace.sId;
  const a = await getAgentConfiguration(c.var.deps, page.actor, { agentId: c.req.param("aId")! });
  const editable = canEditAgent(page.actor, a);
  const here = agentPath(wId, a.sId);
  return c.html(
    <ConsoleLayout title={`@${a.name} · Agents`} crumbs={<a href={agentsPath(wId)}>Agents</a>}>
      <div class="card">
        <h1>@{a.name}</h1>
        <Notice ok={notice.ok} error={notice.error} />
        {a.description ? <p>{a.description}</p> : null}
        <p class="muted">
          {`${
            a.status === "active" ? "Active" : "Archived"
          } · scope ${a.scope} · ${a.providerId} / ${a.modelId} · tools: ${
            a.tools.join(", ") || "none"
          } · version ${a.version} · updated `}
          <Time ms={a.updatedAt} />
        </p>
        {!editable && a.instructions ? <pre>{a.instructions}</pre> : null}
      </div>
      {a.status === "active"
        ? (
          <div class="card">
            <h2>Test chat</h2>
            <p class="muted">
              Sends your message to @{a.name} in a test conversation only you see, and opens it.
            </p>
            <form method="post" action={`${here}/test`}>
              <Csrf page={page} />
              <label for="test_message">Message</label>
              <textarea id="test_message" name="message" rows={3} required maxlength={10000}>
              </textarea>
              <button type="submit">Send to @{a.name}</button>
            </form>
          </div>
        )
        : null}
      {editable
        ? (
          <div class="card">
            <h2>Edit</h2>
            <AgentForm
              page={page}
              action={here}
              v={notice.values ?? a}
              spaces={await pickableSpaces(c, page)}
              submit="Save agent"
            />
            {a.status === "active"
              ? (
                <form method="post" action={`${here}/archive`}>
                  <Csrf page={page} />
                  <button type="submit" class="danger">Archive @{a.name}</button>
                </form>
              )
              : null}
          </div>
        )
        : null}
    </ConsoleLayout>,
    notice.error ? 400 : 200,
  );
}

/** A core refusal of a form's content (400/409) shown on the form; others go up. */
function formError(e: unknown): string {
  if (e instanceof AppError && (e.status === 400 || e.status === 409)) return e.message;
  throw e;
}

/** The agent pages (mounted at the root). */
export function agentPageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/agents", consolePage);
  app.use("/w/:wId/agents", originCheck);
  app.use("/w/:wId/agents/*", consolePage);
  app.use("/w/:wId/agents/*", originCheck);

  app.get(
    "/w/:wId/agents",
    (c) =>
      withMember(
        c,
        (page) => renderList(c, page, c.req.query("archived") ? "Agent archived." : undefined),
      ),
  );

  app.get("/w/:wId/agents/new", (c) => withMember(c, (page) => renderNew(c, page)));

  app.post("/w/:wId/agents", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const v = valuesOf(form, await pickableSpaces(c, page));
      try {
        const a = await createAgent(c.var.deps, page.actor, v);
        return c.redirect(`${agentPath(page.actor.workspace.sId, a.sId)}?saved=1`, 303);
      } catch (e) {
        return await renderNew(c, page, submitted(v), formError(e));
      }
    }));

  app.get(
    "/w/:wId/agents/:aId",
    (c) =>
      withMember(
        c,
        (page) => renderAgent(c, page, { ok: c.req.query("saved") ? "Saved." : undefined }),
      ),
  );

  app.post("/w/:wId/agents/:aId", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const v = valuesOf(form, await pickableSpaces(c, page));
      try {
        await updateAgent(c.var.deps, page.actor, { agentId: c.req.param("aId"), ...v });
        return c.redirect(
          `${agentPath(page.actor.workspace.sId, c.req.param("aId"))}?saved=1`,
          303,
        );
      } catch (e) {
        return await renderAgent(c, page, { error: formError(e), values: submitted(v) });
      }
    }));

  app.post("/w/:wId/agents/:aId/archive", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      await archiveAgent(c.var.deps, page.actor, { agentId: c.req.param("aId") });
      return c.redirect(`${agentsPath(page.actor.workspace.sId)}?archived=1`, 303);
    }));

  app.post("/w/:wId/agents/:aId/test", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const deps = c.var.deps;
      const a = await getAgentConfiguration(deps, page.actor, { agentId: c.req.param("aId") });
      const content = (form.message ?? "").trim();
      if (!content) return await renderAgent(c, page, { error: "Write a message to send." });
      const r = await postConversation(deps, page.actor, {
        title: `Test of @${a.name}`,
        visibility: "test",
        post: {
          content,
          mentions: [{ configurationId: a.sId }],
          context: { ...defaultMessageContext(page.actor), origin: "web" },
          contentFragments: [],
        },
      });
      return c.redirect(`/w/${page.actor.workspace.sId}/conversations/${r.conversation.sId}`, 303);
    }));

  return app;
}
