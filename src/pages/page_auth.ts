/**
 * Shared plumbing of the signed-in pages: the origin check (hono `csrf()` against the public
 * origin) plus the per-session CSRF token on every POST, and the page actor (a user acting in
 * one workspace through their browser session).
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import type { AppEnv } from "../deps.ts";
import type { UserActor } from "../auth/actor.ts";
import { csrfMatches, currentSession, type PageSession } from "../auth/sessions.ts";
import { findWorkspaceBySId, getRole, toWorkspaceRef } from "../core/workspaces.ts";
import { toUserRef } from "../core/users.ts";
import { notePageSession, notePageWorkspace } from "./page_security.ts";
import { errorPage, formExpiredPage } from "./layout.tsx";
import { AppError } from "../errors.ts";

/** Origin check for page POSTs: the request must come from this server's public origin. */
export const originCheck: MiddlewareHandler<AppEnv> = (c, next) =>
  csrf({ origin: c.get("deps").config.publicUrl })(c, next);

/** Read a form and verify its CSRF token against the session; null when it does not match. */
export async function readCsrfForm(
  c: Context<AppEnv>,
  session: PageSession,
): Promise<Record<string, string> | null> {
  const body = await c.req.parseBody();
  const form: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string") form[k] = v;
  return csrfMatches(session.session, form.csrf) ? form : null;
}

/** The session user acting in workspace `wId`, or null when not a member. */
export async function pageActor(
  c: Context<AppEnv>,
  session: PageSession,
  wId: string,
): Promise<UserActor | null> {
  const db = c.get("deps").db;
  const ws = await findWorkspaceBySId(db, wId);
  if (!ws) return null;
  const role = await getRole(db, ws.id, session.user.id);
  if (!role) return null;
  notePageWorkspace({ sId: ws.sId, name: ws.name, role });
  return {
    kind: "user",
    user: toUserRef(session.user),
    workspace: toWorkspaceRef(ws),
    role,
    scopes: new Set(["read", "write"]),
    credential: { kind: "session", id: session.session.idHash.slice(0, 12) },
  };
}

/** A local path safe to redirect to after sign-in (no open redirector: L 2.1). */
export function safeNextPath(next: string | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.includes("\\")) {
    return "/";
  }
  // Browsers drop tabs and newlines while parsing a URL ("/\t/evil.example" becomes
  // "//evil.example", another origin), and control characters cannot go in a Location header.
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(next)) return "/";
  if (new URL(next, "http://local.invalid").host !== "local.invalid") return "/";
  return next;
}

export { currentSession };

/** Redirect to sign-in (coming back here afterwards). */
export function toLogin(c: Context<AppEnv>): Response {
  const url = new URL(c.req.url);
  return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
}

/** The signed-in session, or a redirect to the sign-in page. */
export async function requireSession(c: Context<AppEnv>): Promise<PageSession | Response> {
  const session = await currentSession(c);
  notePageSession(session);
  return session ?? toLogin(c);
}

/** The message a page shows for a workspace that is not there or not the viewer's. */
export const WORKSPACE_NOT_FOUND =
  "This workspace does not exist, or you are not a member of it. Ask one of its admins for an invitation.";

/** The session and the page actor in workspace `wId`, or the response to send instead. */
export async function requireWorkspacePage(
  c: Context<AppEnv>,
  wId: string,
): Promise<{ session: PageSession; actor: UserActor } | Response> {
  const session = await currentSession(c);
  notePageSession(session);
  if (!session) return toLogin(c);
  const actor = await pageActor(c, session, wId);
  if (!actor) return await errorPage(c, 404, "Workspace not found", WORKSPACE_NOT_FOUND);
  return { session, actor };
}

/** A signed-in member on a workspace page. */
export interface WorkspacePage {
  session: PageSession;
  actor: UserActor;
}

/** What a page shows after a form: a confirmation or the reason it was refused. */
export interface FormOutcome {
  message?: string;
  error?: string;
}

/**
 * The POST handler of a workspace page's form: the viewer must be signed in and a member, the
 * form must carry the session's CSRF token (else nothing runs), then `act` runs and the page
 * is rendered with its outcome. A refusal the viewer can fix (4xx) is shown on the page with
 * its status; the page itself still decides what the viewer may see (a 403 there becomes the
 * error page).
 */
export function formAction<E extends FormOutcome>(
  render: (
    c: Context<AppEnv>,
    page: WorkspacePage,
    outcome: E,
    status?: number,
  ) => Promise<Response>,
  act: (c: Context<AppEnv>, page: WorkspacePage, form: Record<string, string>) => Promise<E>,
) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const page = await requireWorkspacePage(c, c.req.param("wId") ?? "");
    if (page instanceof Response) return page;
    const form = await readCsrfForm(c, page.session);
    if (!form) return await formExpiredPage(c);
    let outcome: E;
    try {
      outcome = await act(c, page, form);
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      if (e.status === 429) c.header("Retry-After", String(e.extra?.retryAfter ?? 60));
      return await render(c, page, { error: e.message } as E, e.status);
    }
    return await render(c, page, outcome);
  };
}
