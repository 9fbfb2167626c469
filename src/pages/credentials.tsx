/** @jsxImportSource hono/jsx */
/**
 * Credentials, one place: the viewer's MCP token (generate: shown once, replaces the previous
 * one), their personal access tokens for the REST API (create: shown once; revoke), the
 * workspace's API keys (admins: create, shown once; revoke) and connected access (OAuth
 * grants, MCP tokens, registered clients, client-side MCP servers, with revoke). Secrets are
 * rendered in the one response that creates them, never stored in clear, never shown again.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Copyable, Csrf, Flash, Layout, Table, when } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import {
  formAction,
  type FormOutcome,
  originCheck,
  requireWorkspacePage,
  type WorkspacePage,
} from "./page_auth.ts";
import { createMcpToken, MCP_TOKEN_TTL_MS } from "../core/mcp_tokens.ts";
import {
  createOwnPersonalToken,
  listOwnPersonalTokens,
  type PersonalTokenView,
  revokeOwnPersonalToken,
} from "../core/personal_tokens.ts";
import { type ApiKeyView, createApiKey, listApiKeys, revokeApiKey } from "../core/api_keys.ts";
import { type ConnectedData, ConnectedSections, loadConnected } from "./connected_access.tsx";
import { mcpResourceUrl } from "../config.ts";

interface Outcome extends FormOutcome {
  /** A secret just created: shown in this response only. */
  secret?: { kind: "mcp" | "pat" | "key"; value: string; name?: string };
}

interface Props {
  page: WorkspacePage;
  mcpUrl: string;
  pats: PersonalTokenView[];
  keys: ApiKeyView[] | null;
  connected: ConnectedData;
  outcome: Outcome;
}

const stateOf = (t: { revokedAt: number | null; expiresAt?: number | null }) =>
  t.revokedAt ? "revoked" : t.expiresAt && t.expiresAt <= Date.now() ? "expired" : "active";

function Secret(p: { outcome: Outcome; kind: "mcp" | "pat" | "key" }) {
  const s = p.outcome.secret;
  if (!s || s.kind !== p.kind) return null;
  return (
    <div>
      <p class="ok" role="status">
        {s.name ? `“${s.name}” created. ` : ""}Copy it now: it will not be shown again.
      </p>
      <Copyable id={`new-${p.kind}`} text={s.value} label="Copy the new secret" />
    </div>
  );
}

function McpTokenCard(p: Props & { base: string; csrf: string }) {
  const mine = p.connected.tokens.filter((t) => t.userSId === p.page.actor.user.sId);
  return (
    <div class="card" id="mcp-token">
      <h2>Your MCP token</h2>
      <p class="muted">
        For AI clients without OAuth (ChatGPT-style connectors, Raycast, scripts): send it as{" "}
        <code>Authorization: Bearer …</code> to <code>{p.mcpUrl}</code>. It lasts{" "}
        {Math.round(MCP_TOKEN_TTL_MS / 86_400_000)}{" "}
        days; generating a new one revokes the previous one.
      </p>
      <Secret outcome={p.outcome} kind="mcp" />
      <p>
        {mine.length
          ? `Active token: ${mine[0].prefix}… (created ${when(mine[0].createdAt)}, last used ${
            when(mine[0].lastUsedAt)
          }).`
          : "You have no active MCP token."}
      </p>
      <form method="post" action={`${p.base}/mcp-token`}>
        <Csrf token={p.csrf} />
        <button type="submit">
          {mine.length ? "Replace my MCP token" : "Generate an MCP token"}
        </button>
      </form>
    </div>
  );
}

