/** @jsxImportSource hono/jsx */
/**
 * Workspace admin MCP settings (dust.md §2.6): MCP server on/off, redirect-URI policy ("accept
 * all" or an allowlist of Dust's patterns), allow token in URL, and static OAuth clients
 * (create with or without a secret, delete); and the workspace's storage usage against its
 * quotas, with the members who store the most. Admins only. The switch and the policy govern
 * every OAuth application, MCP and REST alike (src/core/workspace_settings.ts says why).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { errorPage, Flash, formExpiredPage, Layout, Table } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireWorkspacePage } from "./page_auth.ts";
import { getMcpSettings, updateMcpSettings } from "../core/workspace_settings.ts";
import {
  type AuthMethod,
  type ClientView,
  createStaticClient,
  deleteStaticClient,
  listClients,
} from "../core/oauth_clients.ts";
import type { WorkspaceRow } from "../core/workspaces.ts";
import { AppError } from "../errors.ts";
import type { UserActor } from "../auth/actor.ts";
import { formatBytes, getStorageUsage } from "../core/storage_quota.ts";

type StorageUsage = Awaited<ReturnType<typeof getStorageUsage>>;

interface Props {
  ws: WorkspaceRow;
  storage: StorageUsage;
  csrf: string;
  statics: ClientView[];
  message?: string;
  error?: string;
  created?: { clientId: string; secret: string | null };
}

function StaticRow(props: { c: ClientView; wId: string; csrf: string }) {
  return (
    <tr>
      <td>{props.c.name}</td>
      <td>
        <code>{props.c.clientId}</code>
      </td>
      <td>{props.c.authMethod}</td>
      <td>{props.c.redirectUris.join(" ")}</td>
      <td>
        <form method="post" action={`/w/${props.wId}/settings/clients/delete`}>
          <input type="hidden" name="csrf" value={props.csrf} />
          <input type="hidden" name="client_id" value={props.c.clientId} />
          <button type="submit" class="small danger" aria-label={`Delete ${props.c.name}`}>
            Delete
          </button>
        </form>
      </td>
    </tr>
  );
}

const quotaText = (n: number | null) => (n === null ? "unlimited" : formatBytes(n));

/** Usage against the quotas, and the members who store the most (storage_quota.ts). */
function StorageCard(props: { s: StorageUsage }) {
  const { quota, workspace: w, members } = props.s;
  return (
    <div class="card">
      <h2>Storage</h2>
      <p id="storage-used">
        {formatBytes(w.usedBytes)} used of {quotaText(quota.workspaceBytes)} (files{" "}
        {formatBytes(w.fileBytes)}, documents {formatBytes(w.documentBytes)}, uploads in progress
        {" "}
        {formatBytes(w.reservedBytes)}). Each member may store {quotaText(quota.memberBytes)}.
      </p>
      <Table
        head={[
          "Member",
          { label: "Files", num: true },
          { label: "Documents", num: true },
          { label: "Total", num: true },
        ]}
        rows={members.length}
        empty="Nothing stored yet."
      >
        {members.map((m) => (
          <tr>
            <td>{m.user ? `${m.user.fullName} (${m.user.email})` : "No member (API keys)"}</td>
            <td class="num">{formatBytes(m.fileBytes)}</td>
            <td class="num">{formatBytes(m.documentBytes)}</td>
            <td class="num">{formatBytes(m.usedBytes)}</td>
          </tr>
        ))}
      </Table>
    </div>
  );
}

