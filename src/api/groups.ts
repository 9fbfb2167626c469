/**
 * Groups for workspace admins (this server's own routes): `GET|POST groups` and
 * `POST spaces/{spaceId}/groups` to grant a group access to a regular space.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { createGroup, grantGroupToSpace, listGroups } from "../core/groups.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson } from "./validate.ts";
import { nonBlank, SuccessSchema } from "./dust_schemas.ts";

const W = "/api/v1/w/:wId";

const GroupSchema = z.object({
  sId: z.string(),
  name: z.string(),
  kind: z.enum(["global", "regular"]),
  memberCount: z.number().describe("Explicit members (the global group holds everyone)"),
});
const CreateBody = z.object({
  name: nonBlank(255),
  members: z.array(z.string()).max(10_000).optional().describe("User sIds"),
});
const GrantBody = z.object({ groupId: z.string().min(1) });

/** Mounted at `/api/v1/w/:wId`. */
export function groupsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/groups`,
    summary: "List the workspace's groups (admins)",
    tags: ["Groups"],
    response: z.object({ groups: z.array(GroupSchema) }),
  });
  app.get("/groups", async (c) => c.json({ groups: await listGroups(c.var.deps, getActor(c)) }));

  documentRoute({
    method: "post",
    path: `${W}/groups`,
    summary: "Create a group (admins)",
    tags: ["Groups"],
    body: CreateBody,
    response: z.object({ group: GroupSchema }),
    errors: [409],
  });
  app.post("/groups", async (c) => {
    const b = await parseJson(c, CreateBody);
    const group = await createGroup(c.var.deps, getActor(c), {
      name: b.name,
      memberIds: b.members,
    });
    return c.json({ group });
  });

  documentRoute({
    method: "post",
    path: `${W}/spaces/:spaceId/groups`,
    summary: "Grant a group read access to a regular space (its administrators)",
    tags: ["Groups"],
    body: GrantBody,
    response: SuccessSchema,
  });
  app.post("/spaces/:spaceId/groups", async (c) => {
    const b = await parseJson(c, GrantBody);
    await grantGroupToSpace(c.var.deps, getActor(c), {
      spaceId: c.req.param("spaceId"),
      groupId: b.groupId,
    });
    return c.json({ success: true });
  });

  return app;
}
