/**
 * Agent configurations, Dust's paths: list with `view`, get one by sId; plus our own create
 * route for builders (`POST assistant/agent_configurations`, body documented in OpenAPI).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  AGENT_VIEWS,
  getAgentConfiguration,
  listAgentConfigurations,
  searchAgentConfigurations,
  withLastAuthors,
} from "../core/agents.ts";
import { AGENT_NAME, createAgent, setAgentFavorite } from "../core/agent_editing.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { LightAgentConfigurationSchema, nonBlank } from "./dust_schemas.ts";

const W = "/api/v1/w/:wId";

const ListQuery = z.object({
  view: z.enum(AGENT_VIEWS).optional().describe(
    "all (API keys' default), list (users' default), workspace, published, global, favorites, all_unrestricted (admins)",
  ),
  withAuthors: z.enum(["true", "false"]).optional().describe("true adds lastAuthors"),
});

const CreateBody = z.object({
  name: z.string().regex(AGENT_NAME, "1 to 64 letters, digits, '_', '-' or '.'")
    .describe("Letters, digits, '_', '-', '.'; 1-64 characters; unique among active agents"),
  description: z.string().max(1024),
  instructions: z.string().min(1).max(100_000),
  model: z.object({
    providerId: z.string().min(1).max(64),
    modelId: z.string().min(1).max(128),
    temperature: z.number().min(0).max(2).optional(),
  }).optional().describe("Defaults to openai / gpt-4o / 0.7"),
  scope: z.enum(["workspace", "published", "private"]).optional().describe("Default workspace"),
  pictureUrl: z.url().max(2048).optional(),
  maxStepsPerRun: z.number().int().min(1).max(32).optional(),
});

const SearchQuery = z.object({ q: nonBlank(255) });

const PatchBody = z.object({ userFavorite: z.boolean() });

const One = z.object({ agentConfiguration: LightAgentConfigurationSchema });

/** Mounted at `/api/v1/w/:wId`. */
export function agentsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/assistant/agent_configurations`,
    summary: "List agent configurations of a view",
    description:
      "list and favorites need a user (401 for API keys); all_unrestricted needs an admin (403 app_auth_error).",
    tags: ["Agents"],
    query: ListQuery,
    response: z.object({ agentConfigurations: z.array(LightAgentConfigurationSchema) }),
  });
  app.get("/assistant/agent_configurations", async (c) => {
    const q = parseQuery(c, ListQuery);
    const deps = c.var.deps;
    const rows = await listAgentConfigurations(deps, getActor(c), { view: q.view });
    return c.json({
      agentConfigurations: await withLastAuthors(deps, getActor(c), rows, q.withAuthors === "true"),
    });
  });

  documentRoute({
    method: "get",
    path: `${W}/assistant/agent_configurations/search`,
    summary: "Search the caller's agents by name (fuzzy, best first)",
    tags: ["Agents"],
    query: SearchQuery,
    response: z.object({ agentConfigurations: z.array(LightAgentConfigurationSchema) }),
  });
  // Registered before `/:sId` so that "search" is never taken for an agent id.
  app.get("/assistant/agent_configurations/search", async (c) => {
    const q = parseQuery(c, SearchQuery);
    const actor = getActor(c);
    const rows = await searchAgentConfigurations(c.var.deps, actor, q);
    return c.json({ agentConfigurations: await withLastAuthors(c.var.deps, actor, rows, false) });
  });

  documentRoute({
    method: "get",
    path: `${W}/assistant/agent_configurations/:sId`,
    summary: "Get one agent configuration",
    tags: ["Agents"],
    response: One,
  });
  app.get("/assistant/agent_configurations/:sId", async (c) => {
    const deps = c.var.deps;
    const row = await getAgentConfiguration(deps, getActor(c), { agentId: c.req.param("sId") });
    return c.json({
      agentConfiguration: (await withLastAuthors(deps, getActor(c), [row], false))[0],
    });
  });

  documentRoute({
    method: "patch",
    path: `${W}/assistant/agent_configurations/:sId`,
    summary: "Mark an agent as a favourite of the caller (users only)",
    tags: ["Agents"],
    body: PatchBody,
    response: One,
  });
  app.patch("/assistant/agent_configurations/:sId", async (c) => {
    const b = await parseJson(c, PatchBody);
    const actor = getActor(c);
    const row = await setAgentFavorite(c.var.deps, actor, {
      agentId: c.req.param("sId"),
      userFavorite: b.userFavorite,
    });
    return c.json({
      agentConfiguration: (await withLastAuthors(c.var.deps, actor, [row], false))[0],
    });
  });

  documentRoute({
    method: "post",
    path: `${W}/assistant/agent_configurations`,
    summary: "Create a workspace agent (builders and admins; this server's own route)",
    tags: ["Agents"],
    body: CreateBody,
    response: One,
  });
  app.post("/assistant/agent_configurations", async (c) => {
    const body = await parseJson(c, CreateBody);
    const row = await createAgent(c.var.deps, getActor(c), body);
    return c.json({
      agentConfiguration: (await withLastAuthors(c.var.deps, getActor(c), [row], false))[0],
    });
  });

  return app;
}
