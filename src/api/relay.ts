/**
 * Seed 001's routes: the client-side MCP relay under `/api/v1/w/{wId}/mcp/` (dust.md §3:
 * register, heartbeat, deregister, the SSE request stream, result posts) and
 * `GET spaces/{spaceId}/mcp_server_views`. Authentication is the app-wide bearer middleware;
 * each handler parses, calls one core function and responds. The seed's operations are
 * documented in the OpenAPI document unchanged.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { listMcpServerViews } from "../core/mcp_server_views.ts";
import { documentComponents, documentRoute, type HttpMethod } from "./openapi.ts";
import { SEED_001 } from "./relay_openapi_seed.ts";
import { parseJson, parseQuery } from "./validate.ts";
import {
  deregisterRelayServer,
  heartbeatRelayServer,
  registerRelayServer,
} from "../core/relay_registry.ts";
import { postRelayResult } from "../core/relay_requests.ts";
import { openRelayRequestStream } from "../relay/stream.ts";
import { connectionDone, sseResponse } from "./sse.ts";

export const RegisterBody = z.object({ serverName: z.string() });
export const ServerIdBody = z.object({ serverId: z.string().min(1) });
export const ResultsBody = z.object({
  serverId: z.string().min(1),
  result: z.record(z.string(), z.unknown()),
});
export const RequestsQuery = z.object({
  serverId: z.string().min(1),
  lastEventId: z.string().optional(),
});
export const ViewsQuery = z.object({ includeAuto: z.enum(["true", "false"]).optional() });

/** Register seed 001's operations unchanged, plus `deregister` (added to Dust in 2026). */
function documentSeedRoutes(): void {
  documentComponents({ schemas: SEED_001.schemas, securitySchemes: SEED_001.securitySchemes });
  for (const [path, ops] of Object.entries(SEED_001.paths)) {
    for (const [method, operation] of Object.entries(ops)) {
      documentRoute({
        method: method as HttpMethod,
        path,
        summary: (operation as { summary: string }).summary,
        tags: (operation as { tags: string[] }).tags,
        operation: operation as Record<string, unknown>,
      });
    }
  }
  documentRoute({
    method: "post",
    path: "/api/v1/w/:wId/mcp/deregister",
    summary: "Deregister a Client-Side MCP Server",
    description: "Remove a registration of the caller; succeeds whether or not it existed.",
    tags: ["MCP"],
    body: ServerIdBody,
    response: z.object({ success: z.literal(true) }),
  });
}

/** Routes of the relay, mounted at `/` (paths are absolute). */
export function relayRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const base = "/api/v1/w/:wId/mcp";
  documentSeedRoutes();

  app.post(`${base}/register`, async (c) => {
    const body = await parseJson(c, RegisterBody);
    return c.json(await registerRelayServer(c.var.deps, getActor(c), body));
  });

  app.post(`${base}/heartbeat`, async (c) => {
    const body = await parseJson(c, ServerIdBody);
    return c.json(await heartbeatRelayServer(c.var.deps, getActor(c), body));
  });

  app.post(`${base}/deregister`, async (c) => {
    const body = await parseJson(c, ServerIdBody);
    return c.json(await deregisterRelayServer(c.var.deps, getActor(c), body));
  });

  app.post(`${base}/results`, async (c) => {
    const body = await parseJson(c, ResultsBody);
    return c.json(await postRelayResult(c.var.deps, getActor(c), body));
  });

  app.get(`${base}/requests`, async (c) => {
    const query = parseQuery(c, RequestsQuery);
    const body = await openRelayRequestStream(c.var.deps, getActor(c), {
      ...query,
      connection: connectionDone(c),
    });
    return sseResponse(body, { "Content-Encoding": "none" });
  });

  const views = "/api/v1/w/:wId/spaces/:spaceId/mcp_server_views";
  app.get(views, async (c) => {
    const q = parseQuery(c, ViewsQuery);
    const input = { spaceId: c.req.param("spaceId"), includeAuto: q.includeAuto === "true" };
    return c.json(await listMcpServerViews(c.var.deps, getActor(c), input));
  });

  return app;
}
