/**
 * The doctor's HTTP side: plain `fetch` against the public URL (no redirects followed, a
 * timeout on every request, a User-Agent that marks its rows in the OAuth trace), the MCP
 * calls it makes as a client (JSON or event-stream answers), and small parsers for what it
 * reads back (the Bearer challenge, an error page's message).
 * @module
 */
import { createHash } from "node:crypto";
import { decodeJwt } from "jose";
import { VERSION } from "../version.ts";

export const DOCTOR_USER_AGENT = `dust-mcp-doctor/${VERSION}`;
const TIMEOUT_MS = 10_000;

export interface Exchange {
  status: number;
  headers: Headers;
  text: string;
  /** Round trip in milliseconds. */
  ms: number;
  /** The local clock when the answer arrived. */
  receivedAt: number;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** One request; a network failure is thrown as an Error whose message says what failed. */
export async function call(
  fetcher: FetchLike,
  url: string,
  init: RequestInit = {},
): Promise<Exchange> {
  const headers = new Headers(init.headers);
  headers.set("User-Agent", DOCTOR_USER_AGENT);
  const started = performance.now();
  let res: Response;
  try {
    res = await fetcher(url, {
      ...init,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new Error(`could not reach ${url}: ${(e as Error).message}`);
  }
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    ms: Math.round(performance.now() - started),
    receivedAt: Date.now(),
  };
}

export function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** The JSON-RPC message with this id in a JSON or event-stream answer. */
export function rpcMessage(ex: Exchange, id: number): Record<string, unknown> | null {
  const type = ex.headers.get("content-type") ?? "";
  const candidates = type.includes("text/event-stream")
    ? ex.text.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim())
    : [ex.text];
  for (const c of candidates) {
    const m = parseJson(c);
    if (m && m.id === id) return m;
  }
  return null;
}

/** Auth-params of a `WWW-Authenticate: Bearer …` challenge (null when not Bearer). */
export function parseBearerChallenge(header: string | null): Record<string, string> | null {
  if (!header || !/^Bearer\b/i.test(header)) return null;
  const out: Record<string, string> = {};
  for (const m of header.slice(6).matchAll(/([a-zA-Z_]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) {
    out[m[1].toLowerCase()] = m[2] ?? m[3];
  }
  return out;
}

/** The first paragraph of an HTML error page (what the authorization endpoint said). */
export function pageMessage(html: string): string {
  const m = /<p>([\s\S]*?)<\/p>/.exec(html);
  const text = (m ? m[1] : html.slice(0, 200)).replace(/<[^>]+>/g, "");
  return text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&amp;/g, "&").trim();
}

/** A PKCE pair (S256). */
export function pkcePair(): { verifier: string; challenge: string } {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const verifier = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** Hosts a vendor's servers cannot reach: loopback, private ranges, local names. */
export function isPrivateHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost") || h.endsWith(".local")) return true;
  if (h.endsWith(".internal") || h.endsWith(".lan") || !h.includes(".") && !h.includes(":")) {
    return true;
  }
  if (h === "::1" || h.startsWith("fc") || h.startsWith("fd") || h.startsWith("fe80:")) return true;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (!v4) return false;
  const [a, b] = [Number(v4[1]), Number(v4[2])];
  return a === 127 || a === 10 || a === 0 || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127);
}

/** A string claim of a JWT's payload, unverified (the doctor reads its own token's grant id). */
export function jwtClaim(token: string, name: string): string | null {
  try {
    const v = decodeJwt(token)[name];
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
}
