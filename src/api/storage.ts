/**
 * Storage usage over REST (workspace admins): `GET /api/v1/w/{wId}/storage` → the quotas, the
 * workspace's bytes (files, documents, uploads in flight) and its members by usage.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { getStorageUsage, STORAGE_MEMBERS_MAX } from "../core/storage_quota.ts";
import { documentRoute } from "./openapi.ts";
import { parseQuery } from "./validate.ts";

const StorageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(STORAGE_MEMBERS_MAX).optional().describe(
    "Members per page (default 100)",
  ),
  cursor: z.string().regex(/^\d{1,16}\.\d{1,16}$/, "not a cursor returned by this endpoint")
    .optional().describe("nextCursor of the previous page"),
});

const Bytes = z.object({
  fileBytes: z.number(),
  documentBytes: z.number(),
  reservedBytes: z.number().describe("Held by uploads in flight"),
  usedBytes: z.number().describe("Files + documents + reserved: what the quota is checked on"),
});

const StorageUsage = z.object({
  quota: z.object({
    memberBytes: z.number().nullable().describe("null: unlimited"),
    workspaceBytes: z.number().nullable().describe("null: unlimited"),
  }),
  workspace: Bytes,
  members: z.array(Bytes.extend({
    user: z.object({ sId: z.string(), email: z.string(), fullName: z.string() }).nullable()
      .describe("null: bytes no member owns (API-key writes, files of deleted users)"),
  })),
  nextCursor: z.string().nullable(),
});

/** Mounted at `/api/v1/w/:wId`. */
export function storageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  documentRoute({
    method: "get",
    path: "/api/v1/w/:wId/storage",
    summary: "Storage usage and quotas (workspace admins): files and documents per member",
    tags: ["Storage"],
    query: StorageQuery,
    response: StorageUsage,
  });
  app.get("/storage", async (c) => {
    const q = parseQuery(c, StorageQuery);
    return c.json(await getStorageUsage(c.var.deps, getActor(c), q));
  });
  return app;
}
