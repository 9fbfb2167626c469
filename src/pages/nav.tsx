/** @jsxImportSource hono/jsx */
/**
 * The console's navigation, the same on every page: a header (brand, workspace, account,
 * sign out) and a side menu of the workspace's pages. What the viewer's role may not use is
 * not listed (the pages refuse it anyway). Which pages each role sees is {@link NAV_ITEMS},
 * one table, tested in tests/pages/nav_test.ts.
 * @module
 */
import type { Role } from "../auth/actor.ts";
import { currentSession, type PageSession } from "../auth/sessions.ts";
import { notePageSession, pageContext } from "./page_security.ts";
import type { Child } from "hono/jsx";

export interface NavItem {
  label: string;
  /** Path under `/w/<wId>` ("" for the workspace home). */
  path: string;
  group: "Workspace" | "Access" | "Admin";
  /** Roles that see the item. */
  roles: readonly Role[];
}

const EVERYONE: readonly Role[] = ["admin", "builder", "user"];
const ADMINS: readonly Role[] = ["admin"];

/** Every workspace page of the side menu and who sees it. */
export const NAV_ITEMS: readonly NavItem[] = [
  { label: "Home", path: "", group: "Workspace", roles: EVERYONE },
  { label: "Conversations", path: "/conversations", group: "Workspace", roles: EVERYONE },
  { label: "Agents", path: "/agents", group: "Workspace", roles: EVERYONE },
  { label: "Knowledge", path: "/knowledge", group: "Workspace", roles: EVERYONE },
  { label: "Spaces and Pods", path: "/spaces", group: "Workspace", roles: EVERYONE },
  { label: "Connect AI clients", path: "/integrations", group: "Access", roles: EVERYONE },
  { label: "Credentials", path: "/credentials", group: "Access", roles: EVERYONE },
  { label: "Connected access", path: "/connected", group: "Access", roles: EVERYONE },
  { label: "Members", path: "/members", group: "Admin", roles: ADMINS },
  { label: "Audit log", path: "/audit", group: "Admin", roles: ADMINS },
  { label: "MCP settings", path: "/settings", group: "Admin", roles: ADMINS },
  { label: "Connection doctor", path: "/doctor", group: "Admin", roles: ADMINS },
];

/** The side-menu items a role sees. */
export function navItemsFor(role: Role): NavItem[] {
  return NAV_ITEMS.filter((i) => i.roles.includes(role));
}

/** The viewer's session, looked up once per request (null when signed out or outside pages). */
export async function loadPageSession(): Promise<PageSession | null> {
  const ctx = pageContext();
  if (!ctx) return null;
  if (ctx.session === undefined) notePageSession(await currentSession(ctx.c));
  return ctx.session ?? null;
}

function current(href: string, exact: boolean): "page" | undefined {
  const path = pageContext()?.c.req.path ?? "";
  if (exact) return path === href ? "page" : undefined;
  return path === href || path.startsWith(`${href}/`) ? "page" : undefined;
}

function Link(props: { href: string; label: string; exact?: boolean }) {
  return (
    <li>
      <a href={props.href} aria-current={current(props.href, props.exact ?? false)}>
        {props.label}
      </a>
    </li>
  );
}

/** The header: brand, the workspace (switch), the viewer, account and sign-out. */
export async function SiteHeader() {
  const session = await loadPageSession();
  const ws = pageContext()?.workspace;
  return (
    <header class="top">
      <a class="brand" href="/">dust-mcp</a>
      {ws
        ? (
          <a class="ws" href="/w" title="Switch workspace">
            {ws.name} <span class="badge">{ws.role}</span>
          </a>
        )
        : null}
      <span class="spacer"></span>
      {session
        ? (
          <>
            <a href="/account">{session.user.email}</a>
            <form method="post" action="/logout">
              <input type="hidden" name="csrf" value={session.session.csrf} />
              <button type="submit" class="secondary">Sign out</button>
            </form>
          </>
        )
        : <a href="/login">Sign in</a>}
    </header>
  );
}

/** The side menu; `fallback` is a page's own nav, shown only when there is no viewer. */
export async function SiteNav(props: { fallback?: Child }) {
  const session = await loadPageSession();
  if (!session) return props.fallback ? <>{props.fallback}</> : null;
  const ws = pageContext()?.workspace;
  const base = ws ? `/w/${ws.sId}` : null;
  const items = ws ? navItemsFor(ws.role) : [];
  const groups = ["Workspace", "Access", "Admin"] as const;
  return (
    <nav class="side" aria-label="Console">
      {base
        ? groups.map((g) => {
          const mine = items.filter((i) => i.group === g);
          return mine.length
            ? (
              <>
                <div class="group">{g}</div>
                <ul>
                  {mine.map((i) => (
                    <Link href={`${base}${i.path}`} label={i.label} exact={i.path === ""} />
                  ))}
                </ul>
              </>
            )
            : null;
        })
        : null}
      <div class="group">You</div>
      <ul>
        <Link href="/w" label="Workspaces" exact />
        <Link href="/account" label="Account" />
        {session.user.isInstanceAdmin
          ? <Link href="/admin/model" label="Model (instance)" />
          : null}
        <Link href="/api/v1/reference" label="REST API reference" />
      </ul>
    </nav>
  );
}

/**
 * The navigation pages written before it was automatic passed as `nav`: kept so they (and
 * pages written against that API) still compile; it renders nothing the side menu lacks.
 */
export function WorkspaceNav(_props: { wId: string; admin: boolean }) {
  return null;
}
