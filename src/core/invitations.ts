/**
 * Workspace invitations: an admin invites an email with a role; the invitation is a one-time
 * link (`/invite?token=…`) shown once, stored only as the SHA-256 of its secret, expiring
 * after the days the admin chose, revocable, and used once. The invited person opens it and
 * either creates their account (the email is the invitation's) or, having one, signs in;
 * they then join the workspace with the role. Inviting an email again replaces the pending
 * invitation (the old link stops working).
 *
 * Who: workspace admins create, list and revoke (never an API key). Accepting needs the
 * link and the invited email's account.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor, Role } from "../auth/actor.ts";
import { hashSecret } from "../auth/hash.ts";
import { AppError, invalid } from "../errors.ts";
import { newSecret, randomString } from "../util/ids.ts";
import { requireScope, requireWorkspaceAdmin } from "./access.ts";
import {
  createUser,
  findUserByEmail,
  findUserById,
  normaliseEmail,
  type UserRow,
} from "./users.ts";
import { parseRole } from "./workspaces.ts";

/** Lifetimes an admin may pick, in days; the first is the default. */
export const INVITATION_DAYS: readonly number[] = [7, 1, 30];
/** Invitations listed on the Members page (newest first). */
export const INVITATIONS_LISTED = 100;
const SECRET_PREFIX = "dinv_";
const ADMINS_ONLY = "Only workspace admins can invite people.";

export type InvitationState = "pending" | "accepted" | "revoked" | "expired";

export interface InvitationView {
  sId: string;
  email: string;
  role: Role;
  state: InvitationState;
  createdAt: number;
  expiresAt: number;
  createdBy: string | null;
  acceptedAt: number | null;
}

/** What the invitation page shows to whoever holds the link. */
export interface InvitationForLink extends InvitationView {
  workspace: { id: number; sId: string; name: string };
}

interface Row {
  id: number;
  s_id: string;
  workspace_id: number;
  email: string;
  role: Role;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  revoked_at: number | null;
  created_by: string | null;
}

function stateOf(r: Row, at: number): InvitationState {
  if (r.accepted_at !== null) return "accepted";
  if (r.revoked_at !== null) return "revoked";
  return r.expires_at <= at ? "expired" : "pending";
}

function toView(r: Row, at = now()): InvitationView {
  return {
    sId: r.s_id,
    email: r.email,
    role: r.role,
    state: stateOf(r, at),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    createdBy: r.created_by ?? null,
    acceptedAt: r.accepted_at,
  };
}

/** The link an invitation's secret opens. */
export function invitationUrl(deps: Pick<Deps, "config">, token: string): string {
  return `${deps.config.publicUrl}/invite?token=${encodeURIComponent(token)}`;
}

/**
 * An admin invites `email` as `role` for `expiresInDays` (one of {@link INVITATION_DAYS}).
 * The link is in the result and nowhere else. A member of the workspace cannot be invited
 * (409); a pending invitation of the same email is revoked.
 */
export async function createInvitation(
  deps: Deps,
  actor: Actor,
  input: { email: string; role: string; expiresInDays?: number },
): Promise<{ invitation: InvitationView; token: string; url: string }> {
  const admin = requireWorkspaceAdmin(actor, ADMINS_ONLY);
  requireScope(actor, "write");
  const email = normaliseEmail(input.email);
  const role = parseRole(input.role);
  const days = input.expiresInDays ?? INVITATION_DAYS[0];
  if (!INVITATION_DAYS.includes(days)) {
    throw invalid(`expiresInDays: must be one of ${[...INVITATION_DAYS].sort((a, b) => a - b)}`);
  }
  const token = newSecret(SECRET_PREFIX);
  const row = await deps.db.tx(async () => {
    const member = await deps.db.get(
      `SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.workspace_id = ? AND u.email = ?`,
      actor.workspace.id,
      email,
    );
    if (member) throw new AppError(409, "conflict", `${email} is already a member.`);
    const t = now();
    await deps.db.run(
      `UPDATE invitations SET revoked_at = ? WHERE workspace_id = ? AND email = ?
       AND accepted_at IS NULL AND revoked_at IS NULL`,
      t,
      actor.workspace.id,
      email,
    );
    return await deps.db.get(
      `INSERT INTO invitations (s_id, workspace_id, email, role, token_hash, created_by_user_id,
         created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *, NULL AS created_by`,
      `inv_${randomString(12)}`,
      actor.workspace.id,
      email,
      role,
      hashSecret(token),
      admin.user.id,
      t,
      t + days * 86_400_000,
    ) as Row;
  });
  return { invitation: toView(row), token, url: invitationUrl(deps, token) };
}

/** The workspace's latest invitations, newest first, with their state (admins). */
export async function listInvitations(deps: Deps, actor: Actor): Promise<InvitationView[]> {
  requireWorkspaceAdmin(actor, ADMINS_ONLY);
  const rows = await deps.db.all(
    `SELECT i.*, u.email AS created_by FROM invitations i
     LEFT JOIN users u ON u.id = i.created_by_user_id
     WHERE i.workspace_id = ? ORDER BY i.created_at DESC, i.id DESC LIMIT ?`,
    actor.workspace.id,
    INVITATIONS_LISTED,
  ) as Row[];
  const at = now();
  return rows.map((r) => toView(r, at));
}

