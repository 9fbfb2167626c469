/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; checklist C1–C8).
 *
 * A `client_id` that is an https URL with a path names a JSON document the client hosts. The
 * fetch is an SSRF risk, so it is guarded: only the https default port (443: no metadata
 * document lives elsewhere, and any other port would let a client_id knock on any public
 * service); the host's addresses are resolved first and every special-use, private, loopback
 * and link-local address is refused; redirects are refused (`redirect: "manual"`); 5 s
 * timeout; the body is streamed with a 5 KB cap; JSON only. Error messages never carry a
 * resolved address, and "does not resolve" and "resolves inward" read the same, so the
 * errors reveal nothing of this server's network view. Fetches are budgeted per requesting
 * address and server-wide (src/oauth/cimd_budget.ts).
 * Residual risk: the fetch resolves the name again (Deno's fetch cannot pin an address), so a
 * DNS-rebinding server could answer differently within the TTL; the documents fetched carry no
 * secrets and only public fields are used, which bounds what such a server could learn.
 *
 * Validated documents are cached per `Cache-Control: max-age`, clamped to [30 s, 1 day];
 * errors are never cached; concurrent lookups of one URL share one fetch.
 *
 * Test hook: {@link CimdHooks} replaces name resolution and the HTTP call (tests serve fixture
 * documents from 127.0.0.1 under a public-looking name). It is set only through
 * `StartOptions.cimdFetch`; the address check still runs on whatever `resolveHost` returns.
 * @module
 */
import type { Db } from "../db/db.ts";
import { OAuthError } from "../core/oauth_error.ts";
import type { FetchBudget } from "./cimd_budget.ts";
import {
  httpsUriOrNull,
  type OAuthClient,
  redirectUriProblem,
  upsertCimdClient,
} from "../core/oauth_clients.ts";

export const CIMD_MAX_BYTES = 5 * 1024;
export const CIMD_TIMEOUT_MS = 5_000;
export const CIMD_MIN_CACHE_MS = 30_000;
export const CIMD_MAX_CACHE_MS = 24 * 3600 * 1000;
const CIMD_DEFAULT_CACHE_MS = 5 * 60_000;

export interface CimdHooks {
  /** Resolve a host name to its addresses (default: `Deno.resolveDns` A + AAAA). */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Perform the HTTP request (default: the global `fetch`). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

/** A CIMD fetch or validation failure (the reason is safe to show). */
export class CimdError extends Error {
  override name = "CimdError";
}

/** True for an https client_id with a path: the client_id is a metadata document URL. */
export function isCimdClientId(clientId: string): boolean {
  return /^https:\/\//i.test(clientId);
}

/** Why this CIMD URL is not acceptable (C1), or null. */
export function cimdUrlProblem(clientId: string): string | null {
  if (clientId.length > 2048) return "client_id is too long";
  if (!clientId.startsWith("https://")) return "a metadata document URL must use https";
  const raw = clientId.slice("https://".length);
  const slash = raw.indexOf("/");
  if (slash < 0) return "a metadata document URL must have a path";
  const authority = raw.slice(0, slash);
  if (authority.includes("@")) return "a metadata document URL must not contain user information";
  if (clientId.includes("#")) return "a metadata document URL must not contain a fragment";
  const path = raw.slice(slash).replace(/[?].*$/, "");
  if (/(^|\/)\.{1,2}(\/|$)/.test(path) || /%2e/i.test(path)) {
    return "a metadata document URL must not contain dot segments";
  }
  let u: URL;
  try {
    u = new URL(clientId);
  } catch {
    return "client_id is not a valid URL";
  }
  if (u.pathname === "/") return "a metadata document URL must have a path";
  if (u.port !== "") return "a metadata document URL must use the https default port (443)";
  if (u.href !== clientId) return "client_id must be a normalised URL";
  return null;
}

function ipv4Refused(ip: string): boolean {
  const p = ip.split(".").map(Number);
  if (p.length !== 4 || p.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return true;
  const [a, b, c] = p;
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 192 && b === 88 && c === 99) ||
    (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113);
}

/** Expand an IPv6 address to 8 groups of numbers (null when malformed). */
function ipv6Groups(ip: string): number[] | null {
  let s = ip.toLowerCase().replace(/%.*$/, "");
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const p = v4[1].split(".").map(Number);
    s = s.slice(0, -v4[1].length) +
      `${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array(Math.max(fill, 0)).fill("0"), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

function ipv6Refused(ip: string): boolean {
  const g = ipv6Groups(ip);
  if (!g) return true;
  const v4Tail = `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96): judge the embedded IPv4 address.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return ipv4Refused(v4Tail);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return ipv4Refused(v4Tail);
  }
  // Only global unicast (2000::/3) is public; inside it, refuse documentation, ORCHID,
  // Teredo/benchmarking (2001::/23) and 6to4 (2002::/16, it can embed private IPv4).
  if ((g[0] & 0xe000) !== 0x2000) return true;
  if (g[0] === 0x2001 && (g[1] === 0x0db8 || g[1] < 0x0200)) return true;
  if (g[0] === 0x2002) return true;
  return false;
}

