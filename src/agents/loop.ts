/**
 * One agent run: the agent's instructions + the conversation + its tools → the model →
 * streamed tokens → tool calls → … → the final answer, at most `maxStepsPerRun` model turns
 * (the last turn gets no tools, so it must answer). Every step is persisted (agent actions
 * with params, output, status) and published as Dust's message events; the end is
 * `agent_message_success` or `agent_error`, plus `agent_message_done` on the conversation.
 * A cancelled run (the user's cancel or server shutdown) stops at once and writes nothing
 * more than the cancellation of its running action.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { ALL_SCOPES } from "../auth/actor.ts";
import { resolveUserActor } from "../auth/user_actor.ts";
import { narrowRunActor } from "../core/grant_access.ts";
import {
  type AgentMessageCreated,
  appendConversationEvent,
  appendMessageEvent,
  type ConversationForAgent,
  getConversationForAgent,
  updateAgentMessage,
} from "../core/agent_messages.ts";
import { claimParkedRun } from "../core/tool_approvals.ts";
import { listConversationToolServers } from "../core/conversation_tools.ts";
import { type AgentRow, findAgentBySId } from "../core/agents.ts";
import {
  getModelSettings,
  isModelConfigured,
  MODEL_NOT_CONFIGURED_MESSAGE,
  type ModelSettings,
} from "../core/model_settings.ts";
import { findPodSId, findUserSId } from "../core/agent_runs.ts";
import { findWorkspaceById, toWorkspaceRef } from "../core/workspaces.ts";
import { type ChatMessage, createModelClient, ModelError, runModelTurn } from "./provider.ts";
import { type AgentToolset, prepareAgentTools } from "./tools.ts";
import { prepareCall, StepTools } from "./tool_calls.ts";

/**
 * Why a run stopped early: the user cancelled, the server is stopping, or another instance
 * took the run's lease over (this one stalled past it): then the run writes nothing more.
 */
export type AbortReason = "cancelled" | "shutdown" | "lease_lost";

/** An agent error as Dust shapes it. */
export interface AgentErrorInfo {
  code: string;
  message: string;
}

/** The message the loop writes when the server stops mid-run (and the runner at startup). */
export const INTERRUPTED_MESSAGE =
  "The server stopped while this message was being generated. Retry the message.";

/** The message an instance writes when it ends the run of an instance that died. */
export const TAKEN_OVER_MESSAGE =
  "The server instance generating this message stopped before it finished. Retry the message.";

/** Publishes the run's message events with Dust's common fields. */
class RunEvents {
  constructor(private readonly deps: Deps, private readonly job: AgentMessageCreated) {}
  async message(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    await appendMessageEvent(this.deps, this.job.messageSId, {
      type,
      configurationId: this.job.agentSId,
      messageId: this.job.messageSId,
      ...fields,
    });
  }
  async done(status: string): Promise<void> {
    await appendConversationEvent(this.deps, this.job.conversationSId, {
      type: "agent_message_done",
      conversationId: this.job.conversationSId,
      configurationId: this.job.agentSId,
      messageId: this.job.messageSId,
      status,
    });
  }
}

/** Mark the message failed (unless already terminal) and publish `agent_error`. */
export async function failAgentMessage(
  deps: Deps,
  job: AgentMessageCreated,
  error: AgentErrorInfo,
): Promise<void> {
  const updated = await updateAgentMessage(deps, {
    messageId: job.messageSId,
    status: "failed",
    error: { ...error, metadata: null },
  });
  if (!updated) return;
  const events = new RunEvents(deps, job);
  await events.message("agent_error", { error: { ...error, metadata: null }, runIds: [] });
  await events.done("failed");
}

/** Who the run acts as: the poster (a user), or the workspace (an API key post). */
async function actorForRun(deps: Deps, job: AgentMessageCreated): Promise<Actor | null> {
  if (job.userId === null) {
    const ws = await findWorkspaceById(deps.db, job.workspaceId);
    return ws
      ? {
        kind: "api_key",
        workspace: toWorkspaceRef(ws),
        credential: { kind: "api_key", id: "agent_run" },
      }
      : null;
  }
  const userSId = await findUserSId(deps, job.userId);
  if (!userSId) return null;
  const actor = await resolveUserActor(deps, {
    userSId,
    workspaceSId: job.workspaceSId,
    scopes: new Set(ALL_SCOPES),
    credential: { kind: "session", id: `agent_run:${job.messageSId}` },
  });
  // A run launched through a narrowed OAuth grant reaches only what that grant reaches now.
  return actor ? await narrowRunActor(deps.db, actor, job.grantId ?? null) : null;
}

/** Run one agent message to its end. Never throws: failures end the message `failed`. */
export async function runAgentMessage(
  deps: Deps,
  job: AgentMessageCreated,
  signal: AbortSignal,
): Promise<void> {
  try {
    await runSteps(deps, job, signal);
  } catch (e) {
    if (signal.aborted) {
      if (signal.reason === "shutdown") {
        await failAgentMessage(deps, job, {
          code: "agent_interrupted",
          message: INTERRUPTED_MESSAGE,
        });
      }
      return;
    }
    const message = e instanceof ModelError ? e.message : `The agent failed: ${String(e)}`;
    if (!(e instanceof ModelError)) deps.log.error("agent run failed", { error: String(e) });
    await failAgentMessage(deps, job, {
      code: e instanceof ModelError ? "model_error" : "unexpected_error",
      message,
    });
  }
}

/** Everything a run needs, or null when the message was failed instead (no model, …). */
interface PreparedRun {
  settings: ModelSettings & { baseUrl: string; model: string };
  agent: AgentRow;
  toolset: AgentToolset;
  messages: ChatMessage[];
}

