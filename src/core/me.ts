/**
 * `GET /api/v1/me`: the calling user and their workspaces in Dust's shape (dust.md §4.9).
 * `selectedWorkspace` is the workspace the token is bound to.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { fullName } from "../auth/actor.ts";
import { requireUser } from "./access.ts";
import { findUserById } from "./users.ts";
import { listUserWorkspaces } from "./workspaces.ts";
import { AppError } from "../errors.ts";

/** The user behind a user token, with every workspace they belong to. */
export async function getMe(deps: Deps, actor: Actor) {
  const ua = requireUser(actor, "This endpoint needs a user token, not an API key.");
  const user = await findUserById(deps.db, ua.user.id);
  if (!user) throw new AppError(401, "user_not_found", "The user was not found.");
  const workspaces = (await listUserWorkspaces(deps.db, user.id)).map(({ workspace, role }) => ({
    id: workspace.id,
    sId: workspace.sId,
    name: workspace.name,
    role,
    segmentation: null,
    whiteListedProviders: null,
    defaultEmbeddingProvider: null,
    ssoEnforced: false,
  }));
  return {
    user: {
      sId: user.sId,
      id: user.id,
      createdAt: user.createdAt,
      provider: null,
      username: user.username,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      fullName: fullName(user),
      image: user.imageUrl,
      workspaces,
      selectedWorkspace: ua.workspace.sId,
    },
  };
}
