/**
 * Authentication for `/mcp`, run on every request before the MCP layer sees it.
 *
 * Accepted credentials:
 * - an OAuth access token (JWT) in the `Authorization` header, verified for signature,
 *   expiry, issuer and audience = this instance's `/mcp` URL, with its grant still active;
 * - an MCP API token (`dmcp_…`) in the header, or in the URL (`?token=`) when the
 *   workspace allows it. OAuth tokens are never accepted from the URL (mcp-auth.md A7).
 *
 * Refusals follow Dust's hosted server (dust.md §2.3–2.4): 401 `{"error":…}` with a
 * `WWW-Authenticate: Bearer` challenge naming the absolute, path-inserted protected-resource
 * metadata URL and the baseline scope; 403 `{"error":"forbidden","error_description":…}`
 * (no challenge) when the workspace turned MCP off or refuses the client.
 * @module
 */
import { decodeJwt } from "jose";
import type { Deps } from "../deps.ts";
import type { UserActor } from "../auth/actor.ts";
import { ALL_SCOPES } from "../auth/actor.ts";
import { looksLikeJwt, verifyAccessToken } from "../auth/jwt.ts";
import { actorFromAccessClaims, resolveUserActor } from "../auth/user_actor.ts";
import { looksLikeMcpToken, verifyMcpToken } from "../core/mcp_tokens.ts";
import { PERSONAL_TOKEN_PREFIX } from "../core/personal_tokens.ts";
import { type CredentialRef, CredentialStateMemo } from "../core/mcp_credentials.ts";
import { checkClientAllowed, MCP_DISABLED_MESSAGE } from "../core/workspace_settings.ts";
import { mcpResourceUrl } from "../config.ts";
import type { RevokedNote } from "../auth/revocations.ts";
import { isDoctor } from "../oauth/trace.ts";
import { FirstCallGate, recordTrace, untracedFirstCall } from "../core/oauth_traces.ts";

/** The scopes a client should ask for (PRM `scopes_supported`, the 401 challenge). */
export const BASELINE_SCOPE = ALL_SCOPES.join(" ");

/** Absolute, path-inserted RFC 9728 metadata URL of the `/mcp` resource. */
export function resourceMetadataUrl(deps: Deps): string {
  return `${deps.config.publicUrl}/.well-known/oauth-protected-resource/mcp`;
}

export type McpAuthResult =
  | { ok: true; actor: UserActor; clientId: string; token: string }
  | { ok: false; response: Response };

const WRONG_KIND = "Token does not have required MCP access";
const INVALID_API_TOKEN = "Invalid API token";

/** Quote a value for an RFC 6750 auth-param (no `"` or `\` survive). */
function quote(v: string): string {
  return `"${v.replace(/["\\]/g, "'")}"`;
}

/**
 * The 401 with Dust's body and the Bearer challenge (A1–A3). A request that sent no
 * credential at all gets a challenge without an error code (RFC 6750 §3.1); one that sent a
 * bad credential gets `error="invalid_token"` and the reason.
 */
export function unauthorizedResponse(
  deps: Deps,
  description: string,
  tokenSent = true,
): Response {
  const challenge = [
    ...(tokenSent ? [`error="invalid_token"`, `error_description=${quote(description)}`] : []),
    `resource_metadata=${quote(resourceMetadataUrl(deps))}`,
    `scope=${quote(BASELINE_SCOPE)}`,
  ].join(", ");
  return Response.json({ error: "invalid_token", error_description: description }, {
    status: 401,
    headers: { "WWW-Authenticate": `Bearer ${challenge}`, "Cache-Control": "no-store" },
  });
}

/** The terminal 403 (MCP disabled, client refused): no challenge, so clients do not retry. */
export function forbiddenResponse(description: string): Response {
  return Response.json({ error: "forbidden", error_description: description }, {
    status: 403,
    headers: { "Cache-Control": "no-store" },
  });
}

/** Where the token came from; the URL form is only for MCP tokens. */
function extractToken(
  req: Request,
): { token: string; fromUrl: boolean } | { error: string } | null {
  const h = req.headers.get("authorization");
  if (h !== null) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
    if (!m) return { error: "Authorization header must be 'Bearer <token>'" };
    return { token: m[1], fromUrl: false };
  }
  const url = new URL(req.url);
  const t = url.searchParams.get("token");
  if (t) return { token: t, fromUrl: true };
  if (url.searchParams.has("access_token")) {
    return { error: "Access tokens are accepted only in the Authorization header" };
  }
  return null;
}

/** How long a verified credential's actor is reused (it is re-checked on every request). */
export const MEMO_TTL_MS = 60_000;

