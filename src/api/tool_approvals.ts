/**
 * Tool approval under `/api/v1/w/{wId}/assistant/conversations/{cId}` (`@dust-tt/client`
 * `getBlockedActions`, `validateAction`, `answerUserQuestion`): the calls waiting for the
 * poster's decision, the decision, and Dust's answer-question route (core/tool_validation.ts).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { answerUserQuestion, listBlockedActions, validateAction } from "../core/tool_validation.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson } from "./validate.ts";

const ActionId = z.string().min(1).max(128);

export const ValidateActionBody = z.object({
  actionId: ActionId,
  approved: z.enum(["approved", "rejected", "always_approved"]).describe(
    "always_approved also remembers the tool for this user when its stake is low",
  ),
});

export const AnswerQuestionBody = z.object({
  actionId: ActionId,
  answer: z.object({
    selectedOptions: z.array(z.number().int().min(0)).max(64),
    customResponse: z.string().max(10_000).optional(),
  }),
});

const BlockedActionSchema = z.object({
  messageId: z.string(),
  conversationId: z.string(),
  actionId: z.string(),
  inputs: z.record(z.string(), z.unknown()),
  stake: z.enum(["never_ask", "low", "medium", "high"]),
  status: z.literal("blocked_validation_required"),
  userId: z.string().optional().describe("The poster, who decides"),
  metadata: z.object({
    toolName: z.string(),
    mcpServerName: z.string(),
    agentName: z.string(),
    mcpServerId: z.string().optional(),
    mcpServerDisplayName: z.string(),
  }),
  expiresAt: z.number().describe("When the call is refused as timed out (epoch ms)"),
});

const Success = z.object({ success: z.literal(true) });

/** Routes mounted at `/` (paths are absolute). */
export function toolApprovalRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const base = "/api/v1/w/:wId/assistant/conversations/:cId";
  const tags = ["Conversations"];

  documentRoute({
    method: "get",
    path: `${base}/actions/blocked`,
    summary: "Tool calls of the conversation waiting for the poster's approval",
    tags,
    response: z.object({ blockedActions: z.array(BlockedActionSchema) }),
  });
  app.get(`${base}/actions/blocked`, async (c) =>
    c.json(
      await listBlockedActions(c.var.deps, getActor(c), { conversationId: c.req.param("cId") }),
    ));

  documentRoute({
    method: "post",
    path: `${base}/messages/:mId/validate-action`,
    summary: "Approve, reject or always allow a tool call (the poster only)",
    description: "400 action_not_blocked when the call is not waiting (decided, expired); " +
      "403 workspace_auth_error for anyone but the poster (API keys for an API-key post).",
    tags,
    body: ValidateActionBody,
    response: Success,
  });
  app.post(`${base}/messages/:mId/validate-action`, async (c) => {
    const b = await parseJson(c, ValidateActionBody);
    return c.json(
      await validateAction(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        messageId: c.req.param("mId"),
        ...b,
      }),
    );
  });

  documentRoute({
    method: "post",
    path: `${base}/messages/:mId/answer-question`,
    summary: "Answer a tool's question (no tool of this server asks: action_not_blocked)",
    tags,
    body: AnswerQuestionBody,
    response: Success,
  });
  app.post(`${base}/messages/:mId/answer-question`, async (c) => {
    const b = await parseJson(c, AnswerQuestionBody);
    return c.json(
      await answerUserQuestion(c.var.deps, getActor(c), {
        conversationId: c.req.param("cId"),
        messageId: c.req.param("mId"),
        ...b,
      }),
    );
  });

  return app;
}
