/**
 * Consent narrowed to spaces: what the user let an OAuth client reach, chosen on the consent
 * page and edited on the connected-access page. A grant holds the choice (migration 0016):
 * read-only or read + write; every space the user reads (now and later: the default, today's
 * behaviour) or only chosen ones; and whether it reaches the user's conversations that live in
 * no space. Every token of the grant is resolved against the grant's CURRENT choice on every
 * request (`/api/v1` rebuilds the actor each time; `/mcp` re-checks `access_version`), so an
 * edit applies to existing tokens at once, widening as well as narrowing.
 *
 * The choice becomes part of the actor (`UserActor.narrowing`, `scopes`), and the access rules
 * (access.ts) intersect with it, so every surface that asks them is narrowed alike.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Scope, SpaceNarrowing, UserActor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { readableSpaceIds } from "./access.ts";
import { listWorkspaceSpaces, type SpaceRow } from "./space_rows.ts";

/** The user's choice for one grant (also what a code carries to its grant). */
export interface AccessChoice {
  readOnly: boolean;
  /** null: every space the user reads, now and later; else these space row ids. */
  spaceIds: number[] | null;
  conversations: boolean;
}

/** Today's behaviour, and the consent page's default. */
export const FULL_ACCESS: AccessChoice = { readOnly: false, spaceIds: null, conversations: true };

/** A grant's current state and choice, as each request resolves it. */
export interface GrantAccess {
  grantId: number;
  userId: number;
  workspaceId: number;
  active: boolean;
  version: number;
  choice: AccessChoice;
  /** sIds of `choice.spaceIds` (empty when all spaces). */
  spaceSIds: string[];
}

interface GrantRow {
  id: number;
  user_id: number;
  workspace_id: number;
  revoked_at: number | null;
  expires_at: number;
  read_only: number;
  all_spaces: number;
  conversations: number;
  access_version: number;
}

async function loadAccess(
  db: Db,
  where: "s_id" | "id",
  key: string | number,
  at: number,
): Promise<GrantAccess | null> {
  const g = await db.get(
    `SELECT id, user_id, workspace_id, revoked_at, expires_at, read_only, all_spaces,
            conversations, access_version FROM oauth_grants WHERE ${where} = ?`,
    key,
  ) as GrantRow | undefined;
  if (!g) return null;
  const spaces = g.all_spaces === 1 ? [] : await db.all(
    `SELECT s.id, s.s_id FROM oauth_grant_spaces gs JOIN spaces s ON s.id = gs.space_id
     WHERE gs.grant_id = ? AND s.workspace_id = ? ORDER BY s.id`,
    g.id,
    g.workspace_id,
  ) as { id: number; s_id: string }[];
  return {
    grantId: g.id,
    userId: g.user_id,
    workspaceId: g.workspace_id,
    active: g.revoked_at === null && g.expires_at > at,
    version: Number(g.access_version),
    choice: {
      readOnly: g.read_only === 1,
      spaceIds: g.all_spaces === 1 ? null : spaces.map((s) => s.id),
      conversations: g.conversations === 1,
    },
    spaceSIds: spaces.map((s) => s.s_id),
  };
}

/** A grant's access by sId (the `gid` of an access token), or null when there is no such grant. */
export async function loadGrantAccess(
  db: Db,
  grantSId: string,
  at = Date.now(),
): Promise<GrantAccess | null> {
  return await loadAccess(db, "s_id", grantSId, at);
}

/** A grant's access by row id (an agent run's launching grant). */
export async function loadGrantAccessById(
  db: Db,
  grantId: number,
  at = Date.now(),
): Promise<GrantAccess | null> {
  return await loadAccess(db, "id", grantId, at);
}

/** The narrowing a choice puts on an actor; undefined when it reaches everything. */
export function narrowingOf(access: GrantAccess): SpaceNarrowing | undefined {
  const c = access.choice;
  if (c.spaceIds === null && c.conversations) return undefined;
  return {
    spaceIds: new Set(c.spaceIds ?? []),
    spaceSIds: new Set(access.spaceSIds),
    conversations: c.conversations,
  };
}

/** The scopes a token acts with: those it was issued with, less `write` when read-only now. */
export function effectiveScopes(issued: ReadonlySet<Scope>, choice: AccessChoice): Set<Scope> {
  const out = new Set(issued);
  if (choice.readOnly) out.delete("write");
  return out;
}

/** Apply a grant's current choice to the actor its token resolved to. */
export function applyGrantAccess(actor: UserActor, access: GrantAccess): UserActor {
  const narrowing = narrowingOf(access);
  return {
    ...actor,
    scopes: effectiveScopes(actor.scopes, access.choice),
    credential: { ...actor.credential, grantId: access.grantId, grantVersion: access.version },
    ...(narrowing ? { narrowing } : {}),
  };
}

/** The OAuth grant an actor's credential belongs to (row id), recorded on the runs it launches. */
export function launchingGrantId(actor: { kind: string; credential: { grantId?: number } }) {
  return actor.kind === "user" ? actor.credential.grantId ?? null : null;
}

/**
 * The actor an agent run acts as, narrowed as the grant that launched it is NOW (an edit of
 * the choice reaches a run parked on approvals too); a grant that is gone or revoked leaves
 * the run nothing to reach and nothing to write.
 */