function PatCard(p: Props & { base: string; csrf: string }) {
  return (
    <div class="card" id="personal-tokens">
      <h2>Your personal access tokens</h2>
      <p class="muted">
        For scripts on the REST API (<code>/api/v1</code>), acting as you in this workspace. Not
        accepted on <code>/mcp</code>.
      </p>
      <Secret outcome={p.outcome} kind="pat" />
      <Table
        head={["Name", "Token", "Created", "Expires", "Last used", "State", ""]}
        rows={p.pats.length}
        empty="You have no personal access token."
      >
        {p.pats.map((t) => (
          <tr data-pat={t.sId}>
            <td>{t.name}</td>
            <td>
              <code>{t.prefix}…</code>
            </td>
            <td class="nowrap">{when(t.createdAt)}</td>
            <td class="nowrap">{t.expiresAt ? when(t.expiresAt) : "never"}</td>
            <td class="nowrap">{when(t.lastUsedAt)}</td>
            <td>{stateOf(t)}</td>
            <td>
              {t.revokedAt ? null : (
                <form method="post" action={`${p.base}/personal-tokens/revoke`}>
                  <Csrf token={p.csrf} />
                  <input type="hidden" name="id" value={t.sId} />
                  <button type="submit" class="small danger" aria-label={`Revoke ${t.name}`}>
                    Revoke
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <form method="post" action={`${p.base}/personal-tokens`} class="row-form">
        <Csrf token={p.csrf} />
        <div>
          <label for="pat-name">Name</label>
          <input id="pat-name" type="text" name="name" required maxlength={255} />
        </div>
        <div>
          <label for="pat-days">Expires after (days, empty: never)</label>
          <input id="pat-days" type="number" name="days" min={1} max={3650} />
        </div>
        <div>
          <button type="submit">Create token</button>
        </div>
      </form>
    </div>
  );
}

function ApiKeysCard(p: Props & { base: string; csrf: string; keys: ApiKeyView[] }) {
  return (
    <div class="card" id="api-keys">
      <h2>Workspace API keys</h2>
      <p class="muted">
        A key acts as the workspace on the REST API (builder level, no user): for integrations that
        are nobody's in particular. Admins only.
      </p>
      <Secret outcome={p.outcome} kind="key" />
      <Table
        head={["Name", "Key", "Created by", "Created", "Last used", "State", ""]}
        rows={p.keys.length}
        empty="No API key."
      >
        {p.keys.map((k) => (
          <tr data-key={k.sId}>
            <td>{k.name}</td>
            <td>
              <code>{k.prefix}…</code>
            </td>
            <td>{k.createdBy ?? "operator"}</td>
            <td class="nowrap">{when(k.createdAt)}</td>
            <td class="nowrap">{when(k.lastUsedAt)}</td>
            <td>{stateOf(k)}</td>
            <td>
              {k.revokedAt ? null : (
                <form method="post" action={`${p.base}/api-keys/revoke`}>
                  <Csrf token={p.csrf} />
                  <input type="hidden" name="id" value={k.sId} />
                  <button type="submit" class="small danger" aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </Table>
      <form method="post" action={`${p.base}/api-keys`} class="row-form">
        <Csrf token={p.csrf} />
        <div>
          <label for="key-name">Name</label>
          <input id="key-name" type="text" name="name" required maxlength={255} />
        </div>
        <div>
          <button type="submit">Create API key</button>
        </div>
      </form>
    </div>
  );
}

function CredentialsPage(p: Props) {
  const base = `/w/${p.page.actor.workspace.sId}/credentials`;
  const csrf = p.page.session.session.csrf;
  return (
    <Layout title="Credentials">
      <div class="card">
        <h1>Credentials</h1>
        <p class="muted">
          Everything that lets a client or a script in: your MCP token and personal access tokens,
          {p.keys ? " the workspace's API keys," : ""} and every connected AI client.
        </p>
        <Flash message={p.outcome.message} error={p.outcome.error} />
      </div>
      <McpTokenCard {...p} base={base} csrf={csrf} />
      <PatCard {...p} base={base} csrf={csrf} />
      {p.keys ? <ApiKeysCard {...p} keys={p.keys} base={base} csrf={csrf} /> : null}
      <div class="card" id="connected">
        <h2>Connected access</h2>
        <p class="muted">
          {p.page.actor.role === "admin"
            ? "Everyone's AI clients in this workspace."
            : "Your AI clients in this workspace."}
        </p>
        <ConnectedSections {...p.connected} actor={p.page.actor} csrf={csrf} />
      </div>
    </Layout>
  );
}

async function render(c: Context<AppEnv>, page: WorkspacePage, outcome: Outcome, status = 200) {
  const deps = c.get("deps");
  const actor = page.actor;
  return c.html(
    <CredentialsPage
      page={page}
      mcpUrl={mcpResourceUrl(deps.config)}
      pats={(await listOwnPersonalTokens(deps, actor, { limit: 100 })).tokens}
      keys={actor.role === "admin" ? (await listApiKeys(deps, actor, { limit: 100 })).keys : null}
      connected={await loadConnected(c, actor)}
      outcome={outcome}
    />,
    status as 200,
  );
}

export function credentialsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/credentials", securePage);
  app.use("/w/:wId/credentials/*", securePage, originCheck);

  app.get("/w/:wId/credentials", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    return page instanceof Response ? page : await render(c, page, {});
  });

  app.post(
    "/w/:wId/credentials/mcp-token",
    formAction<Outcome>(render, async (c, page) => {
      const created = await createMcpToken(c.get("deps").db, page.actor);
      return { secret: { kind: "mcp", value: created.token } };
    }),
  );

  app.post(
    "/w/:wId/credentials/personal-tokens",
    formAction<Outcome>(render, async (c, page, form) => {
      const days = (form.days ?? "").trim();
      const r = await createOwnPersonalToken(c.get("deps"), page.actor, {
        name: form.name ?? "",
        expiresInDays: days === "" ? null : Number(days),
      });
      return { secret: { kind: "pat", value: r.secret, name: r.token.name } };
    }),
  );

  app.post(
    "/w/:wId/credentials/personal-tokens/revoke",
    formAction<Outcome>(render, async (c, page, form) => {
      const t = await revokeOwnPersonalToken(c.get("deps"), page.actor, { tokenId: form.id ?? "" });
      return { message: `Token “${t.name}” revoked.` };
    }),
  );

  app.post(
    "/w/:wId/credentials/api-keys",
    formAction<Outcome>(render, async (c, page, form) => {
      const r = await createApiKey(c.get("deps"), page.actor, { name: form.name ?? "" });
      return { secret: { kind: "key", value: r.secret, name: r.key.name } };
    }),
  );

  app.post(
    "/w/:wId/credentials/api-keys/revoke",
    formAction<Outcome>(render, async (c, page, form) => {
      const k = await revokeApiKey(c.get("deps"), page.actor, { keyId: form.id ?? "" });
      return { message: `API key “${k.name}” revoked.` };
    }),
  );
  return app;
}
