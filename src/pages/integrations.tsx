/** @jsxImportSource hono/jsx */
/**
 * The Integrations page of a workspace: the MCP URL, ready setup for every client with OAuth
 * and with an MCP API token, and the "Generate MCP token" button (the token is shown once;
 * generating a new one revokes the previous one). A form (plain GET, no script) narrows the
 * URL to chosen toolsets and/or read-only (src/mcp/endpoint.ts); every snippet then uses it.
 * Last, how to put local MCP servers behind the relay with `dust-mcp bridge` (src/bridge/).
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { Copyable, formExpiredPage, Layout } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
import { type ClientSetup, clientSetups } from "./integration_snippets.ts";
import { mcpResourceUrl } from "../config.ts";
import { createMcpToken, MCP_TOKEN_TTL_MS } from "../core/mcp_tokens.ts";
import { getMcpSettings } from "../core/workspace_settings.ts";
import { endpointPath, type Toolset, TOOLSETS } from "../mcp/endpoint.ts";

const PLACEHOLDER = "<YOUR_MCP_TOKEN>";

/** One client's setup, folded (the page lists a dozen clients: open the one you use). */
function SetupDetails(props: { s: ClientSetup }) {
  return (
    <details id={props.s.id}>
      <summary>{props.s.name}</summary>
      <p class="muted">With OAuth (recommended)</p>
      <Copyable id={`${props.s.id}-oauth`} text={props.s.oauth} label={`Copy ${props.s.name}`} />
      <p class="muted">With an MCP token</p>
      {props.s.token
        ? (
          <Copyable
            id={`${props.s.id}-token`}
            text={props.s.token}
            label={`Copy ${props.s.name} with a token`}
          />
        )
        : <pre>This client connects with OAuth only.</pre>}
    </details>
  );
}

/** What each toolset serves, for the narrowing form. */
const TOOLSET_HELP: Record<Toolset, string> = {
  identity: "who you are (always included)",
  agents: "list_agents",
  conversations: "conversations, messages, agent answers; transcripts; Ask prompts",
  pods: "Pods and their tasks",
  search: "company data search and fetch; documents",
  files: "conversation and Pod files",
};

/** The endpoint a query string selects (unknown names are ignored). */
export interface EndpointChoice {
  toolsets: Toolset[];
  readOnly: boolean;
}

function choiceOf(c: import("hono").Context<AppEnv>): EndpointChoice {
  const picked = new Set(c.req.queries("toolsets") ?? []);
  const toolsets = TOOLSETS.filter((t) => t !== "identity" && picked.has(t));
  return { toolsets, readOnly: c.req.query("readonly") === "1" };
}

function choiceQuery(ch: EndpointChoice): string {
  const q = new URLSearchParams();
  for (const t of ch.toolsets) q.append("toolsets", t);
  if (ch.readOnly) q.set("readonly", "1");
  const s = q.toString();
  return s ? `?${s}` : "";
}

function EndpointForm(props: { wId: string; choice: EndpointChoice; url: string }) {
  return (
    <div class="card" id="endpoint">
      <h2>Narrow the tool list</h2>
      <p class="muted">
        Clients whose context fills up with tool lists can use fewer tools: pick toolsets, or
        read-only (only tools that read, whatever your token allows). The same sign-in works on
        every URL.
      </p>
      <form method="get" action={`/w/${props.wId}/integrations`}>
        <fieldset>
          <legend>Toolsets (none checked: all)</legend>
          {TOOLSETS.filter((t) => t !== "identity").map((t) => (
            <div>
              <input
                type="checkbox"
                id={`toolset-${t}`}
                name="toolsets"
                value={t}
                checked={props.choice.toolsets.includes(t)}
              />
              <label for={`toolset-${t}`}>{t}: {TOOLSET_HELP[t]}</label>
            </div>
          ))}
        </fieldset>
        <div>
          <input
            type="checkbox"
            id="readonly"
            name="readonly"
            value="1"
            checked={props.choice.readOnly}
          />
          <label for="readonly">Read-only</label>
        </div>
        <button type="submit">Use this URL below</button>
      </form>
      <p>MCP URL for this choice:</p>
      <Copyable id="endpoint-url" text={props.url} label="Copy the narrowed MCP URL" />
      <p class="muted">
        Examples: <code>/mcp/readonly</code>, <code>/mcp/x/search,files</code>,{" "}
        <code>/mcp/x/conversations/readonly</code>; the query forms{" "}
        <code>?toolsets=search,files</code> and <code>?readonly=true</code> work too.
      </p>
    </div>
  );
}

