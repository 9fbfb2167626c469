/** @jsxImportSource hono/jsx */
/**
 * The account page: who is signed in, their workspaces, the password change (which revokes
 * every credential of the user: `core/account.ts`) and sign-out.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { Flash, formExpiredPage, Layout, Table } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { originCheck, readCsrfForm, requireSession } from "./page_auth.ts";
import { listUserWorkspaces, type MembershipView } from "../core/workspaces.ts";
import { changePassword } from "../core/account.ts";
import { AppError } from "../errors.ts";
import { type PageSession, readDeviceCookie } from "../auth/sessions.ts";
import { clientAddress } from "../auth/rate_limit.ts";

/** Kept for pages that passed it as `nav`: the navigation is now automatic (nav.tsx). */
export { WorkspaceNav } from "./nav.tsx";

function workspaceRow(m: MembershipView) {
  return (
    <tr>
      <td>
        <a href={`/w/${m.workspace.sId}`}>{m.workspace.name}</a>{" "}
        <code class="muted">{m.workspace.sId}</code>
      </td>
      <td>{m.role}</td>
    </tr>
  );
}

function AccountPage(
  props: { s: PageSession; workspaces: MembershipView[]; message?: string; error?: string },
) {
  return (
    <Layout title="Account">
      <div class="card">
        <h1>Signed in as {props.s.user.email}</h1>
        <Flash message={props.message} error={props.error} />
        <h2>Workspaces</h2>
        <Table
          head={["Workspace", "Your role"]}
          rows={props.workspaces.length}
          empty="You are not a member of any workspace."
        >
          {props.workspaces.map(workspaceRow)}
        </Table>
        <form method="post" action="/logout">
          <input type="hidden" name="csrf" value={props.s.session.csrf} />
          <button type="submit" class="secondary">Sign out</button>
        </form>
      </div>
      <div class="card">
        <h2>Change password</h2>
        <p class="muted">
          Changing your password disconnects every AI client and script: all your OAuth grants, MCP
          tokens and personal access tokens are revoked, your client-side MCP server registrations
          are removed, and your other browser sessions end.
        </p>
        <form method="post" action="/account/password">
          <input type="hidden" name="csrf" value={props.s.session.csrf} />
          <label for="current">Current password</label>
          <input
            id="current"
            type="password"
            name="current"
            required
            autocomplete="current-password"
          />
          <label for="next">New password (at least 8 characters)</label>
          <input
            id="next"
            type="password"
            name="next"
            required
            minlength={8}
            autocomplete="new-password"
          />
          <button type="submit">Change password</button>
        </form>
      </div>
    </Layout>
  );
}

export function accountRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/account", securePage);
  app.use("/account/*", securePage);
  app.use("/account/*", originCheck);

  app.get("/account", async (c) => {
    const s = await requireSession(c);
    if (s instanceof Response) return s;
    return c.html(
      <AccountPage s={s} workspaces={await listUserWorkspaces(c.get("deps").db, s.user.id)} />,
    );
  });

  app.post("/account/password", async (c) => {
    const s = await requireSession(c);
    if (s instanceof Response) return s;
    const form = await readCsrfForm(c, s);
    const db = c.get("deps").db;
    if (!form) {
      return formExpiredPage(c);
    }
    const workspaces = await listUserWorkspaces(db, s.user.id);
    try {
      const r = await changePassword(c.get("deps"), {
        userId: s.user.id,
        current: form.current ?? "",
        next: form.next ?? "",
        keepSessionIdHash: s.session.idHash,
        address: clientAddress(c),
        device: readDeviceCookie(c),
      });
      const message = `Password changed. ${r.grantsRevoked} OAuth grant(s), ${r.tokensRevoked} ` +
        `MCP token(s) and ${r.personalTokensRevoked} personal access token(s) revoked; ` +
        `${r.relayRegistrationsRemoved} client-side MCP server registration(s) removed.`;
      return c.html(<AccountPage s={s} workspaces={workspaces} message={message} />);
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      if (e.status === 429) c.header("Retry-After", String(e.extra?.retryAfter ?? 60));
      const status = e.status === 429 ? 429 : 400;
      return c.html(<AccountPage s={s} workspaces={workspaces} error={e.message} />, status);
    }
  });
  return app;
}
