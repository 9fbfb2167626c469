/**
 * More of Dust's conversation routes (`@dust-tt/client` `postConversationTools`,
 * `getConversationFeedback`, `postFeedback`, `deleteFeedback`, `retryMessage`): tools added to
 * a conversation, feedback on agent messages, and retrying an agent message.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { setConversationTool } from "../core/conversation_tools.ts";
import {
  deleteFeedback,
  FEEDBACK_CONTENT_MAX,
  listConversationFeedbacks,
  postFeedback,
} from "../core/feedbacks.ts";
import { retryAgentMessage } from "../core/retry.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";

export const ToolsBody = z.object({
  action: z.enum(["add", "delete"]),
  mcp_server_view_id: z.string().min(1).max(128),
  agent_configuration_id: z.string().min(1).max(128).optional().describe(
    "Must name an agent the caller reads; the tools apply to every agent of the conversation",
  ),
});

export const FeedbackBody = z.object({
  thumbDirection: z.enum(["up", "down"]),
  feedbackContent: z.string().max(FEEDBACK_CONTENT_MAX).nullable().optional(),
  isConversationShared: z.boolean().optional(),
});

const RetryQuery = z.object({
  blocked_only: z.enum(["true", "false"]).optional().describe(
    "true: publish the waiting tool approvals again instead of retrying",
  ),
});
const RetryBody = z.union([z.null(), z.object({})]);

const Feedback = z.object({
  messageId: z.string(),
  agentMessageId: z.number(),
  userId: z.number(),
  thumbDirection: z.enum(["up", "down"]),
  content: z.string().nullable(),
  createdAt: z.number(),
  agentConfigurationId: z.string(),
  agentConfigurationVersion: z.number(),
  isConversationShared: z.boolean(),
});

/** Routes mounted at `/` (paths are absolute). */
export function conversationExtraRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const base = "/api/v1/w/:wId/assistant/conversations/:cId";
  const tags = ["Conversations"];

  documentRoute({
    method: "post",
    path: `${base}/tools`,
    summary: "Add (or remove) an MCP server view's tools for every agent of the conversation",
    description: "Readers of the conversation who may write (Dust: its system key only).",
    tags,
    body: ToolsBody,
    response: z.object({ success: z.literal(true) }),
  });
  app.post(`${base}/tools`, async (c) => {
    const b = await parseJson(c, ToolsBody);
    return c.json(
      await setConversationTool(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        action: b.action,
        mcpServerViewId: b.mcp_server_view_id,
        agentConfigurationId: b.agent_configuration_id,
      }),
    );
  });

  documentRoute({
    method: "get",
    path: `${base}/feedbacks`,
    summary: "The caller's feedback on the conversation's agent messages (users only)",
    tags,
    response: z.object({ feedbacks: z.array(Feedback) }),
  });
  app.get(`${base}/feedbacks`, async (c) =>
    c.json(
      await listConversationFeedbacks(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
      }),
    ));

  documentRoute({
    method: "post",
    path: `${base}/messages/:mId/feedbacks`,
    summary: "Give (or replace) a thumb up or down on an agent message (users only)",
    tags,
    body: FeedbackBody,
    response: z.object({ success: z.literal(true) }),
  });
  app.post(`${base}/messages/:mId/feedbacks`, async (c) => {
    const b = await parseJson(c, FeedbackBody);
    return c.json(
      await postFeedback(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        messageId: c.req.param("mId"),
        ...b,
      }),
    );
  });

  documentRoute({
    method: "delete",
    path: `${base}/messages/:mId/feedbacks`,
    summary: "Remove the caller's feedback on an agent message (400 when there is none)",
    tags,
    response: z.object({ success: z.literal(true) }),
  });
  app.delete(`${base}/messages/:mId/feedbacks`, async (c) =>
    c.json(
      await deleteFeedback(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        messageId: c.req.param("mId"),
      }),
    ));

  documentRoute({
    method: "post",
    path: `${base}/messages/:mId/retry`,
    summary: "Retry a finished agent message as a new version (the poster only)",
    description: "With blocked_only=true, a message waiting for tool approvals publishes " +
      "its tool_approve_execution events again instead.",
    tags,
    query: RetryQuery,
    body: RetryBody,
    response: z.object({ message: z.record(z.string(), z.unknown()) }),
  });
  app.post(`${base}/messages/:mId/retry`, async (c) => {
    const q = parseQuery(c, RetryQuery);
    await parseJson(c, RetryBody);
    return c.json(
      await retryAgentMessage(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        messageId: c.req.param("mId"),
        blockedOnly: q.blocked_only === "true",
      }),
    );
  });

  return app;
}