export async function narrowRunActor(
  db: Db,
  actor: UserActor,
  grantId: number | null,
): Promise<UserActor> {
  if (grantId === null) return actor;
  const access = await loadGrantAccessById(db, grantId);
  if (!access || !access.active || access.userId !== actor.user.id) {
    return { ...actor, scopes: new Set(["read"]), narrowing: NO_ACCESS };
  }
  return applyGrantAccess(actor, access);
}

/** The access of a grant that no longer exists or is revoked: nothing at all. */
export const NO_ACCESS: SpaceNarrowing = {
  spaceIds: new Set(),
  spaceSIds: new Set(),
  conversations: false,
};

// ---------------------------------------------------------------------------------------------
// Choosing (consent page, connected-access page)
// ---------------------------------------------------------------------------------------------

/**
 * The spaces a user may choose for a grant in the actor's workspace: the spaces they read now,
 * not archived, except the conversations space (the "conversations" box covers it) and the
 * system space (reached only by an unnarrowed grant).
 */
export async function listChoosableSpaces(db: Db, actor: UserActor): Promise<SpaceRow[]> {
  const full: UserActor = { ...actor, narrowing: undefined };
  const readable = await readableSpaceIds(db, full);
  return (await listWorkspaceSpaces(db, actor.workspace.id)).filter((s) =>
    readable.has(s.id) && s.archivedAt === null && s.kind !== "conversations" &&
    s.kind !== "system"
  );
}

/** The form field of one space's checkbox (the workspace in the name: one consent form may
 * list the spaces of each of the user's workspaces; only the chosen workspace's count). */
export function spaceField(workspaceSId: string, spaceSId: string): string {
  return `space:${workspaceSId}:${spaceSId}`;
}

/** Fields of the consent / connected-access forms (`space:<wId>:<sId>` = "1" per space). */
export interface AccessForm {
  [field: string]: string | undefined;
}

/**
 * Read a choice from a submitted form: `access` = `all` | `chosen`, `space:<wId>:<sId>` = `1`
 * for each chosen space of the actor's workspace, `conversations` = `1`, `read_only` = `1`. A space the user cannot read (or
 * that does not exist) is refused with 400 — never silently dropped, so the user sees it.
 */
export async function parseAccessForm(
  db: Db,
  actor: UserActor,
  form: AccessForm,
): Promise<AccessChoice> {
  const readOnly = form.read_only === "1";
  const conversations = form.conversations === "1";
  if (form.access !== "chosen") return { readOnly, spaceIds: null, conversations: true };
  const choosable = new Map((await listChoosableSpaces(db, actor)).map((s) => [s.sId, s]));
  const prefix = spaceField(actor.workspace.sId, "");
  const ids: number[] = [];
  for (const [k, v] of Object.entries(form)) {
    if (!k.startsWith(prefix) || v !== "1") continue;
    const sId = k.slice(prefix.length);
    const s = choosable.get(sId);
    if (!s) throw invalid(`You cannot give access to the space "${sId.slice(0, 64)}".`);
    ids.push(s.id);
  }
  if (ids.length > 500) throw invalid("Choose at most 500 spaces.");
  return { readOnly, spaceIds: ids, conversations };
}

/** Store a choice on a grant (inside the caller's transaction) and bump its version. */
export async function writeGrantChoice(
  db: Db,
  grantId: number,
  choice: AccessChoice,
): Promise<void> {
  await db.run(
    `UPDATE oauth_grants SET read_only = ?, all_spaces = ?, conversations = ?,
       access_version = access_version + 1 WHERE id = ?`,
    choice.readOnly ? 1 : 0,
    choice.spaceIds === null ? 1 : 0,
    choice.conversations || choice.spaceIds === null ? 1 : 0,
    grantId,
  );
  await db.run("DELETE FROM oauth_grant_spaces WHERE grant_id = ?", grantId);
  const insert = db.prepare(
    "INSERT INTO oauth_grant_spaces (grant_id, space_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
  );
  for (const spaceId of choice.spaceIds ?? []) await insert.run(grantId, spaceId);
}

/** The JSON a code carries (null for the default, so codes of unchanged clients look as before). */
export function encodeChoice(choice: AccessChoice): string | null {
  if (!choice.readOnly && choice.spaceIds === null) return null;
  return JSON.stringify(choice);
}

/** A code's choice back (null column: the default). */
export function decodeChoice(raw: string | null): AccessChoice {
  if (raw === null) return FULL_ACCESS;
  const v = JSON.parse(raw) as AccessChoice;
  return {
    readOnly: v.readOnly === true,
    spaceIds: Array.isArray(v.spaceIds) ? v.spaceIds.filter(Number.isInteger) : null,
    conversations: v.spaceIds === null || v.conversations === true,
  };
}

/**
 * The grant's own user edits its choice from the connected-access page, within what they read
 * now (`parseAccessForm`). Admins revoke other people's grants but never re-scope them.
 */
export async function editGrantAccess(
  db: Db,
  actor: UserActor,
  grantSId: string,
  form: AccessForm,
): Promise<void> {
  const row = await db.get(
    `SELECT id FROM oauth_grants WHERE s_id = ? AND user_id = ? AND workspace_id = ?
     AND revoked_at IS NULL AND expires_at > ?`,
    grantSId,
    actor.user.id,
    actor.workspace.id,
    now(),
  ) as { id: number } | undefined;
  if (!row) {
    throw new AppError(404, "not_found", "No such active grant of yours in this workspace.");
  }
  const choice = await parseAccessForm(db, actor, form);
  await db.tx(async () => await writeGrantChoice(db, row.id, choice));
}
