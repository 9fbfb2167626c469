/** @jsxImportSource hono/jsx */
/**
 * The one-time setup page: creates the first admin account and workspace, then stops working.
 * The setup token in the form is the CSRF defence (an attacker cannot know it).
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { Copyable, Layout, MessagePage } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { completeSetup, isSetupTokenValid } from "../core/setup.ts";
import { AppError } from "../errors.ts";
import { mcpResourceUrl } from "../config.ts";
import { startSession } from "../auth/sessions.ts";

function SetupForm(
  props: { token: string; error?: string; email?: string; name?: string; workspace?: string },
) {
  return (
    <Layout title="Set up dust-mcp" narrow>
      <div class="card">
        <h1>Set up dust-mcp</h1>
        <p class="muted">
          Create the first administrator account and workspace. This link works once.
        </p>
        {props.error ? <p class="error" role="alert">{props.error}</p> : null}
        <form method="post" action="/setup">
          <input type="hidden" name="token" value={props.token} />
          <label for="name">Your name</label>
          <input
            id="name"
            type="text"
            name="name"
            required
            maxlength={255}
            value={props.name ?? ""}
          />
          <label for="email">Email</label>
          <input id="email" type="email" name="email" required value={props.email ?? ""} />
          <label for="password">Password (at least 8 characters)</label>
          <input id="password" type="password" name="password" required minlength={8} />
          <label for="workspace">Workspace name</label>
          <input
            id="workspace"
            type="text"
            name="workspace"
            required
            maxlength={255}
            value={props.workspace ?? ""}
          />
          <button type="submit">Create account and workspace</button>
        </form>
      </div>
    </Layout>
  );
}

const USED = "This setup link has already been used or is not valid. Sign in instead.";

export function setupRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/setup", securePage);

  app.get("/setup", async (c) => {
    const token = c.req.query("token") ?? "";
    if (!await isSetupTokenValid(c.get("deps").db, token)) {
      return c.html(
        <MessagePage title="Setup unavailable">
          <p>{USED}</p>
        </MessagePage>,
        410,
      );
    }
    return c.html(<SetupForm token={token} />);
  });

  app.post("/setup", async (c) => {
    const deps = c.get("deps");
    const form = await c.req.parseBody();
    const field = (k: string) => (typeof form[k] === "string" ? form[k] as string : "");
    const token = field("token");
    if (!await isSetupTokenValid(deps.db, token)) {
      return c.html(
        <MessagePage title="Setup unavailable">
          <p>{USED}</p>
        </MessagePage>,
        410,
      );
    }
    try {
      const { user, workspace } = await completeSetup(deps.db, {
        token,
        email: field("email"),
        name: field("name"),
        password: field("password"),
        workspaceName: field("workspace"),
      });
      deps.log.info("setup completed", { userId: user.sId, workspaceId: workspace.sId });
      // The new admin is signed in: the next click is their workspace, not a sign-in form.
      await startSession(c, user.id);
      return c.html(
        <MessagePage title="You are all set">
          <p class="ok" role="status">
            Account {user.email} and workspace “{workspace.name}” created. You are signed in.
          </p>
          <p>
            Workspace id: <code>{workspace.sId}</code>
          </p>
          <p>MCP server URL for your AI clients:</p>
          <Copyable id="setup-mcp-url" text={mcpResourceUrl(deps.config)} />
          <p>
            <a class="button" href={`/w/${workspace.sId}`}>Open your workspace</a>
          </p>
        </MessagePage>,
        201,
      );
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      return c.html(
        <SetupForm
          token={token}
          error={e.message}
          email={field("email")}
          name={field("name")}
          workspace={field("workspace")}
        />,
        400,
      );
    }
  });
  return app;
}
