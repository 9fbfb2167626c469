/**
 * `GET /api/v1/me` (Dust's path and shape): the user behind a personal access token or an
 * OAuth access token. API keys answer 401 `user_not_found`, as Dust.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { getActor, requireUserAuth } from "../auth/bearer.ts";
import { getMe } from "../core/me.ts";
import { documentRoute } from "./openapi.ts";
import { requireAllowedOAuthClient } from "./oauth_access.ts";
import { MeResponseSchema } from "./dust_schemas.ts";

/** Mounted at the root (`app.route("/", meRoutes())`). */
export function meRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  documentRoute({
    method: "get",
    path: "/api/v1/me",
    summary: "The calling user and their workspaces",
    description:
      "User tokens only (personal access token or OAuth); API keys get 401 user_not_found.",
    tags: ["Me"],
    auth: "user",
    response: MeResponseSchema,
  });
  app.get(
    "/api/v1/me",
    requireUserAuth(),
    requireAllowedOAuthClient(),
    async (c) => c.json(await getMe(c.var.deps, getActor(c))),
  );
  return app;
}
