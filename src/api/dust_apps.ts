/**
 * Dust Apps' routes (`@dust-tt/client` `exportApps`, `checkApps`, `runApp`,
 * `runAppStreamed`): this server has no Dust Apps, so each answers 404 `app_not_found` with a
 * message saying so (404 `space_not_found` first for a space the caller cannot read).
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { NO_DUST_APPS_MESSAGE, refuseDustApps } from "../core/dust_apps.ts";
import { documentRoute, type HttpMethod } from "./openapi.ts";

const ROUTES: [HttpMethod, string, string][] = [
  ["get", "/spaces/:spaceId/apps/export", "Export a space's Dust Apps (exportApps)"],
  ["post", "/spaces/:spaceId/apps/check", "Check Dust Apps are deployed (checkApps)"],
  ["post", "/spaces/:spaceId/apps/:aId/runs", "Run a Dust App (runApp, runAppStreamed)"],
];

/** Mounted at `/api/v1/w/:wId`. */
export function dustAppsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const [method, path, summary] of ROUTES) {
    documentRoute({
      method,
      path: `/api/v1/w/:wId${path}`,
      summary: `${summary}: not served`,
      description: `Always 404 app_not_found: ${NO_DUST_APPS_MESSAGE}`,
      tags: ["Dust Apps"],
      status: 404,
    });
    app.on(method.toUpperCase(), path, async (c) => {
      await refuseDustApps(c.var.deps, getActor(c), { spaceId: c.req.param("spaceId") ?? "" });
    });
  }
  return app;
}
