/**
 * Files, Dust's paths: `POST files` (→ `{file}` with an absolute `uploadUrl`),
 * `POST files/{fileId}` (multipart field `file`, as `@dust-tt/client`'s `uploadFile` sends),
 * `GET files/{fileId}?action=view|download`, `DELETE files/{fileId}` (204).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  capUploadBody,
  createFile,
  deleteFile,
  openFileContent,
  toFileJSON,
  uploadFileContent,
} from "../core/files.ts";
import { isSafeToDisplay } from "../core/file_types.ts";
import { streamMultipartField } from "./multipart.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";

const W = "/api/v1/w/:wId";

const CreateBody = z.object({
  contentType: z.string().min(1).max(255),
  fileName: z.string().min(1).max(4096),
  fileSize: z.number().int().min(0),
  useCase: z.enum(["conversation", "project_context"]).describe(
    "conversation (Dust's public API) or project_context (a Pod file; this server's extension)",
  ),
  useCaseMetadata: z.object({
    conversationId: z.string().optional(),
    spaceId: z.string().optional(),
  }).passthrough().nullable().optional(),
});

export const FileSchema = z.object({
  id: z.string(),
  sId: z.string(),
  contentType: z.string(),
  fileName: z.string(),
  fileSize: z.number(),
  status: z.enum(["created", "ready", "failed"]),
  useCase: z.string(),
  useCaseMetadata: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
  updatedAt: z.number(),
  path: z.string().nullable().describe("Scoped path (conversation-<id>/… or pod-<id>/…)"),
  uploadUrl: z.string(),
  downloadUrl: z.string().optional(),
});
const FileResponse = z.object({ file: FileSchema });

const GetQuery = z.object({
  action: z.enum(["view", "download"]).optional().describe("Default download"),
  version: z.enum(["original", "processed"]).optional().describe(
    "Files are served as uploaded; processed = original",
  ),
});

/** `Content-Disposition` with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987). */
function disposition(kind: "inline" | "attachment", fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/** Mounted at `/api/v1/w/:wId`. */
export function filesRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "post",
    path: `${W}/files`,
    summary: "Create a file and get its upload URL",
    tags: ["Files"],
    body: CreateBody,
    response: FileResponse,
  });
  app.post("/files", async (c) => {
    const b = await parseJson(c, CreateBody);
    const actor = getActor(c);
    const file = await createFile(c.var.deps, actor, b);
    return c.json({ file: toFileJSON(c.var.deps, actor.workspace.sId, file) });
  });

  documentRoute({
    method: "post",
    path: `${W}/files/:fileId`,
    summary: "Upload the bytes of a file (multipart/form-data, field `file`)",
    description: "The byte count must equal the declared fileSize (more: 400 file_too_large). " +
      "The whole request body may carry at most 64 MB (more: 413 file_too_large). " +
      "The file becomes ready.",
    tags: ["Files"],
    response: FileResponse,
  });
  app.post("/files/:fileId", async (c) => {
    // Streamed: the bytes go to disk as they arrive (never buffered whole in memory), the
    // body counted against its cap on the way (app.ts leaves this route to it).
    const body = capUploadBody(c.req.raw.body, c.req.header("content-length"));
    const { stream } = await streamMultipartField(body, c.req.header("content-type"), "file")
      .catch(async (e) => {
        await body?.cancel().catch(() => {}); // refused before the file field: drop the rest
        throw e;
      });
    const actor = getActor(c);
    const file = await uploadFileContent(c.var.deps, actor, {
      fileId: c.req.param("fileId"),
      body: stream,
    }).catch(async (e) => {
      await stream.cancel().catch(() => {}); // refused before reading: drop the rest
      throw e;
    });
    return c.json({ file: toFileJSON(c.var.deps, actor.workspace.sId, file) });
  });

  documentRoute({
    method: "get",
    path: `${W}/files/:fileId`,
    summary: "Read a file's bytes (view inline for safe types, else download)",
    description: "The bytes as uploaded: with action=view and a type safe to display, with " +
      "the file's own content type; otherwise application/octet-stream as an attachment.",
    tags: ["Files"],
    query: GetQuery,
    responseContentType: "*/*",
  });
  app.get("/files/:fileId", async (c) => {
    const q = parseQuery(c, GetQuery);
    const { file, body } = await openFileContent(c.var.deps, getActor(c), c.req.param("fileId"));
    const inline = q.action === "view" && isSafeToDisplay(file.contentType);
    return new Response(body, {
      headers: {
        "Content-Type": inline ? file.contentType : "application/octet-stream",
        "Content-Length": String(file.fileSize),
        "Content-Disposition": disposition(inline ? "inline" : "attachment", file.fileName),
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
      },
    });
  });

  documentRoute({
    method: "delete",
    path: `${W}/files/:fileId`,
    summary: "Delete a file",
    tags: ["Files"],
    status: 204,
  });
  app.delete("/files/:fileId", async (c) => {
    await deleteFile(c.var.deps, getActor(c), c.req.param("fileId"));
    return c.body(null, 204);
  });

  return app;
}
