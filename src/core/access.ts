/**
 * THE access rules: who may read, write or administer what. Every permission decision of the
 * core goes through a function here, so each rule has one home and one named test
 * (tests/core/access_test.ts). Other aggregates (conversations, files, documents) add their
 * rules below, built on the space rules.
 *
 * Rules, following Dust:
 * - Workspace isolation: a thing of another workspace does not exist for the caller; lookups
 *   answer "not found" and reveal nothing (same status and message as a missing id).
 * - Roles: `admin` ⊃ `builder` ⊃ `user`. An API key acts as its workspace with no user: it
 *   may do what a builder may do on open content, and nothing that needs a user.
 * - Workspace settings (`requireWorkspaceAdmin`): audit retention, the MCP switch and redirect
 *   allowlist, groups, spaces, API keys, OAuth clients — workspace admins only, never an API
 *   key (a key could otherwise erase the history of what it did, or widen its own reach).
 *   The audit log itself is read by admins and by API keys (`canReadAuditLog`).
 * - Spaces (`canReadSpace`):
 *   - `global` (Company Data): every member and every API key.
 *   - `regular`, open: every member and every API key.
 *   - `regular`, restricted: its members (`space_members`) and the members of a group granted
 *     the space (`space_groups`); API keys only when the workspace group is granted.
 *     Workspace admins administer it (members, name) but do not read it unless members —
 *     Dust gives the admin role only the `admin` permission on restricted spaces.
 *   - `project` (Pod): its members and editors only, open or restricted alike; admins get no
 *     bypass and API keys never read Pods. An open Pod only means any member may join it.
 *   - `system`: workspace admins only.
 *   - `conversations`: every member and API key (it holds workspace-level conversations).
 * - Writing content into a space (`canWriteSpace`): whoever reads a Pod or a restricted
 *   regular space; builders, admins and API keys for global and open regular spaces; admins
 *   for the system space; everyone for the conversations space.
 * - Administering a space (`canAdministerSpace`): Pod editors for a Pod; workspace admins for
 *   global, regular and system spaces; nobody for the conversations space.
 * - Narrowed credentials (an OAuth grant narrowed on consent, grant_access.ts): every space
 *   rule above is intersected with the chosen spaces (`withinNarrowing`); the conversations
 *   space, conversations in no space and unscoped uploads need the grant's "conversations"
 *   choice (`reachesOwnConversations`); builder- and admin-only operations, the audit log and
 *   the workspace directory are refused (`isNarrowed`), so a narrowed token can neither mint a
 *   wider credential nor change who reads what.
 * @module
 */
import type { Db } from "../db/db.ts";
import type { Actor, Role, Scope, UserActor } from "../auth/actor.ts";
import { hasScope } from "../auth/actor.ts";
import { AppError, type ErrorType } from "../errors.ts";
import {
  findSpaceInWorkspace,
  getSpaceMemberRole,
  groupGrantedSpaceIds,
  isGrantedThroughGroup,
  isGrantedToWorkspaceGroup,
  listWorkspaceSpaces,
  memberSpaceIds,
  type SpaceRow,
} from "./space_rows.ts";

/** The message Dust's Pod tools answer for a missing or unreadable Pod. */
export const POD_NOT_FOUND_MESSAGE = "Pod not found or you do not have access.";

// ---------------------------------------------------------------------------------------------
// Workspace-level rules
// ---------------------------------------------------------------------------------------------

/** Rule: user-only operations refuse API keys (Dust answers 401 `user_not_found`). */
export function requireUser(
  actor: Actor,
  message = "This endpoint requires a user token; API keys act as the workspace, not a user.",
  type: ErrorType = "user_not_found",
): UserActor {
  if (actor.kind !== "user") throw new AppError(401, type, message);
  return actor;
}

/** Rule: the actor is a user whose workspace role is one of `roles` (403 otherwise). */
export function requireWorkspaceRole(
  actor: Actor,
  roles: readonly Role[],
  message = "You do not have the role this action requires.",
): UserActor {
  if (actor.kind !== "user" || !roles.includes(actor.role)) {
    throw new AppError(403, "workspace_auth_error", message);
  }
  // Builder and admin operations act on the whole workspace: never through a narrowed token.
  if (!roles.includes("user")) requireFullAccess(actor);
  return actor;
}

// ---------------------------------------------------------------------------------------------
// Narrowed credentials (grant_access.ts)
// ---------------------------------------------------------------------------------------------

