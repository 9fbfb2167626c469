/**
 * OAuth test clients: an in-memory `OAuthClientProvider` for the MCP SDK `auth()` (v1 and v2
 * share the interface), PKCE helpers, and users with passwords for sign-in.
 *
 * ```ts
 * const provider = new MemoryOAuthProvider("http://127.0.0.1:53682/callback");
 * assert.equal(await auth(provider, { serverUrl: `${server.url}/mcp` }), "REDIRECT");
 * const cb = await browser.approve(provider.authorizationUrl!.href);
 * await auth(provider, { serverUrl: `${server.url}/mcp`, authorizationCode: cb.searchParams.get("code")! });
 * provider.savedTokens?.access_token; // a JWT for <server>/mcp
 * ```
 */
import { createHash, randomBytes } from "node:crypto";
import { ALL_SCOPES, type Role, type UserActor } from "../../src/auth/actor.ts";
import { resolveUserActor } from "../../src/auth/user_actor.ts";
import { createUser, validatePassword } from "../../src/core/users.ts";
import { hashPassword } from "../../src/auth/passwords.ts";
import { addMember, createWorkspace, type WorkspaceRow } from "../../src/core/workspaces.ts";
import type { UserRow } from "../../src/core/users.ts";
import type { ServerHandle } from "../../src/server.ts";

/** A random PKCE verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export interface PasswordUser {
  user: UserRow;
  workspace: WorkspaceRow;
  email: string;
  password: string;
}

/**
 * Hashes at the production cost (about 0.4 s each), one per distinct password per test
 * process: test users share a few passwords, so each is hashed once, not once per user. Each
 * user still gets a real, verifiable hash (with a salt shared among those users).
 */
const hashes = new Map<string, Promise<string>>();

function passwordHashFor(password: string): Promise<string> {
  let h = hashes.get(password);
  if (!h) hashes.set(password, h = hashPassword(password));
  return h;
}

/** A user with a password, member (`role`) of `workspace` or of a new workspace. */
export async function createPasswordUser(
  server: Pick<ServerHandle, "deps">,
  options: { email: string; role?: Role; workspace?: WorkspaceRow; password?: string },
): Promise<PasswordUser> {
  const password = options.password ?? "correct horse battery";
  const db = server.deps.db;
  validatePassword(password);
  const created = await createUser(db, { email: options.email, name: "Test User", password: null });
  const passwordHash = await passwordHashFor(password);
  await db.run(
    "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
    passwordHash,
    Date.now(),
    created.id,
  );
  const user = { ...created, passwordHash };
  const workspace = options.workspace ??
    await createWorkspace(db, { name: `${options.email}'s workspace`, adminUserId: user.id });
  await addMember(db, {
    workspaceId: workspace.id,
    userId: user.id,
    role: options.role ?? "admin",
  });
  return { user, workspace, email: options.email, password };
}

/** The actor of `u` signed in on the pages (its real role), for calling core functions. */
export async function pageActorOf(
  server: Pick<ServerHandle, "deps">,
  u: PasswordUser,
): Promise<UserActor> {
  const actor = await resolveUserActor(server.deps, {
    userSId: u.user.sId,
    workspaceSId: u.workspace.sId,
    scopes: new Set(ALL_SCOPES),
    credential: { kind: "session", id: "test" },
  });
  if (!actor) throw new Error(`${u.email} is not a member of its workspace`);
  return actor;
}

// Structural copies of the SDK types, so this helper serves both SDK majors.
type Json = Record<string, unknown>;

/** An in-memory OAuth client provider (the SDK calls it; the test plays the browser). */
export class MemoryOAuthProvider {
  clientInfo: Json | undefined;
  savedTokens: { access_token: string; refresh_token?: string; [k: string]: unknown } | undefined;
  verifier = "";
  authorizationUrl: URL | undefined;
  readonly clientMetadataUrl: string | undefined;

  constructor(
    readonly redirectUrl: string,
    readonly extra: { clientName?: string; clientMetadataUrl?: string; scope?: string } = {},
  ) {
    this.clientMetadataUrl = extra.clientMetadataUrl;
  }

  get clientMetadata() {
    return {
      client_name: this.extra.clientName ?? "SDK test client",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
      ...(this.extra.scope ? { scope: this.extra.scope } : {}),
    };
  }

  state(): string {
    return randomBytes(12).toString("base64url");
  }
  clientInformation() {
    return this.clientInfo;
  }
  saveClientInformation(info: Json): void {
    this.clientInfo = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens: { access_token: string; refresh_token?: string }): void {
    this.savedTokens = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string): void {
    this.verifier = v;
  }
  codeVerifier(): string {
    return this.verifier;
  }
  /** SDK v2 binds the callback leg to the discovered authorization server (SEP-2352). */
  discovery: unknown;
  saveDiscoveryState(state: unknown): void {
    this.discovery = state;
  }
  discoveryState(): unknown {
    return this.discovery;
  }
}
