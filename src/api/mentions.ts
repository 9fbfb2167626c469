/**
 * Mentions (`@dust-tt/client` `parseForMentions`, `getMentionsSuggestions`):
 * `POST assistant/mentions/parse`, `GET assistant/mentions/suggestions` and the
 * conversation-scoped `GET assistant/conversations/{cId}/mentions/suggestions`
 * (core/mentions.ts).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { MENTIONS_MARKDOWN_MAX, parseMentions, suggestMentions } from "../core/mentions.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";

const W = "/api/v1/w/:wId";

const ParseBody = z.object({ markdown: z.string().max(MENTIONS_MARKDOWN_MAX) });

const Select = z.enum(["agents", "users"]);
export const SuggestionsQuery = z.object({
  query: z.string().max(256).describe("Text to match against agent and member names"),
  select: z.union([Select, z.array(Select).max(2)]).optional().describe(
    "agents, users, or both (repeat the parameter); default both",
  ),
  current: z.enum(["true", "false"]).optional().describe("Include the caller (default false)"),
});

const RichMention = z.object({
  id: z.string(),
  type: z.enum(["agent", "user"]),
  label: z.string(),
  pictureUrl: z.string(),
  description: z.string(),
  userFavorite: z.boolean().optional(),
});

function suggestInput(q: z.output<typeof SuggestionsQuery>) {
  const select = q.select === undefined ? ["agents", "users"] : [q.select].flat();
  return {
    query: q.query,
    agents: select.includes("agents"),
    users: select.includes("users"),
    current: q.current === "true",
  };
}

/** Mounted at `/api/v1/w/:wId`. */
export function mentionsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const tags = ["Mentions"];

  documentRoute({
    method: "post",
    path: `${W}/assistant/mentions/parse`,
    summary: "Turn @Agent names in markdown into Dust's serialised mentions",
    description: "`@Name` of an active agent becomes `:mention[Name]{sId=<sId>}`.",
    tags,
    body: ParseBody,
    response: z.object({ markdown: z.string() }),
  });
  app.post("/assistant/mentions/parse", async (c) => {
    const b = await parseJson(c, ParseBody);
    return c.json(await parseMentions(c.var.deps, getActor(c), b));
  });

  documentRoute({
    method: "get",
    path: `${W}/assistant/mentions/suggestions`,
    summary: "Agents and members whose name matches a query",
    tags,
    query: SuggestionsQuery,
    response: z.object({ suggestions: z.array(RichMention) }),
  });
  app.get("/assistant/mentions/suggestions", async (c) => {
    const q = parseQuery(c, SuggestionsQuery);
    return c.json(await suggestMentions(c.var.deps, getActor(c), suggestInput(q)));
  });

  documentRoute({
    method: "get",
    path: `${W}/assistant/conversations/:cId/mentions/suggestions`,
    summary: "Mention suggestions in a conversation (its participants first)",
    tags,
    query: SuggestionsQuery,
    response: z.object({ suggestions: z.array(RichMention) }),
  });
  app.get("/assistant/conversations/:cId/mentions/suggestions", async (c) => {
    const q = parseQuery(c, SuggestionsQuery);
    return c.json(
      await suggestMentions(c.var.deps, getActor(c), {
        ...suggestInput(q),
        conversationId: c.req.param("cId"),
      }),
    );
  });

  return app;
}
