/**
 * Headers every HTML page carries: not frameable (CSP `frame-ancestors 'none'` on top of the
 * global `X-Frame-Options: DENY`), no referrer, no caching, no scripts.
 * @module
 */
import type { MiddlewareHandler } from "hono";

export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'";

export const securePage: MiddlewareHandler = async (c, next) => {
  await next();
  c.header("Content-Security-Policy", PAGE_CSP);
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Frame-Options", "DENY");
  c.header("Cache-Control", "no-store");
};
