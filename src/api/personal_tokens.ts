/**
 * A user's own personal access tokens (this server's routes; Dust has no equivalent):
 * `GET|POST personal_tokens`, `DELETE personal_tokens/{tokenId}`. User tokens only (API keys
 * get 401 `user_not_found`); the secret is in the create response only.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  createOwnPersonalToken,
  listOwnPersonalTokens,
  MAX_EXPIRY_DAYS,
  revokeOwnPersonalToken,
} from "../core/personal_tokens.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { nonBlank, OPAQUE_CURSOR } from "./dust_schemas.ts";

const W = "/api/v1/w/:wId";

const TokenSchema = z.object({
  sId: z.string(),
  name: z.string(),
  prefix: z.string().describe("First characters of the secret"),
  expiresAt: z.number().nullable(),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional().describe(OPAQUE_CURSOR),
});
const CreateBody = z.object({
  name: nonBlank(255),
  expiresInDays: z.number().int().min(1).max(MAX_EXPIRY_DAYS).nullable().optional().describe(
    "Days until the token expires; omitted or null: never",
  ),
});

/** Mounted at `/api/v1/w/:wId`. */
export function personalTokensRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/personal_tokens`,
    summary: "List the caller's personal access tokens in this workspace (user tokens only)",
    tags: ["Personal tokens"],
    auth: "user",
    query: ListQuery,
    response: z.object({ tokens: z.array(TokenSchema), nextCursor: z.string().nullable() }),
  });
  app.get("/personal_tokens", async (c) => {
    const q = parseQuery(c, ListQuery);
    return c.json(await listOwnPersonalTokens(c.var.deps, getActor(c), q));
  });

  documentRoute({
    method: "post",
    path: `${W}/personal_tokens`,
    summary: "Create a personal access token (REST only, acts as the caller); shown once",
    tags: ["Personal tokens"],
    auth: "user",
    body: CreateBody,
    response: z.object({ token: TokenSchema, secret: z.string() }),
  });
  app.post("/personal_tokens", async (c) => {
    const b = await parseJson(c, CreateBody);
    const out = await createOwnPersonalToken(c.var.deps, getActor(c), b);
    c.header("Cache-Control", "no-store");
    return c.json(out);
  });

  documentRoute({
    method: "delete",
    path: `${W}/personal_tokens/:tokenId`,
    summary: "Revoke one of the caller's personal access tokens",
    tags: ["Personal tokens"],
    auth: "user",
    response: z.object({ token: TokenSchema }),
  });
  app.delete("/personal_tokens/:tokenId", async (c) => {
    const tokenId = c.req.param("tokenId");
    return c.json({ token: await revokeOwnPersonalToken(c.var.deps, getActor(c), { tokenId }) });
  });

  return app;
}
