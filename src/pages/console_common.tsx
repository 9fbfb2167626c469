/** @jsxImportSource hono/jsx */
/**
 * Shared plumbing of the knowledge, agents and conversations pages: their security headers
 * (the pages' strict CSP, plus a per-response script nonce when a page carries a script), the
 * signed-in member in the workspace of the URL, the one way a core `AppError` becomes a page,
 * and small formatters.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Child } from "hono/jsx";
import type { AppEnv } from "../deps.ts";
import type { UserActor } from "../auth/actor.ts";
import type { PageSession } from "../auth/sessions.ts";
import { AppError } from "../errors.ts";
import { cspNonce, securePage } from "./page_security.ts";
import { Layout, MessagePage } from "./layout.tsx";
import { requireWorkspacePage } from "./page_auth.ts";

/**
 * The script nonce of this response: the page context's (page_security.ts), which the CSP
 * `securePage` sets already allows, as for every page of the console.
 */
export function scriptNonce(_c: Context): string {
  const nonce = cspNonce();
  if (!nonce) throw new Error("scriptNonce() outside a page request");
  return nonce;
}

/**
 * Headers and context of every console page: the same as every other page (`securePage`: the
 * page context the layout reads for the viewer and the navigation, the nonce CSP, not
 * frameable, no referrer, not cached).
 */
export const consolePage: MiddlewareHandler<AppEnv> = securePage;

export type ConsolePage = { session: PageSession; actor: UserActor };

/**
 * Run a page handler for the signed-in member of `:wId`: a visitor is sent to sign-in, a
 * non-member gets the workspace's 404, and a refusal from the core (`AppError` 4xx) becomes an
 * error page with its status; anything else goes to the app's error handler.
 */
export async function withMember(
  c: Context<AppEnv>,
  handler: (page: ConsolePage) => Promise<Response>,
): Promise<Response> {
  const page = await requireWorkspacePage(c, c.req.param("wId") ?? "");
  if (page instanceof Response) return page;
  try {
    return await handler(page);
  } catch (e) {
    if (e instanceof AppError && e.status < 500) return errorPage(c, e);
    throw e;
  }
}

const ERROR_TITLES: Record<number, string> = {
  400: "Request refused",
  401: "Not allowed",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  413: "Too large",
  429: "Too many requests",
};

/** A core refusal as a page (status kept; the message is the core's, written for people). */
export function errorPage(c: Context<AppEnv>, e: AppError): Response | Promise<Response> {
  const title = ERROR_TITLES[e.status] ?? "Request refused";
  const wId = c.req.param("wId");
  return c.html(
    <MessagePage title={title}>
      <p>{e.message}</p>
      {wId
        ? (
          <p>
            <a href={`/w/${wId}`}>Back to the workspace</a>
          </p>
        )
        : null}
    </MessagePage>,
    e.status as 400,
  );
}

/** A console page: the layout with a breadcrumb line above the content. */
export function ConsoleLayout(props: { title: string; crumbs?: Child; children: Child }) {
  return (
    <Layout title={props.title}>
      {props.crumbs ? <p class="muted" aria-label="Breadcrumb">{props.crumbs}</p> : null}
      {props.children}
    </Layout>
  );
}

/** A notice line: success (status) or error (alert). */
export function Notice(props: { ok?: string | null; error?: string | null }) {
  return (
    <>
      {props.ok ? <p class="ok" role="status">{props.ok}</p> : null}
      {props.error ? <p class="error" role="alert">{props.error}</p> : null}
    </>
  );
}

/** `1536` → `1.5 KB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024, i++);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** An epoch-ms instant as a `<time>` in UTC (`2026-05-01 14:03 UTC`). */
export function Time(props: { ms: number }) {
  const iso = new Date(props.ms).toISOString();
  return <time datetime={iso}>{`${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`}</time>;
}

/** A query string from the set values (`?a=1&b=2`, or empty). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

/** The hidden CSRF field of a form. */
export function Csrf(props: { page: ConsolePage }) {
  return <input type="hidden" name="csrf" value={props.page.session.session.csrf} />;
}
