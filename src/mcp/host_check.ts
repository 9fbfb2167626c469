/**
 * DNS-rebinding protection for `/mcp` (mcp-auth.md A13): the `Host` header must name an
 * allowed hostname, and an `Origin` header, when present, too. The same rules, messages and
 * 403 JSON-RPC body as the SDK's Hono middleware (`@modelcontextprotocol/hono`
 * `hostHeaderValidation` / `originValidation`; tests/mcp/lazy_sdk_test.ts compares them), here
 * so that serving `/mcp` does not load the SDK, and with accepted `Host` values remembered
 * (every request sends the same one: no URL parsing per request).
 * @module
 */
import type { Context, Next } from "hono";

type Check = { ok: true } | { ok: false; message: string };

/** The SDK's `validateHostHeader`. */
export function checkHostHeader(host: string | undefined, allowed: readonly string[]): Check {
  if (!host) return { ok: false, message: "Missing Host header" };
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return { ok: false, message: `Invalid Host header: ${host}` };
  }
  if (!allowed.includes(hostname)) return { ok: false, message: `Invalid Host: ${hostname}` };
  return { ok: true };
}

/** The SDK's `validateOriginHeader`. */
export function checkOriginHeader(origin: string | undefined, allowed: readonly string[]): Check {
  if (origin === undefined || origin === "") return { ok: true };
  let hostname: string;
  let scheme: string;
  try {
    const url = new URL(origin);
    hostname = url.hostname;
    scheme = url.protocol;
  } catch {
    return { ok: false, message: `Invalid Origin header: ${origin}` };
  }
  if (hostname === "") return { ok: false, message: `Invalid Origin header: ${origin}` };
  const schemeAllowed = scheme !== "http:" && scheme !== "https:" &&
    allowed.includes(`${scheme}//*`);
  if (!schemeAllowed && !allowed.includes(hostname)) {
    return { ok: false, message: `Invalid Origin: ${hostname}` };
  }
  return { ok: true };
}

function refuse(c: Context, message: string): Response {
  return c.json({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }, 403);
}

/** Accepted `Host` values remembered at most (a client sends one value; attackers vary it). */
const ACCEPTED_MAX = 64;

/** Middleware: `Host`, then `Origin`, each refused with the SDK's 403. */
export function hostAndOriginCheck(allowed: readonly string[]) {
  const accepted = new Set<string>();
  return async (c: Context, next: Next): Promise<Response | void> => {
    const host = c.req.header("host");
    if (host === undefined || !accepted.has(host)) {
      const h = checkHostHeader(host, allowed);
      if (!h.ok) return refuse(c, h.message);
      if (accepted.size < ACCEPTED_MAX) accepted.add(host!);
    }
    const o = checkOriginHeader(c.req.header("origin"), allowed);
    if (!o.ok) return refuse(c, o.message);
    return await next();
  };
}
