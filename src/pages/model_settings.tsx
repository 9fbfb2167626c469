/** @jsxImportSource hono/jsx */
/**
 * Instance admin page `/admin/model`: the OpenAI-compatible endpoint agents use (base URL,
 * model name, API key). Saved values override `--model-base-url` / `--model` /
 * `--model-api-key`; clearing them returns to the boot configuration. The API key is never
 * shown back, only whether one is set. Instance admins only.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Flash, formExpiredPage, Layout, MessagePage } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, pageActor, readCsrfForm, requireSession } from "./page_auth.ts";
import type { PageSession } from "../auth/sessions.ts";
import { describeModelSettings, setModelSettings } from "../core/model_settings.ts";
import { listUserWorkspaces } from "../core/workspaces.ts";
import { AppError } from "../errors.ts";

interface Props {
  csrf: string;
  current: Awaited<ReturnType<typeof describeModelSettings>>;
  message?: string;
  error?: string;
}

function ModelPage(p: Props) {
  const source = {
    settings: "saved on this page",
    config: "from flags / environment",
    none: "not configured: agent messages fail until a model is set",
  }[p.current.source];
  return (
    <Layout title="Model settings">
      <div class="card">
        <h1>Model for agents</h1>
        <p>
          Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, Ollama, vLLM, LM
          Studio, llama.cpp server. Current: <strong>{source}</strong>.
        </p>
        <Flash message={p.message} error={p.error} />
        <form method="post" action="/admin/model">
          <input type="hidden" name="csrf" value={p.csrf} />
          <label for="base_url">Base URL (e.g. http://localhost:11434/v1)</label>
          <input id="base_url" name="base_url" type="url" value={p.current.baseUrl ?? ""} />
          <label for="model">Model name</label>
          <input id="model" name="model" value={p.current.model ?? ""} />
          <label for="api_key">
            API key {p.current.apiKeySet ? "(set; leave empty to keep it)" : "(none set)"}
          </label>
          <input id="api_key" name="api_key" type="password" autocomplete="off" value="" />
          <label class="inline">
            <input type="checkbox" name="clear_api_key" value="1" /> Remove the saved API key
          </label>
          <button type="submit">Save</button>
        </form>
        <p>Saving an empty base URL removes the saved values (back to flags / environment).</p>
      </div>
    </Layout>
  );
}

function forbiddenPage(c: Context<AppEnv>) {
  return c.html(
    <MessagePage title="Not allowed">
      <p>Only an instance admin can change the model.</p>
    </MessagePage>,
    403,
  );
}

/** The session user as an actor (in their first workspace), when an instance admin. */
async function adminActor(c: Context<AppEnv>, s: PageSession) {
  if (!s.user.isInstanceAdmin) return null;
  const first = (await listUserWorkspaces(c.get("deps").db, s.user.id))[0];
  return first ? await pageActor(c, s, first.workspace.sId) : null;
}

export function modelSettingsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/admin/model", securePage);
  app.use("/admin/model", originCheck);

  app.get("/admin/model", async (c) => {
    const s = await requireSession(c);
    if (s instanceof Response) return s;
    if (!await adminActor(c, s)) return forbiddenPage(c);
    return c.html(
      <ModelPage csrf={s.session.csrf} current={await describeModelSettings(c.get("deps"))} />,
    );
  });

  app.post("/admin/model", async (c) => {
    const s = await requireSession(c);
    if (s instanceof Response) return s;
    const actor = await adminActor(c, s);
    if (!actor) return forbiddenPage(c);
    const form = await readCsrfForm(c, s);
    if (!form) {
      return formExpiredPage(c);
    }
    const deps = c.get("deps");
    try {
      const current = await setModelSettings(deps, actor, {
        baseUrl: form.base_url ?? "",
        model: form.model ?? "",
        apiKey: form.clear_api_key === "1" ? "" : form.api_key ? form.api_key : undefined,
      });
      return c.html(<ModelPage csrf={s.session.csrf} current={current} message="Saved." />);
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      const current = await describeModelSettings(deps);
      return c.html(<ModelPage csrf={s.session.csrf} current={current} error={e.message} />, 400);
    }
  });
  return app;
}