/** True when the address is a public unicast address a metadata fetch may reach (C2). */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.replace(/^\[|\]$/g, "");
  return bare.includes(":") ? !ipv6Refused(bare) : !ipv4Refused(bare);
}

async function resolveWithDns(host: string): Promise<string[]> {
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      out.push(...await Deno.resolveDns(host, type));
    } catch {
      // No record of this type: the other may exist.
    }
  }
  return out;
}

function isIpLiteral(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith("[");
}

/**
 * Refuse a host any of whose addresses is not public. One message for "no address" and "an
 * inward address", never naming an address: the page must not tell what this server resolves.
 * `admit` runs before the first network action (the DNS lookup, or the fetch for a literal).
 */
async function checkHostAddresses(
  host: string,
  hooks: CimdHooks,
  admit: () => void,
): Promise<void> {
  const literal = isIpLiteral(host);
  if (!literal) admit();
  const addresses = literal ? [host] : await (hooks.resolveHost ?? resolveWithDns)(host);
  if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
    throw new CimdError(`the host ${host} does not resolve to public addresses only`);
  }
  if (literal) admit();
}

/** Read at most `max` bytes of a body, cancelling the stream beyond it. */
async function readCapped(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) {
    await res.body?.cancel();
    throw new CimdError(`the metadata document is larger than ${max} bytes`);
  }
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new CimdError(`the metadata document is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** How long a fetched document may be cached (C6). */
export function cacheLifetimeMs(cacheControl: string | null): number {
  const m = /max-age\s*=\s*(\d+)/i.exec(cacheControl ?? "");
  const wanted = m ? Number(m[1]) * 1000 : CIMD_DEFAULT_CACHE_MS;
  return Math.min(Math.max(wanted, CIMD_MIN_CACHE_MS), CIMD_MAX_CACHE_MS);
}

/**
 * The guarded fetch (C2): returns the parsed JSON object and its cache lifetime. `admit` is
 * called once, before the first network action (the fetch budget); it may throw.
 */
export async function fetchMetadataDocument(
  url: string,
  hooks: CimdHooks = {},
  admit: () => void = () => {},
): Promise<{ doc: Record<string, unknown>; maxAgeMs: number }> {
  const problem = cimdUrlProblem(url);
  if (problem) throw new CimdError(problem);
  const u = new URL(url);
  await checkHostAddresses(u.hostname, hooks, admit);
  let res: Response;
  try {
    res = await (hooks.fetch ?? fetch)(url, {
      redirect: "manual",
      signal: AbortSignal.timeout(CIMD_TIMEOUT_MS),
      headers: { accept: "application/json" },
    });
  } catch (e) {
    throw new CimdError(
      `the metadata document could not be fetched (${
        (e as Error).name === "TimeoutError" ? "timeout" : "network error"
      })`,
    );
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    const what = res.status >= 300 && res.status < 400 || res.type === "opaqueredirect"
      ? "redirected (redirects are not followed)"
      : `answered HTTP ${res.status}`;
    throw new CimdError(`the metadata document URL ${what}`);
  }
  const type = res.headers.get("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    await res.body?.cancel();
    throw new CimdError("the metadata document is not JSON (content-type)");
  }
  const bytes = await readCapped(res, CIMD_MAX_BYTES);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new CimdError("the metadata document is not valid JSON");
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new CimdError("the metadata document is not a JSON object");
  }
  return {
    doc: doc as Record<string, unknown>,
    maxAgeMs: cacheLifetimeMs(res.headers.get("cache-control")),
  };
}

/** Pick `none` from the singular or plural auth-method fields (C4, ChatGPT's shape). */
function negotiatesNone(doc: Record<string, unknown>): boolean {
  const single = doc.token_endpoint_auth_method;
  const plural = doc.token_endpoint_auth_methods_supported;
  if (single === undefined && plural === undefined) return true;
  return single === "none" || (Array.isArray(plural) && plural.includes("none"));
}

/** Validate a fetched document against its URL (C3, C4); returns the client fields. */
export function validateMetadataDocument(url: string, doc: Record<string, unknown>) {
  if (doc.client_id !== url) {
    throw new CimdError("the document's client_id is not the URL it was fetched from");
  }
  if (Object.keys(doc).some((k) => k.startsWith("client_secret"))) {
    throw new CimdError("a metadata document must not contain a client secret");
  }
  const name = doc.client_name;
  if (typeof name !== "string" || !name.trim() || name.length > 200) {
    throw new CimdError("the document needs a client_name");
  }
  const uris = doc.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0 || uris.length > 20) {
    throw new CimdError("the document needs redirect_uris (1 to 20)");
  }
  for (const r of uris) {
    const problem = redirectUriProblem(r as string);
    if (problem) throw new CimdError(`redirect_uris: ${problem}`);
  }
  if (!negotiatesNone(doc)) {
    throw new CimdError(
      "the document offers no token endpoint auth method this server supports (needs none)",
    );
  }
  const grants = doc.grant_types;
  if (grants !== undefined && !(Array.isArray(grants) && grants.includes("authorization_code"))) {
    throw new CimdError("grant_types must include authorization_code");
  }
  const str = (v: unknown) => (typeof v === "string" && v.length <= 2048 ? v : null);
  return {
    clientId: url,
    name: name.trim(),
    clientUri: httpsUriOrNull(doc.client_uri),
    logoUri: httpsUriOrNull(doc.logo_uri),
    redirectUris: uris as string[],
    grantTypes: ["authorization_code", "refresh_token"],
    applicationType: str(doc.application_type),
  };
}

/**
 * Resolves CIMD client_ids to clients: cache, coalescing, budgeted guarded fetch, validation.
 * Cache hits and lookups joining a running fetch cost no budget.
 */
export class CimdResolver {
  #cache = new Map<string, { client: OAuthClient; expiresAt: number }>();
  #inflight = new Map<string, Promise<OAuthClient>>();
  constructor(
    readonly db: Db,
    readonly hooks: CimdHooks,
    readonly budget: FetchBudget,
    readonly maxEntries = 1000,
  ) {}

  /**
   * The client for a CIMD client_id, looked up for the peer address `requester`. Throws
   * OAuthError(invalid_client) on any failure, or temporarily_unavailable (429) past a budget.
   */
  async resolve(clientId: string, requester: string, at = Date.now()): Promise<OAuthClient> {
    const problem = cimdUrlProblem(clientId);
    if (problem) throw new OAuthError("invalid_client", problem);
    const hit = this.#cache.get(clientId);
    if (hit && hit.expiresAt > at) return hit.client;
    const running = this.#inflight.get(clientId);
    if (running) return await running;
    const p = this.#load(clientId, () => this.budget.take(requester, at))
      .finally(() => this.#inflight.delete(clientId));
    this.#inflight.set(clientId, p);
    return await p;
  }

  async #load(clientId: string, admit: () => void): Promise<OAuthClient> {
    try {
      const { doc, maxAgeMs } = await fetchMetadataDocument(clientId, this.hooks, admit);
      const client = await upsertCimdClient(this.db, validateMetadataDocument(clientId, doc));
      if (this.#cache.size >= this.maxEntries) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(clientId, { client, expiresAt: Date.now() + maxAgeMs });
      return client;
    } catch (e) {
      this.#cache.delete(clientId);
      if (e instanceof CimdError) {
        throw new OAuthError("invalid_client", `Client metadata document: ${e.message}.`, 401);
      }
      throw e;
    }
  }
}
