/**
 * `GET /api/v1/w/{wId}/exists` (Dust's path and shape, `@dust-tt/client`'s `exists()`): a cheap
 * check that the workspace exists in this region and the credential may act in it. The work is
 * the authentication middleware's; an unknown workspace is 404 `workspace_not_found`, a
 * foreign credential 401 `workspace_auth_error`.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { documentRoute } from "./openapi.ts";

/** Mounted at `/api/v1/w/:wId`. */
export function workspaceExistsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  documentRoute({
    method: "get",
    path: "/api/v1/w/:wId/exists",
    summary: "Check that the workspace exists and the credential acts in it",
    tags: ["Workspace"],
    response: z.object({ exists: z.literal(true) }),
  });
  app.get("/exists", (c) => {
    getActor(c); // authenticated by the workspace middleware, or this throws 401
    return c.json({ exists: true as const });
  });
  return app;
}
