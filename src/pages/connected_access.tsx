/** @jsxImportSource hono/jsx */
/**
 * Connected access: OAuth grants (client, user, scopes, created, last used), registered
 * clients, MCP tokens and live client-side MCP server registrations (the relay) of a
 * workspace, grants, tokens and registrations each with revoke. Admins see and revoke everything in
 * the workspace; a user sees and revokes their own. Each grant shows what its user let it reach
 * (spaces, conversations, read-only: core/grant_access.ts), and its user edits that choice here
 * (`/w/:wId/connected/grants/:gId`); an edit applies to the grant's existing tokens at once.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Csrf, Flash, formExpiredPage, Layout, Table, when } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
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
import { editGrantAccess, listChoosableSpaces } from "../core/grant_access.ts";
import { AccessChoiceFields, type ChoiceState, SpaceBoxes } from "./access_choice.tsx";

/** One line saying what a grant reaches. */
export function accessSummary(a: GrantView["access"]): string {
  const where = a.allSpaces
    ? "every space"
    : a.spaces.length === 0
    ? "no space"
    : a.spaces.map((s) => s.name).join(", ");
  const conv = a.allSpaces ? "" : a.conversations ? " + conversations" : ", no conversations";
  return `${where}${conv} · ${a.readOnly ? "read-only" : "read + write"}`;
}

function RevokeButton(
  p: { wId: string; csrf: string; kind: "grant" | "token" | "relay"; id: string; label: string },
) {
  return (
    <form method="post" action={`/w/${p.wId}/connected/revoke`}>
      <Csrf token={p.csrf} />
      <input type="hidden" name="kind" value={p.kind} />
      <input type="hidden" name="id" value={p.id} />
      <button type="submit" class="small danger" aria-label={p.label}>Revoke</button>
    </form>
  );
}

/** What the connected-access tables show (also embedded in the Credentials page). */
export interface ConnectedData {
  grants: GrantView[];
  tokens: McpTokenView[];
  clients: ClientView[];
  relays: RegistrationView[];
}

interface Props extends ConnectedData {
  actor: UserActor;
  csrf: string;
  message?: string;
  error?: string;
}

/** The four tables of connected access, with revoke buttons. */
export function ConnectedSections(p: ConnectedData & { actor: UserActor; csrf: string }) {
  const wId = p.actor.workspace.sId;
  const grantRow = (g: GrantView) => (
    <tr data-grant={g.sId}>
      <td title={g.clientId}>{g.clientName ?? g.clientId}</td>
      <td>{g.userEmail}</td>
      <td>{g.access.readOnly ? "read" : g.scope}</td>
      <td class="nowrap">{when(g.createdAt)}</td>
      <td class="nowrap">{when(g.lastUsedAt)}</td>
      <td data-access>
        {accessSummary(g.access)}
        {g.own
          ? (
            <>
              {" "}
              <a
                href={`/w/${wId}/connected/grants/${g.sId}`}
                aria-label={`Edit access of ${g.clientName ?? g.clientId}`}
              >
                Edit
              </a>
            </>
          )
          : null}
      </td>
      <td>
        <RevokeButton
          wId={wId}
          csrf={p.csrf}
          kind="grant"
          id={g.sId}
          label={`Revoke ${g.clientName ?? g.clientId} for ${g.userEmail}`}
        />
      </td>
    </tr>
  );
  const tokenRow = (t: McpTokenView) => (
    <tr data-token={t.sId}>
      <td>
        <code>{t.prefix}…</code>
      </td>
      <td>{t.userEmail}</td>
      <td class="nowrap">{when(t.createdAt)}</td>
      <td class="nowrap">{when(t.expiresAt)}</td>
      <td class="nowrap">{when(t.lastUsedAt)}</td>
      <td>
        <RevokeButton
          wId={wId}
          csrf={p.csrf}
          kind="token"
          id={t.sId}
          label={`Revoke MCP token ${t.prefix} of ${t.userEmail}`}
        />
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
      <td class="num">{c.activeGrants}</td>
      <td class="nowrap">{when(c.lastUsedAt)}</td>
    </tr>
  );
  const relayRow = (r: RegistrationView) => (
    <tr data-relay={r.serverId}>
      <td>{r.serverName}</td>
      <td>{r.userEmail}</td>
      <td class="nowrap">{when(r.registeredAt)}</td>
      <td class="nowrap">{when(r.lastHeartbeatAt)}</td>
      <td>{r.connected ? "connected" : "registered"}</td>
      <td>
        <RevokeButton
          wId={wId}
          csrf={p.csrf}
          kind="relay"
          id={r.serverId}
          label={`Revoke ${r.serverName} of ${r.userEmail}`}
        />
      </td>
    </tr>
  );
  return (
    <>
      <h2>OAuth grants</h2>
      <Table
        head={["Client", "User", "Scopes", "Created", "Last used", "Reaches", ""]}
        rows={p.grants.length}
        empty="No AI client is connected with OAuth."
      >
        {p.grants.map(grantRow)}
      </Table>
      <h2>MCP tokens</h2>
      <Table
        head={["Token", "User", "Created", "Expires", "Last used", ""]}
        rows={p.tokens.length}
        empty="No active MCP token."
      >
        {p.tokens.map(tokenRow)}
      </Table>
      <h2>Registered clients</h2>
      <Table
        head={["Name", "Kind", "Client id", { label: "Active grants", num: true }, "Last used"]}
        rows={p.clients.length}
        empty="No OAuth client has registered."
      >
        {p.clients.map(clientRow)}
      </Table>
      <h2>Client-side MCP servers</h2>
      <Table
        head={["Server", "User", "Registered", "Last heartbeat", "Stream", ""]}
        rows={p.relays.length}
        empty="No client-side MCP server is registered."
      >
        {p.relays.map(relayRow)}
      </Table>
    </>
  );
}

