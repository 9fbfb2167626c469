/** @jsxImportSource hono/jsx */
/**
 * The Integrations page of a workspace: the MCP URL, ready setup for every client with OAuth
 * and with an MCP API token, and the "Generate MCP token" button (the token is shown once;
 * generating a new one revokes the previous one).
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { formExpiredPage, Layout } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
import { WorkspaceNav } from "./account.tsx";
import { type ClientSetup, clientSetups } from "./integration_snippets.ts";
import { mcpResourceUrl } from "../config.ts";
import { createMcpToken, MCP_TOKEN_TTL_MS } from "../core/mcp_tokens.ts";
import { getMcpSettings } from "../core/workspace_settings.ts";

const PLACEHOLDER = "<YOUR_MCP_TOKEN>";

function SetupCard(props: { s: ClientSetup }) {
  return (
    <div class="card" id={props.s.id}>
      <h2>{props.s.name}</h2>
      <p class="muted">With OAuth (recommended)</p>
      <pre>{props.s.oauth}</pre>
      <p class="muted">With an MCP token</p>
      <pre>{props.s.token ?? "This client connects with OAuth only."}</pre>
    </div>
  );
}

function setupCard(s: ClientSetup) {
  return <SetupCard s={s} />;
}

function IntegrationsPage(
  props: {
    wId: string;
    admin: boolean;
    csrf: string;
    mcpUrl: string;
    enabled: boolean;
    allowTokenInUrl: boolean;
    token: string | null;
  },
) {
  const setups = clientSetups(props.mcpUrl, props.token ?? PLACEHOLDER, props.allowTokenInUrl);
  return (
    <Layout title="Integrations" nav={<WorkspaceNav wId={props.wId} admin={props.admin} />}>
      <div class="card">
        <h1>Connect AI clients</h1>
        {props.enabled
          ? null
          : <p class="error">The MCP server is turned off for this workspace (MCP settings).</p>}
        <p>Your MCP URL:</p>
        <pre id="mcp-url">{props.mcpUrl}</pre>
        <p class="muted">
          OAuth is the default: paste the URL in your client, sign in, pick this workspace and click
          Allow. Sessions last up to a year. Clients without OAuth use an MCP token.
        </p>
        {props.token
          ? (
            <div>
              <p class="ok">Your new MCP token (copy it now, it will not be shown again):</p>
              <pre id="new-token">{props.token}</pre>
              <p class="muted">
                It expires in {Math.round(MCP_TOKEN_TTL_MS / 86_400_000)}{" "}
                days. Your previous token, if any, has been revoked.
              </p>
            </div>
          )
          : null}
        <form method="post" action={`/w/${props.wId}/integrations/token`}>
          <input type="hidden" name="csrf" value={props.csrf} />
          <button type="submit">Generate MCP token</button>
        </form>
      </div>
      {setups.map(setupCard)}
    </Layout>
  );
}

export function integrationsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/integrations", securePage);
  app.use("/w/:wId/integrations/*", securePage);
  app.use("/w/:wId/integrations/*", originCheck);

  const render = async (c: import("hono").Context<AppEnv>, token: string | null) => {
    const page = await requireWorkspacePage(c, c.req.param("wId") ?? "");
    if (page instanceof Response) return page;
    const deps = c.get("deps");
    const ws = await getMcpSettings(deps.db, page.actor.workspace.id);
    return c.html(
      <IntegrationsPage
        wId={ws.sId}
        admin={page.actor.role === "admin"}
        csrf={page.session.session.csrf}
        mcpUrl={mcpResourceUrl(deps.config)}
        enabled={ws.mcpEnabled}
        allowTokenInUrl={ws.allowTokenInUrl}
        token={token}
      />,
    );
  };

  app.get("/w/:wId/integrations", async (c) => await render(c, null));

  app.post("/w/:wId/integrations/token", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    if (!await readCsrfForm(c, page.session)) {
      return formExpiredPage(c);
    }
    const created = await createMcpToken(c.get("deps").db, page.actor);
    // Rendered directly (no redirect) so the token exists only in this one response.
    return await render(c, created.token);
  });
  return app;
}