async function prepareRun(
  deps: Deps,
  job: AgentMessageCreated,
  signal: AbortSignal,
): Promise<PreparedRun | null> {
  const settings = await getModelSettings(deps);
  if (!isModelConfigured(settings)) {
    await failAgentMessage(deps, job, {
      code: "model_not_configured",
      message: MODEL_NOT_CONFIGURED_MESSAGE,
    });
    return null;
  }
  const agent = await findAgentBySId(deps.db, job.workspaceId, job.agentSId);
  const actor = await actorForRun(deps, job);
  if (!agent || !actor) {
    await failAgentMessage(deps, job, {
      code: "agent_unavailable",
      message: !agent
        ? "The agent no longer exists."
        : "The user who posted the message is no longer a member of the workspace.",
    });
    return null;
  }
  const convo = await getConversationForAgent(deps, { messageId: job.messageSId });
  const podSId = await findPodSId(deps, convo.conversation.spaceId);
  // The agent's own tools, and those added to the conversation (conversation_tools.ts).
  const added = await listConversationToolServers(deps, convo.conversation.id);
  const toolset = await prepareAgentTools(deps, {
    actor,
    agentTools: [...new Set([...agent.tools, ...added])],
    agentSpaceIds: agent.spaceIds,
    conversationSId: job.conversationSId,
    podSId,
    agentMessageSId: job.messageSId,
    clientSideServerIds: clientSideServerIdsOf(convo),
  }, signal);
  return { settings, agent, toolset, messages: buildPrompt(agent, convo, toolset.notes, podSId) };
}

async function runSteps(deps: Deps, job: AgentMessageCreated, signal: AbortSignal) {
  // A resumed run first claims its checkpoint: nothing to claim (another run took it, or the
  // message was cancelled meanwhile) means nothing to do.
  const parked = job.resume ? await claimParkedRun(deps, job.messageSId) : null;
  if (job.resume && !parked) return;
  const run = await prepareRun(deps, job, signal);
  if (!run) return;
  const { settings, agent, toolset } = run;
  const messages = parked ? parked.chat as ChatMessage[] : run.messages;
  const events = new RunEvents(deps, job);
  const tools = new StepTools(deps, job, toolset, agent.name, signal);
  const client = await createModelClient(settings);
  let content = parked?.content ?? "";
  let first = 0;
  if (parked) {
    for (const c of parked.calls) {
      messages.push({ role: "tool", tool_call_id: c.callId, content: await tools.runParked(c) });
    }
    first = parked.step + 1;
  }
  const maxSteps = Math.max(1, agent.maxStepsPerRun, first + 1);
  for (let step = first; step < maxSteps; step++) {
    const lastStep = step === maxSteps - 1;
    const turn = await runModelTurn(client, settings, {
      messages,
      tools: lastStep ? [] : toolset.definitions,
      temperature: agent.temperature,
      signal,
      onToken: async (text) =>
        await events.message("generation_tokens", { text, classification: "tokens" }),
    });
    content += turn.content;
    if (turn.toolCalls.length === 0 || lastStep) break;
    messages.push({ role: "assistant", content: turn.content || null, tool_calls: turn.toolCalls });
    const calls = turn.toolCalls.map((call, i) => prepareCall(call, step, i));
    // A call that must ask the poster parks the run here; it resumes once all are decided.
    if (await tools.parkIfAsked(calls, { step, content, chat: messages })) return;
    for (const p of calls) {
      messages.push({ role: "tool", tool_call_id: p.callId, content: await tools.run(p, step) });
    }
  }
  signal.throwIfAborted();
  const message = await updateAgentMessage(deps, {
    messageId: job.messageSId,
    status: "succeeded",
    content,
  });
  if (!message) return; // cancelled meanwhile
  await events.message("agent_message_success", { message, runIds: [] });
  await events.done("succeeded");
}

function clientSideServerIdsOf(convo: ConversationForAgent): string[] {
  const ctx = convo.userMessage?.json.context as { clientSideMCPServerIds?: unknown } | undefined;
  const ids = ctx?.clientSideMCPServerIds;
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === "string") : [];
}

/** Instructions, the run's notes, then the conversation so far. */
function buildPrompt(
  agent: AgentRow,
  convo: ConversationForAgent,
  notes: string[],
  podSId: string | null,
): ChatMessage[] {
  const files = `Files of this conversation live under conversation-${convo.conversation.sId}/` +
    (podSId ? ` and files of its Pod under pod-${podSId}/.` : ".");
  const system = [
    agent.instructions ?? `You are ${agent.name}, a helpful assistant.`,
    `You are "${agent.name}" in a conversation of a team workspace. Current date: ${
      new Date().toISOString().slice(0, 10)
    }. ${files}`,
    ...notes,
  ].join("\n\n");
  const out: ChatMessage[] = [{ role: "system", content: system }];
  for (const r of convo.history) {
    const j = r.json as Record<string, unknown>;
    if (r.type === "user_message") {
      const ctx = j.context as { username?: string; fullName?: string | null } | undefined;
      const who = ctx?.fullName || ctx?.username || "user";
      out.push({ role: "user", content: `${who}: ${String(j.content ?? "")}` });
    } else if (r.type === "agent_message") {
      if (typeof j.content === "string" && j.content !== "") {
        out.push({ role: "assistant", content: j.content });
      }
    } else {
      out.push({
        role: "user",
        content: `[Attached: ${String(j.title)} (${String(j.contentType)})]`,
      });
    }
  }
  return out;
}
