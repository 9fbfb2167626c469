/**
 * What Dust's connectors read of a space (`@dust-tt/client`
 * `getSpaceConversationsForDataSource`, `getSpaceConversationIds`, `getSpaceProjectFiles`):
 * `GET spaces/{spaceId}/conversations`, `…/conversation_ids`, `…/project_files`
 * (core/space_sync.ts). Readers of the space; Dust serves them to its system key only.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  listProjectFiles,
  listSpaceConversationIds,
  listSpaceConversationsForSync,
  PROJECT_FILES_MAX,
  SYNC_CONVERSATIONS_MAX,
} from "../core/space_sync.ts";
import { documentRoute } from "./openapi.ts";
import { parseQuery } from "./validate.ts";

const S = "/api/v1/w/:wId/spaces/:spaceId";
const WHO = "Readers of the space (Dust: its system key only); others 404 space_not_found.";

export const UpdatedSinceQuery = z.object({
  updatedSince: z.coerce.number().int().min(0).optional().describe(
    "Only what changed at or after this time (epoch ms)",
  ),
});

const SyncUser = z.object({
  sId: z.string(),
  fullName: z.string().nullable(),
  username: z.string(),
  email: z.string().nullable(),
});
const SyncFragment = z.object({
  type: z.literal("content_fragment"),
  created: z.number(),
  visibility: z.string(),
  contentFragmentId: z.string(),
  contentType: z.string(),
  title: z.string(),
  version: z.number(),
  sourceUrl: z.string().nullable(),
});
const SyncMessage = z.union([
  z.object({
    type: z.literal("user_message"),
    created: z.number(),
    visibility: z.string(),
    user: SyncUser.nullable(),
    content: z.string(),
    contentFragments: z.array(SyncFragment),
  }),
  z.object({
    type: z.literal("agent_message"),
    created: z.number(),
    visibility: z.string(),
    configuration: z.object({ name: z.string() }),
    content: z.string().nullable(),
  }),
]);
const SyncConversation = z.object({
  sId: z.string(),
  created: z.number(),
  updated: z.number(),
  title: z.string().nullable(),
  visibility: z.string(),
  url: z.string(),
  content: z.array(SyncMessage),
});
const ProjectEntry = z.union([
  z.object({
    isDirectory: z.literal(true),
    fileName: z.string(),
    path: z.string(),
    sizeBytes: z.number(),
    lastModifiedMs: z.number(),
  }),
  z.object({
    isDirectory: z.literal(false),
    fileName: z.string(),
    path: z.string(),
    sizeBytes: z.number(),
    lastModifiedMs: z.number(),
    contentType: z.string(),
    fileId: z.string().nullable(),
    thumbnailUrl: z.string().nullable(),
    signedDownloadUrl: z.string().nullable(),
  }),
]);

/** Mounted at `/api/v1/w/:wId`. */
export function spaceSyncRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const tags = ["Spaces"];

  documentRoute({
    method: "get",
    path: `${S}/conversations`,
    summary: "The space's conversations with their messages, for indexing",
    description: `${WHO} At most ${SYNC_CONVERSATIONS_MAX}, least recently updated first ` +
      "(page with updatedSince); deleted ones included with no content.",
    tags,
    query: UpdatedSinceQuery,
    response: z.object({ conversations: z.array(SyncConversation) }),
  });
  app.get("/spaces/:spaceId/conversations", async (c) => {
    const q = parseQuery(c, UpdatedSinceQuery);
    return c.json(
      await listSpaceConversationsForSync(c.var.deps, getActor(c), {
        spaceId: c.req.param("spaceId"),
        updatedSince: q.updatedSince,
      }),
    );
  });

  documentRoute({
    method: "get",
    path: `${S}/conversation_ids`,
    summary: "Ids of the space's conversations (not deleted, not test)",
    description: WHO,
    tags,
    response: z.object({ conversationIds: z.array(z.string()) }),
  });
  app.get("/spaces/:spaceId/conversation_ids", async (c) =>
    c.json(
      await listSpaceConversationIds(c.var.deps, getActor(c), { spaceId: c.req.param("spaceId") }),
    ));

  documentRoute({
    method: "get",
    path: `${S}/project_files`,
    summary: "A Pod's files and their directories (scoped paths pod-<id>/…)",
    description: `${WHO} 400 for a space that is not a Pod. At most ${PROJECT_FILES_MAX} ` +
      "files; no signed URLs (fetch a file by fileId).",
    tags,
    query: UpdatedSinceQuery,
    response: z.object({ files: z.array(ProjectEntry) }),
  });
  app.get("/spaces/:spaceId/project_files", async (c) => {
    const q = parseQuery(c, UpdatedSinceQuery);
    return c.json(
      await listProjectFiles(c.var.deps, getActor(c), {
        spaceId: c.req.param("spaceId"),
        updatedSince: q.updatedSince,
      }),
    );
  });

  return app;
}
