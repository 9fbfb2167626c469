/**
 * Tool approvals over MCP. `get_conversation_messages` shows the calls waiting for the user's
 * decision (in the text, and as `pendingApprovals`). When the exchange allows it (2026-07-28,
 * client declaring elicitation, a token and endpoint that write), the tool asks the MCP
 * client's user directly: it answers `input_required` with one elicitation per waiting call
 * of theirs; the client retries with the answers, which are applied through the core's
 * `validateAction` (the REST route's function), and the page is read again. A declined or
 * cancelled request leaves the call waiting. Other exchanges read where to approve in the text.
 * @module
 */
import type { inputRequired } from "@modelcontextprotocol/server";
import { loadMcpSdk } from "./sdk.ts";
import { hasScope } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import type { BlockedAction } from "../core/tool_validation.ts";
import { type ApprovalDecision, validateAction } from "../core/tool_validation.ts";
import type { ToolContext } from "./tool_kit.ts";

const DECISIONS: Record<string, ApprovalDecision> = {
  approve: "approved",
  always_approve: "always_approved",
  reject: "rejected",
};

/** The input-request key of a waiting call. */
export function approvalKey(a: Pick<BlockedAction, "actionId">): string {
  return `approve_${a.actionId}`;
}

function elicitation(ask: typeof inputRequired, a: BlockedAction) {
  return ask.elicit({
    mode: "form",
    message: `${a.metadata.agentName} wants to run ${a.metadata.toolName} ` +
      `(${a.metadata.mcpServerName}) with ${JSON.stringify(a.inputs)}. Allow it?`,
    requestedSchema: {
      type: "object",
      properties: {
        decision: {
          type: "string",
          title: "Decision",
          description: "approve: this call; always_approve: this tool from now on (low stake " +
            "only); reject: the agent is told you refused",
          enum: ["approve", "always_approve", "reject"],
        },
      },
      required: ["decision"],
    },
  });
}

/** Whether the caller may be asked: their own calls, an exchange that elicits, write access. */
function askable(ctx: ToolContext, pending: BlockedAction[]): BlockedAction[] {
  if (!ctx.exchange?.canElicit || ctx.caller.endpoint.readOnly) return [];
  if (!hasScope(ctx.actor, "write")) return [];
  return pending.filter((a) => a.userId === ctx.actor.user.sId);
}

/**
 * A page of `get_conversation_messages` after asking the user about the calls waiting for
 * them: the page as read (nothing to ask, or answers applied and the page read again), or
 * the `input_required` result that asks.
 */
export async function withApprovalRequests<P extends { pendingApprovals: BlockedAction[] }>(
  ctx: ToolContext,
  page: P,
  reread: () => Promise<P>,
): Promise<P | ReturnType<typeof inputRequired>> {
  const mine = askable(ctx, page.pendingApprovals);
  if (mine.length === 0) return page;
  const { acceptedContent, inputRequired } = await loadMcpSdk();
  const responses = ctx.exchange?.inputResponses ?? {};
  const answered = mine.filter((a) => approvalKey(a) in responses);
  if (answered.length === 0) {
    return inputRequired({
      inputRequests: Object.fromEntries(
        mine.map((a) => [approvalKey(a), elicitation(inputRequired, a)]),
      ),
    });
  }
  for (const a of answered) {
    const content = acceptedContent<{ decision?: unknown }>(responses, approvalKey(a));
    const approved = typeof content?.decision === "string"
      ? DECISIONS[content.decision]
      : undefined;
    if (!approved) continue;
    try {
      await validateAction(ctx.deps, ctx.actor, {
        conversationId: a.conversationId,
        messageId: a.messageId,
        actionId: a.actionId,
        approved,
      });
    } catch (e) {
      // Decided meanwhile (elsewhere, or expired): the page read again says what happened.
      if (!(e instanceof AppError && e.type === "action_not_blocked")) throw e;
    }
  }
  return await reread();
}
