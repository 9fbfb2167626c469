/**
 * Who is calling: the one type every surface (REST, MCP, pages, relay) hands to `core/`.
 * A user acts in exactly one workspace; an API key acts as its workspace, with no user.
 * @module
 */

export type Role = "admin" | "builder" | "user";
/** OAuth / token scopes. `write` implies `read` (scope hierarchy, MCP A26 §11.1.2). */
export type Scope = "read" | "write";
export const ALL_SCOPES: readonly Scope[] = ["read", "write"];

export interface WorkspaceRef {
  id: number;
  sId: string;
  name: string;
}

export interface UserRef {
  id: number;
  sId: string;
  email: string;
  username: string;
  firstName: string;
  lastName: string | null;
  imageUrl: string | null;
}

export type CredentialKind = "session" | "oauth" | "mcp_token" | "personal_token" | "api_key";

export interface Credential {
  kind: CredentialKind;
  /** Public id of the credential (grant, token or key sId) for audit; never the secret. */
  id: string;
  /** The OAuth client, for OAuth access tokens. */
  clientId?: string;
  /** The OAuth grant row id, for OAuth access tokens (revocation checks). */
  grantId?: number;
  /** The grant's `access_version` this actor was built at (core/grant_access.ts). */
  grantVersion?: number;
  /** When a self-contained credential (an OAuth access token) expires, epoch ms. */
  expiresAt?: number;
  /**
   * The browser session's id hash, for a page's event stream: signing out (or the session
   * expiring) ends the stream (core/credential_state.ts). Never shown or logged.
   */
  sessionIdHash?: string;
}

/**
 * What an OAuth grant narrowed on consent may reach (core/grant_access.ts): only these spaces
 * (row ids, and their sIds for the checks that only hold sIds), intersected with what the user
 * reads; and the user's conversations that live in no space only when `conversations`.
 * Absent on an actor: the credential reaches everything its user reads.
 */
export interface SpaceNarrowing {
  spaceIds: ReadonlySet<number>;
  spaceSIds: ReadonlySet<string>;
  conversations: boolean;
}

export interface UserActor {
  kind: "user";
  user: UserRef;
  workspace: WorkspaceRef;
  role: Role;
  scopes: ReadonlySet<Scope>;
  credential: Credential;
  narrowing?: SpaceNarrowing;
}

export interface ApiKeyActor {
  kind: "api_key";
  workspace: WorkspaceRef;
  credential: Credential;
}

export type Actor = UserActor | ApiKeyActor;

export function hasScope(actor: Actor, scope: Scope): boolean {
  if (actor.kind === "api_key") return true;
  if (actor.scopes.has(scope)) return true;
  return scope === "read" && actor.scopes.has("write");
}

export function fullName(u: Pick<UserRef, "firstName" | "lastName">): string {
  return [u.firstName, u.lastName].filter(Boolean).join(" ");
}
