/**
 * Conversations under `/api/v1/w/{wId}/assistant/conversations` with Dust's paths, bodies and
 * responses (dust.md §4.3–4.5; parsed by `@dust-tt/client` 1.2.8): create, list, get, mark
 * read, post a message or a content fragment, cancel, and the conversation / message event
 * streams (SSE). Each handler parses with zod, calls one core function and responds.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { parseJson, parseQuery } from "./validate.ts";
import { documentRoute } from "./openapi.ts";
import { invalid } from "../errors.ts";
import {
  getConversation,
  listConversations,
  markConversationRead,
  MAX_CONVERSATION_DEPTH,
  postConversation,
} from "../core/conversations.ts";
import { postToConversation } from "../core/messages.ts";
import type { FragmentInput } from "../core/content_fragments.ts";
import { isValidTimezone } from "../core/message_context.ts";
import { cancelMessageGeneration } from "../core/agent_messages.ts";
import { openConversationEvents, openMessageEvents } from "../core/conversation_streams.ts";
import { connectionDone, sseResponse } from "./sse.ts";

const shortString = z.string().max(254, "must be less than 255 characters");

export const MessageContextBody = z.object({
  username: z.string().min(1, "required").max(254, "must be less than 255 characters"),
  timezone: z.string().min(1).max(254).refine(isValidTimezone, "not a valid IANA time zone name")
    .describe("An IANA time zone name, e.g. Europe/Paris (anything else: 400)"),
  fullName: shortString.nullable().optional(),
  email: shortString.nullable().optional(),
  profilePictureUrl: z.string().max(2048).nullable().optional(),
  origin: z.string().max(64).nullable().optional(),
  clientSideMCPServerIds: z.array(z.string().max(256)).max(32).nullable().optional(),
  selectedMCPServerViewIds: z.array(z.string().max(256)).max(32).nullable().optional(),
  lastTriggerRunAt: z.number().nullable().optional(),
});

export const MentionBody = z.union([
  z.object({ configurationId: z.string().min(1) }),
  z.object({ type: z.literal("user"), userId: z.string().min(1) }),
]);

const FragmentContext = z.object({
  username: z.string().nullable().optional(),
  fullName: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
  profilePictureUrl: z.string().nullable().optional(),
}).nullable().optional();

export const ContentFragmentBody = z.object({
  title: z.string().min(1).max(1024),
  content: z.string().optional(),
  contentType: z.string().max(256).optional(),
  fileId: z.string().optional(),
  url: z.string().max(4096).nullable().optional(),
  context: FragmentContext,
  nodeId: z.string().optional(),
  nodeDataSourceViewId: z.string().optional(),
}).meta({
  description: "One of three shapes: inline content (content + contentType), a file (fileId), " +
    "or a content node (nodeId + nodeDataSourceViewId).",
  oneOf: [
    {
      required: ["content", "contentType"],
      properties: { fileId: false, nodeId: false, nodeDataSourceViewId: false },
    },
    {
      required: ["fileId"],
      properties: { content: false, nodeId: false, nodeDataSourceViewId: false },
    },
    { required: ["nodeId", "nodeDataSourceViewId"], properties: { content: false, fileId: false } },
  ],
});

export const PostMessageBody = z.object({
  content: z.string().min(1, "must not be empty"),
  mentions: z.array(MentionBody).max(20),
  context: MessageContextBody,
  blocking: z.boolean().optional(),
  skipToolsValidation: z.boolean().optional(),
});

export const PostConversationBody = z.object({
  title: z.string().max(1024).nullable().optional(),
  visibility: z.enum(["unlisted", "workspace", "test"]).optional(),
  depth: z.number().int().min(0).max(MAX_CONVERSATION_DEPTH - 1).optional(),
  spaceId: z.string().min(1).optional(),
  message: PostMessageBody.optional(),
  contentFragment: ContentFragmentBody.optional(),
  contentFragments: z.array(ContentFragmentBody).max(20).optional(),
  blocking: z.boolean().optional(),
  skipToolsValidation: z.boolean().optional(),
});

export const ListConversationsQuery = z.object({
  lastValue: z.string().regex(/^\d{1,15}$/, "not a cursor from a previous page").optional()
    .describe("updatedAt (ms) of the previous page's last item"),
  orderDirection: z.enum(["asc", "desc"]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("default 500"),
});
export const PatchConversationBody = z.object({ read: z.boolean() });
export const CancelBody = z.object({ messageIds: z.array(z.string().min(1)).min(1).max(100) });
export const EventsQuery = z.object({
  lastEventId: z.string().regex(/^(\d{1,15})?$/, "not an event id of this stream").optional()
    .describe("The id of the last event received (empty or absent: from the start)"),
});

const Json = z.record(z.string(), z.unknown());
const ConversationResponse = z.object({
  conversation: Json,
  message: Json.optional().describe("The first user message, when one was posted"),
  contentFragment: Json.optional().describe("The first content fragment, when some were posted"),
});

/** A fragment body → core input: inline content, a file by id, or a content node. */
function toFragment(f: z.output<typeof ContentFragmentBody>, field: string): FragmentInput {
  const common = { title: f.title, url: f.url ?? null, context: f.context ?? null };
  if (f.nodeId !== undefined || f.nodeDataSourceViewId !== undefined) {
    if (f.nodeId === undefined) {
      throw invalid(`${field}.nodeId: required with nodeDataSourceViewId`);
    }
    if (f.nodeDataSourceViewId === undefined) {
      throw invalid(`${field}.nodeDataSourceViewId: required with nodeId`);
    }
    if (f.fileId !== undefined || f.content !== undefined) {
      throw invalid(`${field}: give one of content, fileId or nodeId`);
    }
    return { ...common, nodeId: f.nodeId, nodeDataSourceViewId: f.nodeDataSourceViewId };
  }
  if (f.fileId !== undefined) {
    if (f.content !== undefined) throw invalid(`${field}: give either fileId or content, not both`);
    return { ...common, fileId: f.fileId };
  }
  if (f.content === undefined) throw invalid(`${field}.content: required (or fileId)`);
  if (f.contentType === undefined) throw invalid(`${field}.contentType: required with content`);
  return { ...common, content: f.content, contentType: f.contentType };
}

