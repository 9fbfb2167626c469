/**
 * The per-request re-check of an already-verified `/mcp` credential. `/mcp` memoises the
 * expensive part of authentication (token hashing, JWT signature, building the actor) for a
 * short while; this check runs on EVERY request so that revocation, expiry, membership
 * removal, a role change and the workspace's MCP switches still take effect on the very next
 * request (mcp-auth.md A8). Its one indexed query is itself reused ({@link CredentialStateMemo})
 * only while the database's credential epoch has not moved (src/db/credential_epoch.ts: any
 * write of those tables moves it), with expiry compared on every request.
 * @module
 */
import type { Db } from "../db/db.ts";
import type { Role } from "../auth/actor.ts";

/** Which stored credential backs a memoised actor. */
export interface CredentialRef {
  kind: "mcp_token" | "oauth";
  /** The MCP token sId or the OAuth grant sId. */
  sId: string;
  userId: number;
  workspaceId: number;
}

export interface CredentialState {
  /** Token / grant exists, is not revoked and has not expired. */
  active: boolean;
  /** The user's current role, or null when no longer a member. */
  role: Role | null;
  mcpEnabled: boolean;
  allowTokenInUrl: boolean;
  /** "allowlist" means OAuth clients must pass the redirect-URI allowlist on every request. */
  redirectPolicy: "all" | "allowlist";
  /**
   * The OAuth grant's `access_version` (0 for MCP tokens): a memoised actor built at another
   * version is rebuilt, so an edit of the grant's choice applies on the next request.
   */
  accessVersion: number;
}

const VERSION_COLUMN = { mcp_token: "0", oauth: "t.access_version" } as const;

const TABLE = { mcp_token: "mcp_tokens", oauth: "oauth_grants" } as const;

// Prepared once per database and kind: preparing costs several times the query itself.
const statements = new WeakMap<Db, Map<string, ReturnType<Db["prepare"]>>>();

function statementFor(db: Db, kind: CredentialRef["kind"]): ReturnType<Db["prepare"]> {
  let byKind = statements.get(db);
  if (!byKind) statements.set(db, byKind = new Map());
  let stmt = byKind.get(kind);
  if (!stmt) {
    stmt = db.prepare(
      `SELECT (t.revoked_at IS NULL AND t.user_id = ?) AS live, t.expires_at AS expires_at,
              m.role AS role, w.mcp_enabled AS mcp_enabled,
              w.allow_token_in_url AS allow_token_in_url, w.redirect_policy AS redirect_policy,
              ${VERSION_COLUMN[kind]} AS access_version
       FROM workspaces w
       LEFT JOIN ${TABLE[kind]} t ON t.s_id = ? AND t.workspace_id = w.id
       LEFT JOIN memberships m ON m.workspace_id = w.id AND m.user_id = ?
       WHERE w.id = ?`,
    );
    byKind.set(kind, stmt);
  }
  return stmt;
}

/** The current state of a credential, its user's membership and its workspace's switches. */
export async function checkCredentialState(
  db: Db,
  ref: CredentialRef,
  at = Date.now(),
): Promise<CredentialState> {
  return stateAt(await readCredentialState(db, ref), at);
}

/** What the query says, before expiry is compared with the request's time. */
interface StoredState extends Omit<CredentialState, "active"> {
  live: boolean;
  expiresAt: number;
}

function stateAt(s: StoredState, at: number): CredentialState {
  return {
    active: s.live && s.expiresAt > at,
    role: s.role,
    mcpEnabled: s.mcpEnabled,
    allowTokenInUrl: s.allowTokenInUrl,
    redirectPolicy: s.redirectPolicy,
    accessVersion: s.accessVersion,
  };
}

async function readCredentialState(db: Db, ref: CredentialRef): Promise<StoredState> {
  const row = await statementFor(db, ref.kind).get(
    ref.userId,
    ref.sId,
    ref.userId,
    ref.workspaceId,
  ) as
    | {
      live: number | null;
      expires_at: number | null;
      role: Role | null;
      mcp_enabled: number;
      allow_token_in_url: number;
      redirect_policy: "all" | "allowlist";
      access_version: number | null;
    }
    | undefined;
  if (!row) {
    return {
      live: false,
      expiresAt: 0,
      role: null,
      mcpEnabled: false,
      allowTokenInUrl: false,
      redirectPolicy: "all",
      accessVersion: 0,
    };
  }
  return {
    live: row.live === 1,
    expiresAt: row.expires_at ?? 0,
    role: row.role,
    mcpEnabled: row.mcp_enabled === 1,
    allowTokenInUrl: row.allow_token_in_url === 1,
    redirectPolicy: row.redirect_policy,
    accessVersion: Number(row.access_version ?? 0),
  };
}

interface MemoizedState {
  state: StoredState;
  epoch: number;
}

/**
 * {@link checkCredentialState} without its query while the database's credential epoch has not
 * moved since the state was read. Bounded (oldest evicted first); states are kept per
 * credential, member and workspace, so one entry never answers for another.
 */
export class CredentialStateMemo {
  #map = new Map<string, MemoizedState>();
  hits = 0;
  misses = 0;
  constructor(readonly max = 10_000) {}

  async check(db: Db, ref: CredentialRef, at = Date.now()): Promise<CredentialState> {
    const key = `${ref.kind}\u0000${ref.sId}\u0000${ref.userId}\u0000${ref.workspaceId}`;
    const current = db.credentialEpoch.value();
    const epoch = typeof current === "number" ? current : await current;
    const held = this.#map.get(key);
    if (held && held.epoch === epoch) {
      this.hits++;
      return stateAt(held.state, at);
    }
    this.misses++;
    // The epoch is read BEFORE the query: a change committed meanwhile moves it past this value.
    const state = await readCredentialState(db, ref);
    if (held) this.#map.delete(key);
    else if (this.#map.size >= this.max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(key, { state, epoch });
    return stateAt(state, at);
  }

  get size(): number {
    return this.#map.size;
  }
}