/** The `dust-mcp bridge` command for this server and workspace (the token read from stdin). */
export function bridgeCommand(publicUrl: string, wId: string): string {
  return [
    "dust-mcp bridge \\",
    `  --url ${publicUrl} --workspace ${wId} --token - \\`,
    "  -- npx -y @modelcontextprotocol/server-filesystem ~/Documents",
  ].join("\n");
}

/** How to put MCP servers that run on the user's own machine behind this server. */
function BridgeCard(props: { wId: string; publicUrl: string }) {
  return (
    <div class="card" id="bridge">
      <h2>Local MCP servers (bridge)</h2>
      <p>
        Your agents can use MCP servers that run on your own computer (files, a local database, a
        command-line tool): run <code>dust-mcp bridge</code>{" "}
        there. It starts each local server, registers it with this workspace as yours, and relays
        your agents' tool calls to it. It reads a personal access token (from{" "}
        <a href={`/w/${props.wId}/credentials`}>Credentials</a>) on its input: paste it and press
        Enter, or pipe it from a file.
      </p>
      <Copyable
        id="bridge-command"
        text={bridgeCommand(props.publicUrl, props.wId)}
        label="Copy the bridge command"
      />
      <p class="muted">
        Several servers: repeat <code>-- &lt;command&gt;</code>; names with{" "}
        <code>--names files,notes</code>. Read-only tools run without asking; any other tool asks
        you first (<code>--ask all</code>: every tool asks;{" "}
        <code>--ask none</code>: none does). From a source checkout, run it as{" "}
        <code>deno task bridge</code>{" "}
        (it needs permission to start programs). The bridge prints one status line per server, with
        the id to name in a message's{" "}
        <code>clientSideMCPServerIds</code>, and reconnects by itself after network loss or a server
        restart. Your connected servers are listed under{" "}
        <a href={`/w/${props.wId}/connected`}>Connected access</a>.
      </p>
    </div>
  );
}

function IntegrationsPage(
  props: {
    wId: string;
    admin: boolean;
    csrf: string;
    mcpUrl: string;
    choice: EndpointChoice;
    enabled: boolean;
    allowTokenInUrl: boolean;
    token: string | null;
  },
) {
  const base = props.mcpUrl.slice(0, -"/mcp".length);
  const narrowed = props.choice.toolsets.length > 0 || props.choice.readOnly;
  const url = narrowed
    ? `${base}${endpointPath(props.choice.toolsets, props.choice.readOnly)}`
    : props.mcpUrl;
  const setups = clientSetups(url, props.token ?? PLACEHOLDER, props.allowTokenInUrl);
  return (
    <Layout title="Integrations">
      <div class="card">
        <h1>Connect AI clients</h1>
        {props.enabled
          ? null
          : <p class="error">The MCP server is turned off for this workspace (MCP settings).</p>}
        <p>Your MCP URL:</p>
        <Copyable id="mcp-url" text={props.mcpUrl} label="Copy the MCP URL" />
        <p class="muted">
          OAuth is the default: paste the URL in your client, sign in, pick this workspace and click
          Allow. Sessions last up to a year. Clients without OAuth use an MCP token.
        </p>
        {props.token
          ? (
            <div>
              <p class="ok" role="status">
                Your new MCP token (copy it now, it will not be shown again):
              </p>
              <Copyable id="new-token" text={props.token} label="Copy the new MCP token" />
              <p class="muted">
                It expires in {Math.round(MCP_TOKEN_TTL_MS / 86_400_000)}{" "}
                days. Your previous token, if any, has been revoked.
              </p>
            </div>
          )
          : null}
        <form
          method="post"
          action={`/w/${props.wId}/integrations/token${choiceQuery(props.choice)}`}
        >
          <input type="hidden" name="csrf" value={props.csrf} />
          <button type="submit">Generate MCP token</button>
        </form>
      </div>
      <div class="card" id="clients">
        <h2>Setup for each client</h2>
        <p class="muted">
          {props.token
            ? "Every snippet below carries your new token."
            : "Snippets with a token show a placeholder until you generate one."}
        </p>
        {setups.map((x) => <SetupDetails key={x.id} s={x} />)}
      </div>
      <EndpointForm wId={props.wId} choice={props.choice} url={url} />
      <BridgeCard wId={props.wId} publicUrl={base} />
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
        choice={choiceOf(c)}
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