function documentRoutes(base: string): void {
  const tags = ["Conversations"];
  documentRoute({
    method: "post",
    path: base,
    summary: "Create a conversation",
    tags,
    body: PostConversationBody,
    response: ConversationResponse,
  });
  documentRoute({
    method: "get",
    path: base,
    summary: "List the user's private conversations (user tokens only)",
    tags,
    query: ListConversationsQuery,
    response: z.object({
      conversations: z.array(Json),
      hasMore: z.boolean(),
      lastValue: z.string().nullable(),
    }),
  });
  documentRoute({
    method: "get",
    path: `${base}/:cId`,
    summary: "Get a conversation with its messages",
    tags,
    response: ConversationResponse,
  });
  documentRoute({
    method: "patch",
    path: `${base}/:cId`,
    summary: "Mark a conversation read or unread (user tokens only)",
    tags,
    body: PatchConversationBody,
    response: z.object({ success: z.boolean() }),
  });
  documentRoute({
    method: "post",
    path: `${base}/:cId/messages`,
    summary: "Post a user message",
    tags,
    body: PostMessageBody,
    response: z.object({ message: Json, agentMessages: z.array(Json) }),
  });
  documentRoute({
    method: "post",
    path: `${base}/:cId/content_fragments`,
    summary: "Post a content fragment",
    tags,
    body: ContentFragmentBody,
    response: z.object({ contentFragment: Json }),
  });
  documentRoute({
    method: "post",
    path: `${base}/:cId/cancel`,
    summary: "Cancel agent message generation",
    tags,
    body: CancelBody,
    response: z.object({ success: z.literal(true) }),
  });
  documentRoute({
    method: "get",
    path: `${base}/:cId/events`,
    summary: "Conversation event stream (SSE, resume with lastEventId)",
    tags,
    query: EventsQuery,
    responseContentType: "text/event-stream",
    errors: [429],
  });
  documentRoute({
    method: "get",
    path: `${base}/:cId/messages/:mId/events`,
    summary: "Agent message event stream (SSE, ends after the terminal event)",
    tags,
    query: EventsQuery,
    responseContentType: "text/event-stream",
    errors: [429],
  });
}