export const NARROWED_MESSAGE =
  "This token was narrowed to chosen spaces on consent; this action needs full access.";

/** Rule: the credential was narrowed to chosen spaces (or away from conversations). */
export function isNarrowed(actor: Actor): boolean {
  return actor.kind === "user" && actor.narrowing !== undefined;
}

/** Rule: workspace-wide actions and minting credentials need an unnarrowed credential. */
export function requireFullAccess(actor: Actor, message = NARROWED_MESSAGE): void {
  if (isNarrowed(actor)) throw new AppError(403, "workspace_auth_error", message);
}

/** Rule: whether a narrowed credential's choice includes the space (always true otherwise). */
export function withinNarrowing(actor: Actor, space: Pick<SpaceRow, "id" | "kind">): boolean {
  if (actor.kind !== "user" || !actor.narrowing) return true;
  return space.kind === "conversations"
    ? actor.narrowing.conversations
    : actor.narrowing.spaceIds.has(space.id);
}

/**
 * Rule: the credential reaches the user's conversations that live in no space (private and
 * workspace-visible ones) and their unscoped uploads.
 */
export function reachesOwnConversations(actor: Actor): boolean {
  return actor.kind !== "user" || !actor.narrowing || actor.narrowing.conversations;
}

/**
 * Rule: a workspace setting is changed by a workspace admin — a user with the `admin` role,
 * never an API key (403 `workspace_auth_error` in the REST envelope).
 */
export function requireWorkspaceAdmin(
  actor: Actor,
  message = "Only workspace admins can change this setting.",
): UserActor {
  return requireWorkspaceRole(actor, ["admin"], message);
}

/** Rule: the audit log is read by workspace admins and by the workspace's API keys. */
export function canReadAuditLog(actor: Actor): boolean {
  return actor.kind === "api_key" || (isAdmin(actor) && !isNarrowed(actor));
}

/**
 * Rule: what Dust gives only its system key about a workspace (member emails, verified domains,
 * feature flags) is read here by workspace admins and the workspace's API keys, this server's
 * nearest equivalents; other callers are answered as Dust answers them (404).
 */
export function canReadWorkspaceDirectory(actor: Actor): boolean {
  return actor.kind === "api_key" || (isAdmin(actor) && !isNarrowed(actor));
}

/** Rule: builders and admins (and API keys, which act at builder level) build things. */
export function isBuilder(actor: Actor): boolean {
  return actor.kind === "api_key" || actor.role === "admin" || actor.role === "builder";
}

/** Rule: a workspace admin (never an API key). */
export function isAdmin(actor: Actor): boolean {
  return actor.kind === "user" && actor.role === "admin";
}

