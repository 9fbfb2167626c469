/**
 * Headers every HTML page carries, and the per-request page context the layout reads.
 *
 * The Content-Security-Policy allows no inline script or style but the ones carrying this
 * response's nonce (a fresh random value per response): the layout's `<style>` and the
 * console's scripts, served from the binary under `/static/` (src/pages/assets.ts). No
 * `'unsafe-inline'`, nothing from another origin, not frameable (`frame-ancestors 'none'` on
 * top of the global `X-Frame-Options: DENY`), no referrer, no caching. `connect-src 'self'`
 * lets a page's script read this server's event streams.
 *
 * The context (nonce, the signed-in user and the workspace the page is about) lives for the
 * request in an AsyncLocalStorage, so `Layout` renders the same navigation on every page
 * without each page passing it down.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../deps.ts";
import type { Role } from "../auth/actor.ts";
import type { PageSession } from "../auth/sessions.ts";

/** What the layout needs to know about the request it renders. */
export interface PageContext {
  nonce: string;
  c: Context<AppEnv>;
  /** Undefined until looked up; null when signed out. */
  session?: PageSession | null;
  /** The workspace the page is about, with the user's role there. */
  workspace?: { sId: string; name: string; role: Role };
}

const store = new AsyncLocalStorage<PageContext>();

/** The policy for a response whose nonce is `nonce`. */
export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(
    /[+/=]/g,
    (ch) => ch === "+" ? "-" : ch === "/" ? "_" : "",
  );
}

/** The context of the page being rendered, or null outside a page request. */
export function pageContext(): PageContext | null {
  return store.getStore() ?? null;
}

/** This response's CSP nonce, for a `<script>` or `<style>` element (null outside pages). */
export function cspNonce(): string | null {
  return store.getStore()?.nonce ?? null;
}

/** Record what the page knows about its viewer, for the navigation. */
export function notePageSession(session: PageSession | null): void {
  const ctx = store.getStore();
  if (ctx) ctx.session = session;
}

/** Record the workspace the page is about (and the viewer's role there). */
export function notePageWorkspace(workspace: { sId: string; name: string; role: Role }): void {
  const ctx = store.getStore();
  if (ctx) ctx.workspace = workspace;
}

function setPageHeaders(headers: Headers, nonce: string): void {
  headers.set("Content-Security-Policy", pageCsp(nonce));
  headers.set("Referrer-Policy", "no-referrer");
  headers.set("X-Frame-Options", "DENY");
  headers.set("Cache-Control", "no-store");
}

/**
 * Render a page outside a route that has `securePage` (the not-found and error pages): in the
 * current page context when there is one, else in a fresh one, with the page headers.
 */
export async function renderInPage(
  c: Context<AppEnv>,
  render: () => Response | Promise<Response>,
): Promise<Response> {
  const outer = store.getStore();
  if (outer && outer.c === c) return await render();
  const ctx: PageContext = { nonce: newNonce(), c };
  const res = await store.run(ctx, render);
  setPageHeaders(res.headers, ctx.nonce);
  return res;
}

export const securePage: MiddlewareHandler<AppEnv> = async (c, next) => {
  // A page mounted under another page's prefix runs this twice: keep the first context.
  const outer = store.getStore();
  if (outer && outer.c === c) return await next();
  const ctx: PageContext = { nonce: newNonce(), c };
  await store.run(ctx, next);
  c.header("Content-Security-Policy", pageCsp(ctx.nonce));
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Frame-Options", "DENY");
  c.header("Cache-Control", "no-store");
};