/** Everything the connected-access tables show, for the actor (admins: everyone's). */
export async function loadConnected(c: Context<AppEnv>, actor: UserActor): Promise<ConnectedData> {
  const deps = c.get("deps");
  return {
    grants: await listGrants(deps.db, actor),
    tokens: await listMcpTokens(deps.db, actor),
    clients: await listClients(deps.db, actor),
    relays: await listRelayRegistrations(deps, actor),
  };
}

function ConnectedPage(p: Props) {
  return (
    <Layout title="Connected access">
      <div class="card">
        <h1>Connected access · {p.actor.workspace.name}</h1>
        <p class="muted">
          {p.actor.role === "admin"
            ? "Everyone's access to this workspace."
            : "Your access to this workspace."}
        </p>
        <Flash message={p.message} error={p.error} />
        <ConnectedSections {...p} />
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
  return c.html(
    <ConnectedPage actor={actor} csrf={csrf} {...await loadConnected(c, actor)} {...extra} />,
    extra.error ? 404 : 200,
  );
}

/** The edit page of one of the caller's own grants (404 for anyone else's). */
async function renderEdit(
  c: Context<AppEnv>,
  actor: UserActor,
  csrf: string,
  grantSId: string,
  error?: string,
  status = 400,
) {
  const db = c.get("deps").db;
  const g = (await listGrants(db, actor)).find((x) => x.sId === grantSId && x.own);
  if (!g) return await render(c, actor, csrf, { error: "No such active grant of yours." });
  const state: ChoiceState = {
    allSpaces: g.access.allSpaces,
    chosen: new Set(g.access.spaces.map((s) => s.sId)),
    conversations: g.access.conversations,
    readOnly: g.access.readOnly,
  };
  const spaces = (await listChoosableSpaces(db, actor)).map((s) => ({
    sId: s.sId,
    name: s.name,
    kind: s.kind,
    isRestricted: s.isRestricted,
  }));
  const name = g.clientName ?? g.clientId;
  return c.html(
    <Layout title="Edit access">
      <div class="card">
        <h1>What “{name}” may reach</h1>
        <Flash error={error} />
        <p class="muted">
          Now:{" "}
          {accessSummary(g.access)}. A change applies to the application's existing tokens from its
          next request.
        </p>
        <form method="post" action={`/w/${actor.workspace.sId}/connected/access`}>
          <Csrf token={csrf} />
          <input type="hidden" name="grant" value={g.sId} />
          <AccessChoiceFields state={state} canWrite={g.scope.split(" ").includes("write")}>
            <SpaceBoxes workspace={actor.workspace} spaces={spaces} state={state} />
          </AccessChoiceFields>
          <div class="actions">
            <button type="submit">Save</button>
            <a class="button secondary" href={`/w/${actor.workspace.sId}/connected`}>Cancel</a>
          </div>
        </form>
      </div>
    </Layout>,
    error ? status as 400 : 200,
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

  app.get("/w/:wId/connected/grants/:gId", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    return await renderEdit(c, page.actor, page.session.session.csrf, c.req.param("gId"));
  });

  app.post("/w/:wId/connected/access", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    const form = await readCsrfForm(c, page.session);
    if (!form) return formExpiredPage(c);
    const csrf = page.session.session.csrf;
    try {
      await editGrantAccess(c.get("deps").db, page.actor, form.grant ?? "", form);
      return await render(c, page.actor, csrf, { message: "Access updated." });
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      return await renderEdit(c, page.actor, csrf, form.grant ?? "", e.message, e.status);
    }
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