function SettingsPage(p: Props) {
  const row = (c: ClientView) => <StaticRow c={c} wId={p.ws.sId} csrf={p.csrf} />;
  return (
    <Layout title="MCP settings">
      <div class="card">
        <h1>MCP settings · {p.ws.name}</h1>
        <Flash message={p.message} error={p.error} />
        <form method="post" action={`/w/${p.ws.sId}/settings`}>
          <input type="hidden" name="csrf" value={p.csrf} />
          <label class="inline">
            <input type="checkbox" name="mcp_enabled" value="1" checked={p.ws.mcpEnabled} />{" "}
            MCP server enabled for this workspace
          </label>
          <p class="muted" id="oauth-scope-note">
            This switch and the redirect-URI policy below govern every OAuth application, for the
            MCP server and for the REST API (<code>/api/v1</code>): at consent, at token exchange
            and refresh, and on every request. Turning the switch off stops the MCP server, MCP
            tokens and all OAuth applications; API keys and personal access tokens keep working.
          </p>
          <label class="inline">
            <input
              type="checkbox"
              name="allow_token_in_url"
              value="1"
              checked={p.ws.allowTokenInUrl}
            />{" "}
            Allow MCP tokens in the URL (<code>?token=</code>)
          </label>
          <label for="policy">Redirect URIs of OAuth clients</label>
          <select id="policy" name="redirect_policy">
            <option value="all" selected={p.ws.redirectPolicy === "all"}>Accept all</option>
            <option value="allowlist" selected={p.ws.redirectPolicy === "allowlist"}>
              Allowlist only
            </option>
          </select>
          <label for="allowlist">
            Allowlist (one per line: <code>*</code>, <code>scheme://host:*[/path]</code>, or exact)
          </label>
          <textarea id="allowlist" name="allowed_redirect_uris" rows={5}>
            {p.ws.allowedRedirectUris.join("\n")}
          </textarea>
          <button type="submit">Save settings</button>
        </form>
      </div>
      <div class="card">
        <h2>Static OAuth clients</h2>
        {p.created
          ? (
            <div>
              <p class="ok">
                Client created: <code id="new-client-id">{p.created.clientId}</code>
              </p>
              {p.created.secret
                ? (
                  <p>
                    Secret (shown once): <code id="new-client-secret">{p.created.secret}</code>
                  </p>
                )
                : null}
            </div>
          )
          : null}
        <Table
          head={["Name", "Client id", "Authentication", "Redirect URIs", ""]}
          rows={p.statics.length}
          empty="No static client."
        >
          {p.statics.map(row)}
        </Table>
        <form method="post" action={`/w/${p.ws.sId}/settings/clients`}>
          <input type="hidden" name="csrf" value={p.csrf} />
          <label for="name">Name</label>
          <input id="name" type="text" name="name" required maxlength={200} />
          <label for="redirects">Redirect URIs (one per line)</label>
          <textarea id="redirects" name="redirect_uris" rows={3} required></textarea>
          <label for="method">Token endpoint authentication</label>
          <select id="method" name="auth_method">
            <option value="none">none (public client, PKCE only)</option>
            <option value="client_secret_basic">client_secret_basic</option>
            <option value="client_secret_post">client_secret_post</option>
          </select>
          <button type="submit">Create client</button>
        </form>
      </div>
      <StorageCard s={p.storage} />
    </Layout>
  );
}

async function adminPage(
  c: Context<AppEnv>,
): Promise<{ actor: UserActor; csrf: string } | Response> {
  const page = await requireWorkspacePage(c, c.req.param("wId") ?? "");
  if (page instanceof Response) return page;
  if (page.actor.role !== "admin") {
    return await errorPage(c, 403, "Admins only", "Only workspace admins can change MCP settings.");
  }
  return { actor: page.actor, csrf: page.session.session.csrf };
}

async function render(
  c: Context<AppEnv>,
  a: { actor: UserActor; csrf: string },
  extra: Partial<Props> = {},
) {
  const db = c.get("deps").db;
  const statics = (await listClients(db, a.actor)).filter((x) => x.kind === "static");
  const ws = await getMcpSettings(db, a.actor.workspace.id);
  const storage = await getStorageUsage(c.get("deps"), a.actor, { limit: 20 });
  return c.html(
    <SettingsPage ws={ws} csrf={a.csrf} statics={statics} storage={storage} {...extra} />,
    extra.error ? 400 : 200,
  );
}

const lines = (s: string | undefined) =>
  (s ?? "").split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

export function workspaceSettingsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/settings", securePage, originCheck);
  app.use("/w/:wId/settings/*", securePage, originCheck);

  app.get("/w/:wId/settings", async (c) => {
    const a = await adminPage(c);
    return a instanceof Response ? a : await render(c, a);
  });

  /** Run a form action; AppErrors become the page's error message. */
  const action = (
    fn: (
      c: Context<AppEnv>,
      a: { actor: UserActor; csrf: string },
      form: Record<string, string>,
    ) => Promise<Partial<Props>>,
  ) =>
  async (c: Context<AppEnv>) => {
    const a = await adminPage(c);
    if (a instanceof Response) return a;
    const page = await requireWorkspacePage(c, c.req.param("wId") ?? "");
    if (page instanceof Response) return page;
    const form = await readCsrfForm(c, page.session);
    if (!form) {
      return formExpiredPage(c);
    }
    try {
      return await render(c, a, await fn(c, a, form));
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      return await render(c, a, { error: e.message });
    }
  };

  app.post(
    "/w/:wId/settings",
    action(async (c, a, form) => {
      await updateMcpSettings(c.get("deps").db, a.actor, {
        mcpEnabled: form.mcp_enabled === "1",
        allowTokenInUrl: form.allow_token_in_url === "1",
        redirectPolicy: form.redirect_policy as "all" | "allowlist",
        allowedRedirectUris: lines(form.allowed_redirect_uris),
      });
      return { message: "Settings saved." };
    }),
  );

  app.post(
    "/w/:wId/settings/clients",
    action(async (c, a, form) => {
      const { client, secret } = await createStaticClient(c.get("deps").db, a.actor, {
        name: form.name ?? "",
        redirectUris: lines(form.redirect_uris),
        authMethod: (form.auth_method ?? "none") as AuthMethod,
      });
      return { created: { clientId: client.clientId, secret } };
    }),
  );

  app.post(
    "/w/:wId/settings/clients/delete",
    action(async (c, a, form) => {
      await deleteStaticClient(c.get("deps").db, a.actor, form.client_id ?? "");
      return { message: "Client deleted; its grants are revoked." };
    }),
  );
  return app;
}