interface MemoEntry {
  actor: UserActor;
  clientId: string;
  ref: CredentialRef;
  until: number;
  /** The grant's `access_version` the actor was built at (0 for MCP tokens). */
  accessVersion: number;
}

/**
 * Memo of verified credentials → actor, bounded (oldest evicted first). It saves the token
 * hash / JWT signature and the actor lookups; the credential's state is still checked on
 * every request ({@link CredentialStateMemo}: its query only after the database's credential
 * epoch moved), so revocation and membership changes apply immediately, on every instance.
 * Entries of a revoked credential or a removed member are also dropped as soon as the bus says
 * so ({@link McpAuthMemo.drop}), and none outlives {@link MEMO_TTL_MS}.
 */
export class McpAuthMemo {
  #map = new Map<string, MemoEntry>();
  /** The per-request state check, reused while the database's credential epoch holds. */
  readonly states = new CredentialStateMemo();
  /** Grants whose first call was already considered for the OAuth trace. */
  readonly firstCalls = new FirstCallGate();
  constructor(readonly max = 10_000) {}

  /** Drop the entries a revocation concerns (null: every entry). Returns how many. */
  drop(note: RevokedNote | null): number {
    if (note === null) {
      const n = this.#map.size;
      this.#map.clear();
      return n;
    }
    let n = 0;
    for (const [token, e] of this.#map) {
      const hit = note.kind === "member"
        ? e.ref.userId === note.userId && e.ref.workspaceId === note.workspaceId
        : e.ref.kind === note.kind && e.ref.sId === note.sId;
      if (hit) {
        this.#map.delete(token);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.#map.size;
  }
  get(token: string, at: number): MemoEntry | undefined {
    const e = this.#map.get(token);
    if (e && e.until <= at) this.#map.delete(token);
    return e && e.until > at ? e : undefined;
  }
  set(token: string, e: MemoEntry): void {
    if (this.#map.size >= this.max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(token, e);
  }
  delete(token: string): void {
    this.#map.delete(token);
  }
}

/** Authenticate one `/mcp` request: the actor, or the ready-made refusal. */
export async function authenticateMcpRequest(
  deps: Deps,
  req: Request,
  memo: McpAuthMemo,
  /** When the request arrived (`performance.now()`), for the trace's timing of a first call. */
  startedAt?: number,
): Promise<McpAuthResult> {
  const result = await authenticate(deps, req, memo);
  if (result.grantSId) {
    // The OAuth trace keeps a grant's first call (a Set lookup on every later one).
    await traceFirstCall(deps, memo, result.grantSId, result.result, startedAt, req);
  }
  return result.result;
}

async function authenticate(
  deps: Deps,
  req: Request,
  memo: McpAuthMemo,
): Promise<{ result: McpAuthResult; grantSId?: string }> {
  const found = extractToken(req);
  if (found === null) {
    return {
      result: { ok: false, response: unauthorizedResponse(deps, "Authorization needed", false) },
    };
  }
  if ("error" in found) return { result: fail401(deps, found.error) };
  const { token, fromUrl } = found;
  // API keys and personal access tokens are REST credentials: name the wrong kind clearly.
  if (token.startsWith("sk-") || token.startsWith(PERSONAL_TOKEN_PREFIX)) {
    return { result: fail401(deps, WRONG_KIND) };
  }
  if (fromUrl && !looksLikeMcpToken(token)) {
    return {
      result: fail401(
        deps,
        "Only MCP API tokens may be sent in the URL; send access tokens in the Authorization header",
      ),
    };
  }
  const at = Date.now();
  let entry = memo.get(token, at);
  let state;
  for (let attempt = 0;; attempt++) {
    if (!entry) {
      const verified = await verifyCredential(deps, token, at);
      if ("error" in verified) {
        return { result: fail401(deps, verified.error), grantSId: unverifiedGrantOf(token) };
      }
      entry = verified;
      if (entry.until > at) memo.set(token, entry);
    }
    state = await memo.states.check(deps.db, entry.ref, at);
    // The user edited the grant's choice since this actor was built: build it again (once
    // more at most; a second edit in between is answered with the fresher of the two).
    if (state.accessVersion === entry.accessVersion || attempt === 1) break;
    memo.delete(token);
    entry = undefined;
  }
  const grantSId = entry.ref.kind === "oauth" && entry.ref.sId ? entry.ref.sId : undefined;
  const done = (result: McpAuthResult) => ({ result, grantSId });
  // A grant-less access token has no row to re-check; it was fully verified just now.
  const active = entry.ref.sId === "" ? true : state.active;
  if (!active || !state.role) {
    memo.delete(token);
    return done(
      fail401(deps, entry.ref.kind === "mcp_token" ? INVALID_API_TOKEN : REVOKED_ACCESS),
    );
  }
  if (!state.mcpEnabled) {
    return done({ ok: false, response: forbiddenResponse(MCP_DISABLED_MESSAGE) });
  }
  if (state.redirectPolicy === "allowlist" && entry.ref.kind === "oauth") {
    // Checked on every request so that tightening the allowlist cuts existing clients off.
    const check = await checkClientAllowed(deps.db, { id: entry.ref.workspaceId }, entry.clientId);
    if (!check.allowed) {
      return done({ ok: false, response: forbiddenResponse(check.description) });
    }
  }
  if (fromUrl && !state.allowTokenInUrl) {
    return done(fail401(
      deps,
      "This workspace does not accept tokens in the URL; send it in the Authorization header",
    ));
  }
  const actor = state.role === entry.actor.role
    ? entry.actor
    : { ...entry.actor, role: state.role };
  return done({ ok: true, actor, clientId: entry.clientId, token });
}

/**
 * The grant id a refused JWT claims (unverified: it only selects which traced grant's first
 * call this was; a made-up id matches no traced token step and writes nothing).
 */
function unverifiedGrantOf(token: string): string | undefined {
  if (!looksLikeJwt(token)) return undefined;
  try {
    const gid = decodeJwt(token).gid;
    return typeof gid === "string" && gid.length <= 64 ? gid : undefined;
  } catch {
    return undefined;
  }
}

/** Trace the outcome of a grant's first `/mcp` call (see src/core/oauth_traces.ts). */
async function traceFirstCall(
  deps: Deps,
  memo: McpAuthMemo,
  grantSId: string,
  result: McpAuthResult,
  startedAt: number | undefined,
  req: Request,
): Promise<void> {
  if (!memo.firstCalls.first(grantSId)) return;
  const doctor = isDoctor(req.headers.get("user-agent"));
  try {
    const first = await untracedFirstCall(deps.db, grantSId);
    if (!first) return;
    let reason: string | null = null;
    if (!result.ok) {
      const body = await result.response.clone().json().catch(() => ({}));
      reason = `${body.error ?? "refused"}: ${body.error_description ?? ""}`;
    }
    await recordTrace(deps.db, {
      step: "mcp",
      ...first,
      grantSId,
      ok: result.ok,
      status: result.ok ? 200 : result.response.status,
      reason,
      detail: doctor ? "doctor run" : null,
      durationMs: startedAt === undefined ? 0 : performance.now() - startedAt,
    });
  } catch (e) {
    deps.log.warn("oauth trace write failed", { error: (e as Error).message });
  }
}

const REVOKED_ACCESS = "Access token is no longer valid for this workspace";

/** The full (uncached) verification of an MCP token or an OAuth access token. */
async function verifyCredential(
  deps: Deps,
  token: string,
  at: number,
): Promise<MemoEntry | { error: string }> {
  if (looksLikeMcpToken(token)) {
    const check = await verifyMcpToken(deps.db, token, at);
    if (!check.ok) return { error: INVALID_API_TOKEN };
    const actor = await resolveUserActor(deps, {
      userSId: check.userSId,
      workspaceSId: check.workspaceSId,
      scopes: new Set(ALL_SCOPES),
      credential: { kind: "mcp_token", id: check.tokenSId },
    });
    if (!actor) return { error: INVALID_API_TOKEN };
    // A token client has no OAuth client id: the token itself is the client for limits/audit.
    const clientId = `mcp_token:${check.tokenSId}`;
    const ref = refOf(actor, "mcp_token", check.tokenSId);
    return { actor, clientId, ref, until: at + MEMO_TTL_MS, accessVersion: 0 };
  }
  if (!looksLikeJwt(token)) return { error: INVALID_API_TOKEN };
  const claims = await verifyAccessToken(deps.keys, deps.tokenCache, token, {
    issuer: deps.config.publicUrl,
    audience: mcpResourceUrl(deps.config),
  });
  if (!claims) return { error: "Access token validation failed" };
  const actor = await actorFromAccessClaims(deps, claims);
  if (!actor) return { error: REVOKED_ACCESS };
  const accessVersion = actor.credential.grantVersion ?? 0;
  // Tokens without a grant cannot be re-checked cheaply: never memoised (until = now).
  const until = claims.gid ? Math.min(at + MEMO_TTL_MS, claims.exp * 1000) : at;
  const ref = refOf(actor, "oauth", claims.gid ?? "");
  return { actor, clientId: claims.client_id, ref, until, accessVersion };
}

function refOf(actor: UserActor, kind: CredentialRef["kind"], sId: string): CredentialRef {
  return { kind, sId, userId: actor.user.id, workspaceId: actor.workspace.id };
}

function fail401(deps: Deps, description: string): McpAuthResult {
  return { ok: false, response: unauthorizedResponse(deps, description) };
}