/** Routes of conversations, mounted at `/` (paths are absolute). */
export function conversationRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const base = "/api/v1/w/:wId/assistant/conversations";
  documentRoutes(base);

  app.post(base, async (c) => {
    const body = await parseJson(c, PostConversationBody);
    const fragments = [
      ...(body.contentFragment ? [toFragment(body.contentFragment, "contentFragment")] : []),
      ...(body.contentFragments ?? []).map((f, i) => toFragment(f, `contentFragments.${i}`)),
    ];
    const actor = getActor(c);
    const post = body.message || fragments.length
      ? {
        content: body.message?.content ?? null,
        mentions: body.message?.mentions ?? [],
        context: body.message?.context ?? null,
        contentFragments: fragments,
      }
      : null;
    const r = await postConversation(c.var.deps, actor, {
      title: body.title ?? null,
      visibility: body.visibility ?? "unlisted",
      depth: body.depth,
      spaceId: body.spaceId ?? null,
      post,
      blocking: body.blocking ?? body.message?.blocking ?? false,
    });
    return c.json({
      conversation: r.json,
      ...(r.userMessage ? { message: r.userMessage } : {}),
      ...(r.contentFragments.length ? { contentFragment: r.contentFragments[0] } : {}),
    });
  });

  app.get(base, async (c) => {
    const q = parseQuery(c, ListConversationsQuery);
    return c.json(
      await listConversations(c.var.deps, getActor(c), { ...q, limit: q.limit ?? 500 }),
    );
  });

  app.get(`${base}/:cId`, async (c) => {
    const conversation = await getConversation(c.var.deps, getActor(c), {
      conversationId: c.req.param("cId"),
    });
    return c.json({ conversation });
  });

  app.patch(`${base}/:cId`, async (c) => {
    const body = await parseJson(c, PatchConversationBody);
    const r = await markConversationRead(c.var.deps, getActor(c), {
      conversationId: c.req.param("cId"),
      read: body.read,
    });
    return c.json({ success: r.success });
  });

  app.post(`${base}/:cId/messages`, async (c) => {
    const body = await parseJson(c, PostMessageBody);
    const r = await postToConversation(c.var.deps, getActor(c), {
      conversationId: c.req.param("cId"),
      post: {
        content: body.content,
        mentions: body.mentions,
        context: body.context,
        contentFragments: [],
      },
      blocking: body.blocking ?? false,
    });
    return c.json({ message: r.userMessage, agentMessages: r.agentMessages });
  });

  app.post(`${base}/:cId/content_fragments`, async (c) => {
    const body = await parseJson(c, ContentFragmentBody);
    const r = await postToConversation(c.var.deps, getActor(c), {
      conversationId: c.req.param("cId"),
      post: {
        content: null,
        mentions: [],
        context: null,
        contentFragments: [toFragment(body, "body")],
      },
    });
    return c.json({ contentFragment: r.contentFragments[0] });
  });

  app.post(`${base}/:cId/cancel`, async (c) => {
    const body = await parseJson(c, CancelBody);
    return c.json(
      await cancelMessageGeneration(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        messageIds: body.messageIds,
      }),
    );
  });

  app.get(`${base}/:cId/events`, async (c) => {
    const q = parseQuery(c, EventsQuery);
    const body = await openConversationEvents(c.var.deps, getActor(c), {
      conversationId: c.req.param("cId"),
      lastEventId: q.lastEventId,
      connection: connectionDone(c),
    });
    return sseResponse(body);
  });

  app.get(`${base}/:cId/messages/:mId/events`, async (c) => {
    const q = parseQuery(c, EventsQuery);
    const body = await openMessageEvents(c.var.deps, getActor(c), {
      conversationId: c.req.param("cId"),
      messageId: c.req.param("mId"),
      lastEventId: q.lastEventId,
      connection: connectionDone(c),
    });
    return sseResponse(body);
  });

  return app;
}
