/**
 * Workspace API keys for admins (this server's own routes; Dust manages keys in its UI):
 * `GET|POST api_keys`, `DELETE api_keys/{keyId}`. The secret is in the create response only.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../core/api_keys.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { nonBlank, OPAQUE_CURSOR } from "./dust_schemas.ts";

const W = "/api/v1/w/:wId";

const KeySchema = z.object({
  sId: z.string(),
  name: z.string(),
  prefix: z.string().describe("First characters of the secret"),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
  createdBy: z.string().nullable().describe("Email of the creator"),
});
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional().describe(OPAQUE_CURSOR),
});
const CreateBody = z.object({ name: nonBlank(255) });

/** Mounted at `/api/v1/w/:wId`. */
export function apiKeysRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/api_keys`,
    summary: "List the workspace's API keys (admins)",
    tags: ["API keys"],
    query: ListQuery,
    response: z.object({ keys: z.array(KeySchema), nextCursor: z.string().nullable() }),
  });
  app.get("/api_keys", async (c) => {
    const q = parseQuery(c, ListQuery);
    return c.json(await listApiKeys(c.var.deps, getActor(c), q));
  });

  documentRoute({
    method: "post",
    path: `${W}/api_keys`,
    summary: "Create an API key (admins); the secret is shown once",
    tags: ["API keys"],
    body: CreateBody,
    response: z.object({ key: KeySchema, secret: z.string() }),
  });
  app.post("/api_keys", async (c) => {
    const b = await parseJson(c, CreateBody);
    const out = await createApiKey(c.var.deps, getActor(c), b);
    c.header("Cache-Control", "no-store");
    return c.json(out);
  });

  documentRoute({
    method: "delete",
    path: `${W}/api_keys/:keyId`,
    summary: "Revoke an API key (admins)",
    tags: ["API keys"],
    response: z.object({ key: KeySchema }),
  });
  app.delete("/api_keys/:keyId", async (c) => {
    return c.json({
      key: await revokeApiKey(c.var.deps, getActor(c), { keyId: c.req.param("keyId") }),
    });
  });

  return app;
}
