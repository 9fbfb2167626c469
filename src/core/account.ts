/**
 * The signed-in user's own account: changing the password revokes every OAuth grant and MCP
 * token of the user and ends their other browser sessions (seed 002: "You can revoke OAuth
 * access anytime by changing your password, which invalidates all sessions").
 * @module
 */
import type { Db } from "../db/sqlite.ts";
import { tx } from "../db/sqlite.ts";
import { AppError } from "../errors.ts";
import { verifyPassword } from "../auth/passwords.ts";
import { findUserById, setPasswordHash, validatePassword } from "./users.ts";
import { revokeUserGrants } from "./oauth_grants.ts";
import { revokeUserMcpTokens } from "./mcp_tokens.ts";
import { deleteUserSessions } from "./sessions.ts";

export interface PasswordChange {
  grantsRevoked: number;
  tokensRevoked: number;
  sessionsEnded: number;
}

/** Change the password after checking the current one; revoke the user's credentials. */
export async function changePassword(
  db: Db,
  input: { userId: number; current: string; next: string; keepSessionIdHash: string | null },
): Promise<PasswordChange> {
  const user = findUserById(db, input.userId);
  if (!user) throw new AppError(404, "user_not_found", "The user was not found.");
  if (!(await verifyPassword(input.current, user.passwordHash))) {
    throw new AppError(400, "invalid_request_error", "The current password is wrong.");
  }
  validatePassword(input.next);
  await setPasswordHash(db, user.id, input.next);
  return tx(db, () => ({
    grantsRevoked: revokeUserGrants(db, user.id, "password_changed"),
    tokensRevoked: revokeUserMcpTokens(db, user.id, "password_changed"),
    sessionsEnded: deleteUserSessions(db, user.id, input.keepSessionIdHash),
  }));
}
