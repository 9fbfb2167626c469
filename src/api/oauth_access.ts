/**
 * The workspace's OAuth settings on the REST API: a request made with an OAuth access token is
 * refused (403 `workspace_auth_error`) while the token's workspace turns OAuth applications off
 * or its redirect allowlist refuses the token's client. Runs on every request, after bearer
 * authentication, so a settings change takes effect on the very next call (as on `/mcp`).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../deps.ts";
import { requireOAuthClientAllowed } from "../core/workspace_settings.ts";

/** Hono middleware: mount after `requireAuth()` / `requireUserAuth()`. */
export function requireAllowedOAuthClient(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const actor = c.get("actor");
    if (actor?.kind === "user" && actor.credential.kind === "oauth") {
      await requireOAuthClientAllowed(
        c.var.deps.db,
        actor.workspace,
        actor.credential.clientId ?? "",
      );
    }
    await next();
  };
}
