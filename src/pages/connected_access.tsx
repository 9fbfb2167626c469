/** @jsxImportSource hono/jsx */
/**
 * Connected access: OAuth grants (client, user, scopes, created, last used), registered
 * clients, MCP tokens and live client-side MCP server registrations (the relay) of a
 * workspace, grants, tokens and registrations each with revoke. Admins see and revoke everything in
 * the workspace; a user sees and revokes their own.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { formExpiredPage, Layout } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
import { WorkspaceNav } from "./account.tsx";
import { type GrantView, listGrants, revokeGrant } from "../core/oauth_grants.ts";
import { listMcpTokens, type McpTokenView, revokeMcpToken } from "../core/mcp_tokens.ts";
import { type ClientView, listClients } from "../core/oauth_clients.ts";
import type { UserActor } from "../auth/actor.ts";
import {
  listRelayRegistrations,
  type RegistrationView,
  revokeRelayRegistration,
} from "../core/relay_registry.ts";
import { AppError } from "../errors.ts";

const when = (
  t: number | null,
) => (t ? new Date(t).toISOString().replace(/\.\d+Z$/, "Z") : "never");

function RevokeButton(
  p: { wId: string; csrf: string; kind: "grant" | "token" | "relay"; id: string },
) {
  return (
    <form method="post" action={`/w/${p.wId}/connected/revoke`}>
      <input type="hidden" name="csrf" value={p.csrf} />
      <input type="hidden" name="kind" value={p.kind} />
      <input type="hidden" name="id" value={p.id} />
      <button type="submit" class="danger">Revoke</button>
    </form>
  );
}

interface Props {
  actor: UserActor;
  csrf: string;
  grants: GrantView[];
  tokens: McpTokenView[];
  clients: ClientView[];
  relays: RegistrationView[];
  message?: string;
  error?: string;
}

function ConnectedPage(p: Props) {
  const wId = p.actor.workspace.sId;
  const grantRow = (g: GrantView) => (
    <tr data-grant={g.sId}>
      <td>{g.clientName ?? g.clientId}</td>
      <td>{g.userEmail}</td>
      <td>{g.scope}</td>
      <td>{when(g.createdAt)}</td>
      <td>{when(g.lastUsedAt)}</td>
      <td>
        <RevokeButton wId={wId} csrf={p.csrf} kind="grant" id={g.sId} />
      </td>
    </tr>
  );
  const tokenRow = (t: McpTokenView) => (
    <tr data-token={t.sId}>
      <td>
        <code>{t.prefix}…</code>
      </td>
      <td>{t.userEmail}</td>
      <td>{when(t.createdAt)}</td>
      <td>{when(t.expiresAt)}</td>
      <td>{when(t.lastUsedAt)}</td>
      <td>
        <RevokeButton wId={wId} csrf={p.csrf} kind="token" id={t.sId} />
      </td>
    </tr>
  );
  const clientRow = (c: ClientView) => (
    <tr>
      <td>{c.name}</td>
      <td>{c.kind}</td>
      <td>
        <code>{c.clientId}</code>
      </td>
      <td>{c.activeGrants}</td>
      <td>{when(c.lastUsedAt)}</td>
    </tr>
  );
  const relayRow = (r: RegistrationView) => (
    <tr data-relay={r.serverId}>
      <td>{r.serverName}</td>
      <td>{r.userEmail}</td>
      <td>{when(r.registeredAt)}</td>
      <td>{when(r.lastHeartbeatAt)}</td>
      <td>{r.connected ? "connected" : "registered"}</td>
      <td>
        <RevokeButton wId={wId} csrf={p.csrf} kind="relay" id={r.serverId} />
      </td>
    </tr>
  );
  return (
    <Layout
      title="Connected access"
      nav={<WorkspaceNav wId={wId} admin={p.actor.role === "admin"} />}
    >
      <div class="card">
        <h1>Connected access · {p.actor.workspace.name}</h1>
        <p class="muted">
          {p.actor.role === "admin"
            ? "Everyone's access to this workspace."
            : "Your access to this workspace."}
        </p>
        {p.message ? <p class="ok" role="status">{p.message}</p> : null}
        {p.error ? <p class="error" role="alert">{p.error}</p> : null}
        <h2>OAuth grants</h2>
        <table>
          <tr>
            <th>Client</th>
            <th>User</th>
            <th>Scopes</th>
            <th>Created</th>
            <th>Last used</th>
            <th></th>
          </tr>
          {p.grants.map(grantRow)}
        </table>
        <h2>MCP tokens</h2>
        <table>
          <tr>
            <th>Token</th>
            <th>User</th>
            <th>Created</th>
            <th>Expires</th>
            <th>Last used</th>
            <th></th>
          </tr>
          {p.tokens.map(tokenRow)}
        </table>
        <h2>Registered clients</h2>
        <table>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Client id</th>
            <th>Active grants</th>
            <th>Last used</th>
          </tr>
          {p.clients.map(clientRow)}
        </table>
        <h2>Client-side MCP servers</h2>
        <table>
          <tr>
            <th>Server</th>
            <th>User</th>
            <th>Registered</th>
            <th>Last heartbeat</th>
            <th>Stream</th>
            <th></th>
          </tr>
          {p.relays.map(relayRow)}
        </table>
      </div>
    </Layout>
  );
}

async function render(
  c: Context<AppEnv>,
  actor: UserActor,
  csrf: string,
  extra: Partial<Props> = {},
) {
  const deps = c.get("deps");
  const db = deps.db;
  return c.html(
    <ConnectedPage
      actor={actor}
      csrf={csrf}
      grants={await listGrants(db, actor)}
      tokens={await listMcpTokens(db, actor)}
      clients={await listClients(db, actor)}
      relays={await listRelayRegistrations(deps, actor)}
      {...extra}
    />,
    extra.error ? 404 : 200,
  );
}

export function connectedAccessRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/connected", securePage);
  app.use("/w/:wId/connected/*", securePage, originCheck);

  app.get("/w/:wId/connected", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    return await render(c, page.actor, page.session.session.csrf);
  });

  app.post("/w/:wId/connected/revoke", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    const form = await readCsrfForm(c, page.session);
    if (!form) {
      return formExpiredPage(c);
    }
    const deps = c.get("deps");
    try {
      if (form.kind === "grant") await revokeGrant(deps.db, page.actor, form.id ?? "");
      else if (form.kind === "relay") {
        await revokeRelayRegistration(deps, page.actor, { serverId: form.id ?? "" });
      } else await revokeMcpToken(deps.db, page.actor, form.id ?? "");
      return await render(c, page.actor, page.session.session.csrf, { message: "Revoked." });
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      return await render(c, page.actor, page.session.session.csrf, { error: e.message });
    }
  });
  return app;
}
