/**
 * The tool calls of an agent run's step: each is recorded as an action (`tool_params`), run
 * through the run's toolset, finished with its output (`agent_action_success` or
 * `tool_error`), and its result text goes back to the model.
 *
 * Before a step runs anything, {@link StepTools.parkIfAsked} checks every call's stake
 * (core/tool_stakes.ts): when one must ask the poster, all the step's actions are recorded,
 * the run parks (core/tool_approvals.ts: approvals, checkpoint, `tool_approve_execution`
 * events) and the loop ends. The resumed run replays the parked step with
 * {@link StepTools.runParked}: approved calls run, rejected or expired ones give the model
 * Dust's refusal text.
 * @module
 */
import type { Deps } from "../deps.ts";
import {
  type AgentMessageCreated,
  appendMessageEvent,
  createAgentAction,
  updateAgentAction,
} from "../core/agent_messages.ts";
import {
  type ApprovalRequest,
  type Decision,
  findAgentMessageFacts,
  needsApproval,
  parkAgentRun,
  type ParkedCall,
} from "../core/tool_approvals.ts";
import type { ChatMessage, ChatToolCall } from "./provider.ts";
import type { AgentToolset, McpContent } from "./tools.ts";

/** What the model is told when the user rejected a call (Dust's words). */
export const REJECTED_TEXT =
  "The user rejected this specific action execution. Using this action is hence forbidden for this message.";
/** What the model is told when nobody decided in time (Dust's words). */
export const EXPIRED_TEXT =
  "The action validation timed out. Using this action is hence forbidden for this message.";

/** A model tool call with its arguments parsed. */
export interface PreparedCall {
  callId: string;
  name: string;
  args: Record<string, unknown>;
  parseError: string | null;
}

/** The text a tool result gives the model. */
export function outputText(content: McpContent[]): string {
  return content.map((c) => (c.type === "text" ? String(c.text ?? "") : `[${c.type} content]`))
    .join("\n");
}

/** Parse a model tool call (a missing id gets `call_<step>_<i>`). */
export function prepareCall(call: ChatToolCall, step: number, i: number): PreparedCall {
  let args: Record<string, unknown> = {};
  let parseError: string | null = null;
  try {
    const parsed = JSON.parse(call.function.arguments || "{}");
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) args = parsed;
    else parseError = "The tool arguments must be a JSON object.";
  } catch {
    parseError = "The tool arguments are not valid JSON.";
  }
  call.id ||= `call_${step}_${i}`;
  return { callId: call.id, name: call.function.name, args, parseError };
}

/** Runs one step's tool calls for one agent message. */
export class StepTools {
  constructor(
    private readonly deps: Deps,
    private readonly job: AgentMessageCreated,
    private readonly toolset: AgentToolset,
    private readonly agentName: string,
    private readonly signal: AbortSignal,
  ) {}

