/**
 * The signed-in user's own account: changing the password revokes every credential of the
 * user that a thief could hold — OAuth grants, MCP tokens, personal access tokens — removes
 * their client-side MCP server registrations, and ends their other browser sessions (seed
 * 002: "You can revoke OAuth access anytime by changing your password, which invalidates all
 * sessions"). Event streams opened with those credentials end (`credential_state.ts`), and
 * relay request streams of the removed registrations end at once.
 * @module
 */
import type { Deps } from "../deps.ts";

import { AppError } from "../errors.ts";
import { findUserById, setPasswordHash, validatePassword } from "./users.ts";
import { revokeUserGrants } from "./oauth_grants.ts";
import { revokeUserMcpTokens } from "./mcp_tokens.ts";
import { revokeUserPersonalTokens } from "./personal_tokens.ts";
import { removeUserRelayRegistrations } from "./relay_registry.ts";
import { deleteUserSessions } from "./sessions.ts";
import { checkPassword } from "./sign_in.ts";

export interface PasswordChange {
  grantsRevoked: number;
  tokensRevoked: number;
  personalTokensRevoked: number;
  relayRegistrationsRemoved: number;
  sessionsEnded: number;
}

/**
 * Change the password after checking the current one — through the sign-in check, so its
 * failure limits apply (429) — then revoke the user's credentials.
 */
export async function changePassword(
  deps: Deps,
  input: {
    userId: number;
    current: string;
    next: string;
    keepSessionIdHash: string | null;
    /** Client address and device cookie, for the failure limits of the check. */
    address: string;
    device?: string | null;
  },
): Promise<PasswordChange> {
  const db = deps.db;
  const user = await findUserById(db, input.userId);
  if (!user) throw new AppError(404, "user_not_found", "The user was not found.");
  const checked = await checkPassword(deps, {
    email: user.email,
    password: input.current,
    address: input.address,
    device: input.device,
  }, { upgradeHash: false });
  if (!checked) {
    throw new AppError(400, "invalid_request_error", "The current password is wrong.");
  }
  validatePassword(input.next);
  await setPasswordHash(db, user.id, input.next);
  return await db.tx(async () => ({
    grantsRevoked: await revokeUserGrants(db, user.id, "password_changed"),
    tokensRevoked: await revokeUserMcpTokens(db, user.id, "password_changed"),
    personalTokensRevoked: await revokeUserPersonalTokens(db, user.id),
    relayRegistrationsRemoved: await removeUserRelayRegistrations(deps, user.id),
    sessionsEnded: await deleteUserSessions(db, user.id, input.keepSessionIdHash),
  }));
}
