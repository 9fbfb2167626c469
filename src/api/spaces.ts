/**
 * Spaces: Dust's `GET spaces?kinds=…` (default kinds exclude Pods), plus this server's own
 * routes to create a regular space or a Pod and manage members:
 * `POST spaces`, `GET|POST spaces/{spaceId}/members`, `DELETE spaces/{spaceId}/members/{userId}`.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  addSpaceMember,
  createSpace,
  listSpaceMembers,
  listSpaces,
  removeSpaceMember,
} from "../core/spaces.ts";
import { SPACE_KINDS } from "../core/space_rows.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { nonBlank, SpaceSchema, SuccessSchema } from "./dust_schemas.ts";

const W = "/api/v1/w/:wId";

const KIND = `\\s*(${SPACE_KINDS.join("|")})\\s*`;

const ListQuery = z.object({
  kinds: z.string().regex(new RegExp(`^${KIND}(,${KIND})*$`), "not a list of space kinds")
    .optional()
    .transform((s) => s?.split(",").map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(z.enum(SPACE_KINDS)).optional())
    .describe(
      "Comma-separated kinds among global, regular, project, conversations, system (default global,regular,system)",
    ),
});

const CreateBody = z.object({
  kind: z.enum(["regular", "project"]).describe("project creates a Pod"),
  name: nonBlank(255),
  restricted: z.boolean().optional().describe("Default: true for Pods, false for regular spaces"),
  members: z.array(z.string()).max(1000).optional().describe("User sIds to add as members"),
});

const MemberSchema = z.object({
  sId: z.string(),
  email: z.string(),
  fullName: z.string(),
  role: z.enum(["member", "editor"]),
});
const MembersResponse = z.object({ members: z.array(MemberSchema) });

const AddMemberBody = z.object({
  userId: z.string().min(1).describe("User sId; your own sId joins an open Pod"),
  role: z.enum(["member", "editor"]).optional().describe("editor exists for Pods only"),
});

/** Mounted at `/api/v1/w/:wId`. */
export function spacesRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/spaces`,
    summary: "List the spaces the caller can read",
    tags: ["Spaces"],
    query: ListQuery,
    response: z.object({ spaces: z.array(SpaceSchema) }),
  });
  app.get("/spaces", async (c) => {
    const q = parseQuery(c, ListQuery);
    return c.json({ spaces: await listSpaces(c.var.deps, getActor(c), { kinds: q.kinds }) });
  });

  documentRoute({
    method: "post",
    path: `${W}/spaces`,
    summary: "Create a regular space (admins) or a Pod (builders, admins); this server's own route",
    tags: ["Spaces"],
    body: CreateBody,
    response: z.object({ space: SpaceSchema }),
  });
  app.post("/spaces", async (c) => {
    const b = await parseJson(c, CreateBody);
    const space = await createSpace(c.var.deps, getActor(c), {
      kind: b.kind,
      name: b.name,
      restricted: b.restricted,
      memberIds: b.members,
    });
    return c.json({ space });
  });

  documentRoute({
    method: "get",
    path: `${W}/spaces/:spaceId/members`,
    summary: "List a space's members (its administrators)",
    tags: ["Spaces"],
    response: MembersResponse,
  });
  app.get("/spaces/:spaceId/members", async (c) => {
    const spaceId = c.req.param("spaceId");
    return c.json({ members: await listSpaceMembers(c.var.deps, getActor(c), { spaceId }) });
  });

  documentRoute({
    method: "post",
    path: `${W}/spaces/:spaceId/members`,
    summary: "Add a member or change their role (administrators; anyone may join an open Pod)",
    tags: ["Spaces"],
    body: AddMemberBody,
    response: MembersResponse,
  });
  app.post("/spaces/:spaceId/members", async (c) => {
    const b = await parseJson(c, AddMemberBody);
    const members = await addSpaceMember(c.var.deps, getActor(c), {
      spaceId: c.req.param("spaceId"),
      userId: b.userId,
      role: b.role,
    });
    return c.json({ members });
  });

  documentRoute({
    method: "delete",
    path: `${W}/spaces/:spaceId/members/:userId`,
    summary: "Remove a member (administrators, or yourself)",
    tags: ["Spaces"],
    response: SuccessSchema,
  });
  app.delete("/spaces/:spaceId/members/:userId", async (c) => {
    await removeSpaceMember(c.var.deps, getActor(c), {
      spaceId: c.req.param("spaceId"),
      userId: c.req.param("userId"),
    });
    return c.json({ success: true });
  });

  return app;
}