  async #event(type: string, fields: Record<string, unknown>): Promise<void> {
    await appendMessageEvent(this.deps, this.job.messageSId, {
      type,
      configurationId: this.job.agentSId,
      messageId: this.job.messageSId,
      ...fields,
    });
  }

  async #record(p: PreparedCall, step: number): Promise<Record<string, unknown>> {
    const action = await createAgentAction(this.deps, {
      messageId: this.job.messageSId,
      step,
      functionCallName: p.name,
      functionCallId: p.callId,
      mcpServerId: this.toolset.serverOf(p.name),
      params: p.args,
    });
    await this.#event("tool_params", { action });
    return action;
  }

  /** The calls of this step that must ask the poster first. */
  async #asks(calls: PreparedCall[]): Promise<Set<PreparedCall>> {
    const out = new Set<PreparedCall>();
    const facts = await findAgentMessageFacts(this.deps, { messageSId: this.job.messageSId });
    for (const p of calls) {
      const tool = p.parseError === null ? this.toolset.identityOf(p.name) : null;
      if (!tool) continue;
      const ask = await needsApproval(this.deps, {
        workspaceId: this.job.workspaceId,
        posterUserId: this.job.userId,
        skip: facts?.skip ?? false,
        tool,
      });
      if (ask) out.add(p);
    }
    return out;
  }

  /**
   * Park the run when a call of the step must ask: record every action of the step, then the
   * approvals and the checkpoint. True when the run must end here.
   */
  async parkIfAsked(
    calls: PreparedCall[],
    at: { step: number; content: string; chat: ChatMessage[] },
  ): Promise<boolean> {
    const asks = await this.#asks(calls);
    if (asks.size === 0) return false;
    const parked: ParkedCall[] = [];
    const approvals: ApprovalRequest[] = [];
    for (const p of calls) {
      const action = await this.#record(p, at.step);
      parked.push({ ...p, actionSId: action.sId as string });
      if (!asks.has(p)) continue;
      approvals.push({
        actionSId: action.sId as string,
        tool: this.toolset.identityOf(p.name)!,
        inputs: p.args,
        mcpServerId: this.toolset.serverOf(p.name),
      });
    }
    this.signal.throwIfAborted();
    await parkAgentRun(this.deps, {
      messageSId: this.job.messageSId,
      agentSId: this.job.agentSId,
      agentName: this.agentName,
      step: at.step,
      content: at.content,
      chat: at.chat,
      calls: parked,
      approvals,
    });
    return true;
  }

  /** Record and run one call; returns what the model gets back. */
  async run(p: PreparedCall, step: number): Promise<string> {
    return await this.#execute(await this.#record(p, step), p);
  }

  /** Run a call of a resumed step according to its approval decision. */
  async runParked(c: ParkedCall & { decision: Decision }): Promise<string> {
    if (c.decision === "rejected" || c.decision === "expired" || c.decision === "cancelled") {
      const text = c.decision === "rejected" ? REJECTED_TEXT : EXPIRED_TEXT;
      const done = await updateAgentAction(this.deps, {
        actionId: c.actionSId,
        status: "errored",
        output: [{ type: "text", text }],
      });
      this.signal.throwIfAborted();
      await this.#event("agent_action_success", { action: { ...done, status: "denied" } });
      return text;
    }
    const action = await updateAgentAction(this.deps, { actionId: c.actionSId, status: "running" });
    return await this.#execute(action, c);
  }

  /** Run a recorded call through the toolset and finish its action. */
  async #execute(action: Record<string, unknown>, p: PreparedCall): Promise<string> {
    // Progress arrives from the tool's client without being awaited: its events are written
    // one after the other, and all of them before the action's own result.
    let progress: Promise<unknown> = Promise.resolve();
    const outcome = p.parseError
      ? { ok: false, content: [{ type: "text", text: p.parseError }] }
      : await this.toolset.call(p.name, p.args, {
        signal: this.signal,
        onProgress: (n) => {
          progress = progress.then(() =>
            this.#event("tool_notification", {
              action,
              notification: {
                progress: n.progress,
                total: n.total ?? null,
                _meta: { data: { label: n.message ?? `Running ${p.name}`, output: null } },
              },
            })
          ).catch((e) => this.deps.log.warn("tool progress not recorded", { error: String(e) }));
        },
      });
    await progress;
    // Taken over by another instance: that one owns the message now; write nothing.
    if (this.signal.reason === "lease_lost") this.signal.throwIfAborted();
    const status = this.signal.aborted ? "cancelled" : outcome.ok ? "succeeded" : "errored";
    const done = await updateAgentAction(this.deps, {
      actionId: action.sId as string,
      status,
      output: outcome.content,
    });
    this.signal.throwIfAborted();
    if (outcome.ok) await this.#event("agent_action_success", { action: done });
    else {
      await this.#event("tool_error", {
        error: { code: "tool_error", message: outputText(outcome.content), metadata: null },
      });
    }
    return outputText(outcome.content);
  }
}