/** An admin revokes a pending invitation: its link stops working. */
export async function revokeInvitation(
  deps: Deps,
  actor: Actor,
  input: { invitationId: string },
): Promise<InvitationView> {
  requireWorkspaceAdmin(actor, ADMINS_ONLY);
  requireScope(actor, "write");
  const row = await deps.db.get(
    `UPDATE invitations SET revoked_at = coalesce(revoked_at, ?)
     WHERE s_id = ? AND workspace_id = ? AND accepted_at IS NULL RETURNING *, NULL AS created_by`,
    now(),
    input.invitationId,
    actor.workspace.id,
  ) as Row | undefined;
  if (!row) throw new AppError(404, "not_found", "No pending invitation with this id.");
  return toView(row);
}

async function rowForToken(db: Db, token: string): Promise<Row | null> {
  if (!token.startsWith(SECRET_PREFIX) || token.length > 200) return null;
  return await db.get(
    "SELECT *, NULL AS created_by FROM invitations WHERE token_hash = ?",
    hashSecret(token),
  ) as Row | undefined ?? null;
}

/** The invitation a link names (any state), with its workspace; null for an unknown link. */
export async function findInvitation(db: Db, token: string): Promise<InvitationForLink | null> {
  const r = await rowForToken(db, token);
  if (!r) return null;
  const ws = await db.get("SELECT id, s_id, name FROM workspaces WHERE id = ?", r.workspace_id) as
    | { id: number; s_id: string; name: string }
    | undefined;
  if (!ws) return null;
  return { ...toView(r), workspace: { id: ws.id, sId: ws.s_id, name: ws.name } };
}

const UNUSABLE: Record<Exclude<InvitationState, "pending">, string> = {
  accepted: "This invitation has already been used.",
  revoked: "This invitation was revoked. Ask an admin of the workspace for a new one.",
  expired: "This invitation has expired. Ask an admin of the workspace for a new one.",
};

/**
 * `user` accepts the invitation the link names: they join the workspace with its role (a
 * member already keeps their role). The account's email must be the invited one (403).
 * Checked and used in one transaction, so a link is used once.
 */
export async function acceptInvitation(
  deps: Deps,
  input: { token: string; userId: number },
): Promise<{ workspaceSId: string; role: Role; joined: boolean }> {
  const user = await findUserById(deps.db, input.userId);
  if (!user) throw new AppError(404, "user_not_found", "The user was not found.");
  return await deps.db.tx(async () => {
    const r = await rowForToken(deps.db, input.token);
    if (!r) throw new AppError(404, "not_found", "This invitation link is not valid.");
    const state = stateOf(r, now());
    if (state !== "pending") throw new AppError(410, "not_found", UNUSABLE[state]);
    if (user.email !== r.email) {
      throw new AppError(
        403,
        "workspace_auth_error",
        `This invitation is for ${r.email}; you are signed in as ${user.email}.`,
      );
    }
    const t = now();
    const claimed = await deps.db.run(
      `UPDATE invitations SET accepted_at = ?, accepted_by_user_id = ?
       WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL`,
      t,
      user.id,
      r.id,
    );
    if (Number(claimed.changes) !== 1) throw new AppError(410, "not_found", UNUSABLE.accepted);
    const joined = await deps.db.run(
      `INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (workspace_id, user_id) DO NOTHING`,
      r.workspace_id,
      user.id,
      r.role,
      t,
    );
    const ws = await deps.db.get("SELECT s_id FROM workspaces WHERE id = ?", r.workspace_id) as {
      s_id: string;
    };
    return { workspaceSId: ws.s_id, role: r.role, joined: Number(joined.changes) === 1 };
  });
}

/**
 * Create the invited email's account (name + password) and accept. Refused when the email
 * already has an account (409: sign in instead) or the link is not usable.
 */
export async function acceptInvitationWithNewAccount(
  deps: Deps,
  input: { token: string; name: string; password: string },
): Promise<{ user: UserRow; workspaceSId: string; role: Role }> {
  const inv = await findInvitation(deps.db, input.token);
  if (!inv) throw new AppError(404, "not_found", "This invitation link is not valid.");
  if (inv.state !== "pending") throw new AppError(410, "not_found", UNUSABLE[inv.state]);
  if (await findUserByEmail(deps.db, inv.email)) {
    throw new AppError(409, "conflict", `${inv.email} already has an account: sign in instead.`);
  }
  // The account is created first (its password hash is slow: outside any transaction); should
  // the invitation be revoked meanwhile, the account stays, without the workspace.
  const user = await createUser(deps.db, {
    email: inv.email,
    name: input.name,
    password: input.password,
  });
  const r = await acceptInvitation(deps, { token: input.token, userId: user.id });
  return { user, workspaceSId: r.workspaceSId, role: r.role };
}