/** Rule: write operations need the token's `write` scope (OAuth tokens may be read-only). */
export function requireScope(actor: Actor, scope: Scope): void {
  if (!hasScope(actor, scope)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      `This token does not have the "${scope}" scope this action needs.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Space rules
// ---------------------------------------------------------------------------------------------

/** Rule: who reads a space (see the module comment for the table). */
export async function canReadSpace(db: Db, actor: Actor, space: SpaceRow): Promise<boolean> {
  if (space.workspaceId !== actor.workspace.id || !withinNarrowing(actor, space)) return false;
  return await spaceReadRule(
    actor,
    space,
    async (id) => actor.kind === "user" && await getSpaceMemberRole(db, id, actor.user.id) !== null,
    async (id) =>
      actor.kind === "api_key"
        ? await isGrantedToWorkspaceGroup(db, id)
        : await isGrantedThroughGroup(db, id, actor.user.id),
  );
}

/**
 * The space read rule itself, on two lookups: the actor's membership of a space, and a grant
 * to a group the actor is in (for an API key, the workspace group only). `canReadSpace` asks
 * the database lazily; `readableSpaceIds` answers from sets loaded once.
 */
async function spaceReadRule(
  actor: Actor,
  s: SpaceRow,
  isMember: (spaceId: number) => Promise<boolean> | boolean,
  isGranted: (spaceId: number) => Promise<boolean> | boolean,
): Promise<boolean> {
  if (isOpenToWorkspace(s)) return true;
  if (actor.kind === "api_key") return s.kind === "regular" && await isGranted(s.id);
  switch (s.kind) {
    case "global":
    case "conversations":
      return true;
    case "system":
      return actor.role === "admin";
    case "project":
      return await isMember(s.id);
    case "regular": // restricted: open ones answered above
      return await isMember(s.id) || await isGranted(s.id);
  }
}

/**
 * Rule: every actor of the workspace reads the space whatever its memberships and grants
 * (`global`, `conversations`, open `regular`) — decided on the space's kind and restriction
 * alone, never on grants. The search index keeps these spaces' documents in one partition and
 * every other space's in its own (search_index.ts), so a ranking statistic never mixes content
 * a reader may not read.
 */
export function isOpenToWorkspace(space: Pick<SpaceRow, "kind" | "isRestricted">): boolean {
  return space.kind === "global" || space.kind === "conversations" ||
    (space.kind === "regular" && !space.isRestricted);
}

/** Rule: who writes content (documents, files, tasks) into a space. */
export async function canWriteSpace(db: Db, actor: Actor, space: SpaceRow): Promise<boolean> {
  if (!(await canReadSpace(db, actor, space))) return false;
  switch (space.kind) {
    case "conversations":
    case "project":
      return true;
    case "system":
      return isAdmin(actor);
    case "global":
      return isBuilder(actor);
    case "regular":
      return space.isRestricted || isBuilder(actor);
  }
}

/** Rule: who administers a space (name, members, archive). */
export async function canAdministerSpace(db: Db, actor: Actor, space: SpaceRow): Promise<boolean> {
  if (space.workspaceId !== actor.workspace.id || actor.kind !== "user") return false;
  if (!withinNarrowing(actor, space)) return false;
  if (space.kind === "project") {
    return await getSpaceMemberRole(db, space.id, actor.user.id) === "editor";
  }
  if (space.kind === "conversations") return false;
  return actor.role === "admin";
}

function spaceNotFound(message: string): AppError {
  return new AppError(404, "space_not_found", message);
}

/** Load a space the actor can read, or 404 `space_not_found` (same answer as a missing id). */
export async function requireReadableSpace(
  db: Db,
  actor: Actor,
  spaceSId: string,
  notFoundMessage = "Space not found.",
): Promise<SpaceRow> {
  const space = await findSpaceInWorkspace(db, actor.workspace.id, spaceSId);
  if (!space || !await canReadSpace(db, actor, space)) throw spaceNotFound(notFoundMessage);
  return space;
}

/** Load a space the actor can write into: 404 when unreadable, 403 when read-only. */
export async function requireWritableSpace(
  db: Db,
  actor: Actor,
  spaceSId: string,
): Promise<SpaceRow> {
  const space = await requireReadableSpace(db, actor, spaceSId);
  if (!await canWriteSpace(db, actor, space)) {
    throw new AppError(403, "workspace_auth_error", "You cannot write into this space.");
  }
  return space;
}

/** Load a space the actor administers: 404 when they cannot see it, 403 when they only read. */
export async function requireAdministrableSpace(
  db: Db,
  actor: Actor,
  spaceSId: string,
): Promise<SpaceRow> {
  const space = await findSpaceInWorkspace(db, actor.workspace.id, spaceSId);
  if (!space) throw spaceNotFound("Space not found.");
  if (await canAdministerSpace(db, actor, space)) return space;
  if (!await canReadSpace(db, actor, space)) throw spaceNotFound("Space not found.");
  throw new AppError(403, "workspace_auth_error", "You cannot administer this space.");
}

/**
 * Rule: a Pod is a readable space of kind `project`; `activeOnly` also hides archived Pods
 * (what the MCP Pod tools see). Anything else is "Pod not found or you do not have access."
 */
export async function requireReadablePod(
  db: Db,
  actor: Actor,
  podSId: string,
  options: { activeOnly?: boolean } = {},
): Promise<SpaceRow> {
  const space = await findSpaceInWorkspace(db, actor.workspace.id, podSId);
  if (
    !space || space.kind !== "project" || !await canReadSpace(db, actor, space) ||
    (options.activeOnly && space.archivedAt !== null)
  ) {
    throw spaceNotFound(POD_NOT_FOUND_MESSAGE);
  }
  return space;
}

/**
 * Row ids of every space the actor reads, computed with three queries rather than one per
 * space (search and listings call this on every request).
 */
export async function readableSpaceIds(db: Db, actor: Actor): Promise<Set<number>> {
  const spaces = await listWorkspaceSpaces(db, actor.workspace.id);
  const userId = actor.kind === "user" ? actor.user.id : null;
  const members = userId === null
    ? new Set<number>()
    : await memberSpaceIds(db, actor.workspace.id, userId);
  const granted = await groupGrantedSpaceIds(db, actor.workspace.id, userId);
  const out = new Set<number>();
  for (const s of spaces) {
    if (!withinNarrowing(actor, s)) continue;
    const member = (id: number) => members.has(id);
    if (await spaceReadRule(actor, s, member, (id) => granted.has(id))) out.add(s.id);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Conversation rules
// ---------------------------------------------------------------------------------------------

/** The facts a conversation rule decides on (loaded by `conversations.ts`). */
export interface ConversationFacts {
  workspaceId: number;
  /** The space (Pod) the conversation lives in, or null for a workspace-level one. */
  space: SpaceRow | null;
  visibility: "unlisted" | "workspace" | "deleted" | "test";
  /** The actor is a participant (always false for API keys). */
  isParticipant: boolean;
  /** An API key created it (a user's conversation is never one). */
  createdThroughApiKey: boolean;
}

/**
 * Rule: who reads (and therefore posts in, marks read, cancels in) a conversation.
 * - Another workspace's or a deleted conversation: nobody.
 * - In a space (Pod): exactly the readers of that space (participation alone is not enough
 *   once a user left the Pod; API keys follow the space rule, so never a Pod).
 * - Workspace level: its participants, and every member when its visibility is `workspace`.
 *   API keys read the conversations API keys created and the `workspace`-visible ones, never
 *   a member's private conversation: an admin can mint a key, and the key must not see what
 *   the admin's own token cannot (issue 10). Any key of the workspace reads what another key
 *   created, so rotating a key keeps an integration's conversations.
 */
export async function canReadConversation(
  db: Db,
  actor: Actor,
  c: ConversationFacts,
): Promise<boolean> {
  if (c.workspaceId !== actor.workspace.id || c.visibility === "deleted") return false;
  if (c.space) return await canReadSpace(db, actor, c.space);
  if (!reachesOwnConversations(actor)) return false;
  if (c.visibility === "workspace") return true;
  return actor.kind === "api_key" ? c.createdThroughApiKey : c.isParticipant;
}

// ---------------------------------------------------------------------------------------------
// File rules
// ---------------------------------------------------------------------------------------------

/** The facts a file-scope rule decides on (loaded by `files.ts`). */
export type FileScopeFacts =
  | { type: "conversation"; conversationReadable: boolean }
  | { type: "pod"; space: SpaceRow | null };

/**
 * Rule: files follow their scope (Dust: conversation files need the conversation, Pod files
 * need the project space).
 * - Conversation scope: whoever reads the conversation reads its files and adds files to it.
 * - Pod scope: the space must be a Pod (`project`); its readers read the files, its writers
 *   (`canWriteSpace`) create, overwrite and delete them.
 * The token's `write` scope is checked separately (`requireScope`), so a read-only token gets
 * 403, not "not found".
 */
export async function canAccessFileScope(
  db: Db,
  actor: Actor,
  facts: FileScopeFacts,
  mode: "read" | "write",
): Promise<boolean> {
  if (facts.type === "conversation") return facts.conversationReadable;
  const s = facts.space;
  if (!s || s.kind !== "project" || s.workspaceId !== actor.workspace.id) return false;
  return mode === "read" ? await canReadSpace(db, actor, s) : await canWriteSpace(db, actor, s);
}

// ---------------------------------------------------------------------------------------------
// Data source and document rules
// ---------------------------------------------------------------------------------------------

/**
 * Rule: data sources and their documents live in a space and follow it: readers of the space
 * read and search them, writers of the space upsert and delete documents. The conversations
 * space holds no data sources (Dust answers 404 `space_not_found` for it).
 */
export async function canReadDataSourceIn(db: Db, actor: Actor, space: SpaceRow): Promise<boolean> {
  return space.kind !== "conversations" && await canReadSpace(db, actor, space);
}

/** Rule: writers of the space write documents (upsert, delete). */
export async function canWriteDocumentsIn(db: Db, actor: Actor, space: SpaceRow): Promise<boolean> {
  return space.kind !== "conversations" && await canWriteSpace(db, actor, space);
}

/**
 * Rule: creating a data source is a builder action (builders, admins, API keys) in a space the
 * actor writes into; never in the conversations or system space.
 */
export async function canCreateDataSourceIn(
  db: Db,
  actor: Actor,
  space: SpaceRow,
): Promise<boolean> {
  return isBuilder(actor) && space.kind !== "conversations" && space.kind !== "system" &&
    await canWriteSpace(db, actor, space);
}
