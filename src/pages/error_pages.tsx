/** @jsxImportSource hono/jsx */
/**
 * Errors answered to a browser: the same statuses and messages as the REST envelope, as a page
 * in the console's layout. `app.ts` decides which requests get these (a browser asking for a
 * page, never the API, MCP or OAuth endpoints).
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ZodError } from "zod";
import type { AppEnv } from "../deps.ts";
import { AppError } from "../errors.ts";
import { MessagePage } from "./layout.tsx";
import { pageContext, renderInPage } from "./page_security.ts";

/** Paths that are never pages (their clients parse JSON or RFC 6749 errors). */
const MACHINE_PATH = /^\/(api|mcp|\.well-known|static)(\/|$)|^\/(token|register|revoke|healthz)$/;

/**
 * The request is for a page: a route with the page headers (`securePage`), or a browser
 * (accepting HTML) on a path that is not an API endpoint.
 */
export function wantsPage(c: Context<AppEnv>): boolean {
  if (MACHINE_PATH.test(c.req.path)) return false;
  if (pageContext()?.c === c) return true;
  return (c.req.header("accept") ?? "").includes("text/html");
}

const TITLES: Record<number, string> = {
  400: "That did not work",
  401: "Sign in required",
  403: "Not allowed",
  404: "Page not found",
  405: "Not allowed",
  409: "Conflict",
  410: "No longer available",
  413: "Too large",
  429: "Too many attempts",
  503: "Busy",
};

function page(c: Context<AppEnv>, status: number, message: string) {
  const title = TITLES[status] ?? "Something went wrong";
  return renderInPage(c, () =>
    c.html(
      <MessagePage title={title}>
        <p>{message}</p>
        <p>
          <a href="/">Back to the console</a>
        </p>
      </MessagePage>,
      status as 404,
    ));
}

/** The 404 page of a path no route serves. */
export function notFoundPage(c: Context<AppEnv>): Promise<Response> {
  return page(c, 404, `There is no page at ${c.req.path}.`);
}

/** A thrown error as a page (AppError and HTTP errors show their message; others do not). */
export function errorAsPage(
  c: Context<AppEnv>,
  err: unknown,
  requestId: string | undefined,
): Promise<Response> | null {
  if (err instanceof AppError) {
    const retry = err.extra?.retryAfter;
    if (typeof retry === "number") c.header("Retry-After", String(Math.ceil(retry)));
    return page(c, err.status, err.message);
  }
  if (err instanceof ZodError) return page(c, 400, "The form has a value this page cannot use.");
  if (err instanceof HTTPException) {
    return page(c, err.status, err.message || "The request was refused.");
  }
  if (err instanceof Error) {
    return page(c, 500, `Internal server error (request id ${requestId ?? "unknown"}).`);
  }
  return null;
}
