/**
 * Pods over REST. Metadata at Dust's path (`GET|PATCH spaces/{spaceId}/project_metadata`,
 * response `{metadata}` as the SDK's `getSpaceMetadata` parses it); tasks at this server's
 * own paths: `GET|POST spaces/{spaceId}/tasks`, `PATCH|DELETE spaces/{spaceId}/tasks/{taskId}`
 * (task JSON = Dust's `PodTaskType`). Pod creation and members: see `spaces.ts`.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { getPodMetadata, patchPodMetadata } from "../core/pods.ts";
import {
  createTask,
  deleteTask,
  listTasks,
  MAX_TASKS_PAGE,
  TASK_STATUSES,
  updateTask,
} from "../core/tasks.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import {
  nonBlank,
  OPAQUE_CURSOR,
  PodMetadataSchema,
  PodTaskSchema,
  SuccessSchema,
} from "./dust_schemas.ts";

const W = "/api/v1/w/:wId";

const PatchMetadataBody = z.object({
  description: z.string().max(10_000).optional(),
  pinnedFramePath: z.string().max(1024).nullable().optional().describe(
    "A Pod file path (pod-<spaceId>/…), or null to unpin",
  ),
  archived: z.boolean().optional().describe("Archive (true) or restore (false): editors only"),
});

const ListTasksQuery = z.object({
  status: z.enum(TASK_STATUSES).optional(),
  assigneeId: z.string().optional().describe("Only tasks assigned to this user sId"),
  limit: z.coerce.number().int().min(1).max(MAX_TASKS_PAGE).default(50),
  cursor: z.string().optional().describe(OPAQUE_CURSOR),
});

const TaskText = nonBlank(10_000);
const CreateTaskBody = z.object({
  text: TaskText,
  status: z.enum(TASK_STATUSES).optional(),
  assigneeId: z.string().nullable().optional().describe("User sId of a Pod member"),
  agentInstructions: z.string().max(10_000).nullable().optional(),
});
const UpdateTaskBody = CreateTaskBody.partial().extend({
  conversationId: z.string().nullable().optional().describe("Linked conversation sId"),
});
const TaskResponse = z.object({ task: PodTaskSchema });

/** Mounted at `/api/v1/w/:wId`. */
export function podsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/spaces/:spaceId/project_metadata`,
    summary: "Pod metadata (null for a readable space that is not a Pod)",
    tags: ["Pods"],
    response: z.object({ metadata: PodMetadataSchema.nullable() }),
  });
  app.get("/spaces/:spaceId/project_metadata", async (c) => {
    return c.json(
      await getPodMetadata(c.var.deps, getActor(c), { spaceId: c.req.param("spaceId") }),
    );
  });

  documentRoute({
    method: "patch",
    path: `${W}/spaces/:spaceId/project_metadata`,
    summary: "Update a Pod's description or pinned frame (members), or archive it (editors)",
    tags: ["Pods"],
    body: PatchMetadataBody,
    response: z.object({ metadata: PodMetadataSchema }),
  });
  app.patch("/spaces/:spaceId/project_metadata", async (c) => {
    const b = await parseJson(c, PatchMetadataBody);
    const spaceId = c.req.param("spaceId");
    return c.json(await patchPodMetadata(c.var.deps, getActor(c), { spaceId, ...b }));
  });

  documentRoute({
    method: "get",
    path: `${W}/spaces/:spaceId/tasks`,
    summary: "List a Pod's tasks (creation order, paged)",
    tags: ["Pods"],
    query: ListTasksQuery,
    response: z.object({ tasks: z.array(PodTaskSchema), nextCursor: z.string().nullable() }),
  });
  app.get("/spaces/:spaceId/tasks", async (c) => {
    const q = parseQuery(c, ListTasksQuery);
    return c.json(
      await listTasks(c.var.deps, getActor(c), { podId: c.req.param("spaceId"), ...q }),
    );
  });

  documentRoute({
    method: "post",
    path: `${W}/spaces/:spaceId/tasks`,
    summary: "Create a Pod task (Pod members)",
    tags: ["Pods"],
    body: CreateTaskBody,
    response: TaskResponse,
  });
  app.post("/spaces/:spaceId/tasks", async (c) => {
    const b = await parseJson(c, CreateTaskBody);
    const task = await createTask(c.var.deps, getActor(c), { podId: c.req.param("spaceId"), ...b });
    return c.json({ task });
  });

  documentRoute({
    method: "patch",
    path: `${W}/spaces/:spaceId/tasks/:taskId`,
    summary: "Update a Pod task; the previous state is kept as a version",
    tags: ["Pods"],
    body: UpdateTaskBody,
    response: TaskResponse,
  });
  app.patch("/spaces/:spaceId/tasks/:taskId", async (c) => {
    const b = await parseJson(c, UpdateTaskBody);
    const task = await updateTask(c.var.deps, getActor(c), {
      podId: c.req.param("spaceId"),
      taskId: c.req.param("taskId"),
      ...b,
    });
    return c.json({ task });
  });

  documentRoute({
    method: "delete",
    path: `${W}/spaces/:spaceId/tasks/:taskId`,
    summary: "Delete a Pod task (soft delete)",
    tags: ["Pods"],
    response: SuccessSchema,
  });
  app.delete("/spaces/:spaceId/tasks/:taskId", async (c) => {
    return c.json(
      await deleteTask(c.var.deps, getActor(c), {
        podId: c.req.param("spaceId"),
        taskId: c.req.param("taskId"),
      }),
    );
  });

  return app;
}
