/**
 * Dust Apps (`@dust-tt/client` `exportApps`, `checkApps`, `runApp`, `runAppStreamed`) are a
 * separate Dust product (specifications run by Dust's core service) that this server does not
 * have. Their routes answer in Dust's error shape, after the usual checks of the space, so a
 * client learns why rather than meeting a bare 404 "no route".
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { requireReadableSpace } from "./access.ts";

export const NO_DUST_APPS_MESSAGE =
  "This server has no Dust Apps: Dust Apps are a separate Dust product that dust-mcp does not " +
  "serve. Use agents and their tools instead.";

/** Always throws: 404 `space_not_found` for a space the actor cannot read, else `app_not_found`. */
export async function refuseDustApps(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string },
): Promise<never> {
  await requireReadableSpace(deps.db, actor, input.spaceId);
  throw new AppError(404, "app_not_found", NO_DUST_APPS_MESSAGE);
}
