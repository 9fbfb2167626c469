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
    return "/account";
  }
  // Browsers drop tabs and newlines while parsing a URL ("/\t/evil.example" becomes
  // "//evil.example", another origin), and control characters cannot go in a Location header.
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(next)) return "/account";
  if (new URL(next, "http://local.invalid").host !== "local.invalid") return "/account";
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
  return await currentSession(c) ?? toLogin(c);
}

/** The session and the page actor in workspace `wId`, or the response to send instead. */
export async function requireWorkspacePage(
  c: Context<AppEnv>,
  wId: string,
): Promise<{ session: PageSession; actor: UserActor } | Response> {
  const session = await currentSession(c);
  if (!session) return toLogin(c);
  const actor = await pageActor(c, session, wId);
  if (!actor) return c.html("<h1>Workspace not found</h1>", 404);
  return { session, actor };
}
