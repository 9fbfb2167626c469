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
import {
  type AgentMessageCreated,
  appendConversationEvent,
  appendMessageEvent,
  type ConversationForAgent,
  createAgentAction,
  getConversationForAgent,
  updateAgentAction,
  updateAgentMessage,
} from "../core/agent_messages.ts";
import { type AgentRow, findAgentBySId } from "../core/agents.ts";
import {
  getModelSettings,
  isModelConfigured,
  MODEL_NOT_CONFIGURED_MESSAGE,
  type ModelSettings,
} from "../core/model_settings.ts";
import { findPodSId, findUserSId } from "../core/agent_runs.ts";
import { findWorkspaceById, toWorkspaceRef } from "../core/workspaces.ts";
import {
  type ChatMessage,
  type ChatToolCall,
  createModelClient,
  ModelError,
  runModelTurn,
} from "./provider.ts";
import { type AgentToolset, type McpContent, prepareAgentTools } from "./tools.ts";

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
  return await resolveUserActor(deps, {
    userSId,
    workspaceSId: job.workspaceSId,
    scopes: new Set(ALL_SCOPES),
    credential: { kind: "session", id: `agent_run:${job.messageSId}` },
  });
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
  const toolset = await prepareAgentTools(deps, {
    actor,
    agentTools: agent.tools,
    agentSpaceIds: agent.spaceIds,
    conversationSId: job.conversationSId,
    podSId,
    agentMessageSId: job.messageSId,
    clientSideServerIds: clientSideServerIdsOf(convo),
  }, signal);
  return { settings, agent, toolset, messages: buildPrompt(agent, convo, toolset.notes, podSId) };
}

async function runSteps(deps: Deps, job: AgentMessageCreated, signal: AbortSignal) {
  const run = await prepareRun(deps, job, signal);
  if (!run) return;
  const { settings, agent, toolset, messages } = run;
  const events = new RunEvents(deps, job);
  const client = await createModelClient(settings);
  let content = "";
  const maxSteps = Math.max(1, agent.maxStepsPerRun);
  for (let step = 0; step < maxSteps; step++) {
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
    for (const [i, call] of turn.toolCalls.entries()) {
      const output = await runToolCall(deps, job, toolset, events, { call, step, i }, signal);
      messages.push({ role: "tool", tool_call_id: call.id, content: output });
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

/** The text a tool result gives the model. */
function outputText(content: McpContent[]): string {
  return content.map((c) => (c.type === "text" ? String(c.text ?? "") : `[${c.type} content]`))
    .join("\n");
}

/** Persist and publish one tool call; returns what the model gets back. */
async function runToolCall(
  deps: Deps,
  job: AgentMessageCreated,
  toolset: AgentToolset,
  events: RunEvents,
  at: { call: ChatToolCall; step: number; i: number },
  signal: AbortSignal,
): Promise<string> {
  const name = at.call.function.name;
  let args: Record<string, unknown> = {};
  let parseError: string | null = null;
  try {
    const parsed = JSON.parse(at.call.function.arguments || "{}");
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) args = parsed;
    else parseError = "The tool arguments must be a JSON object.";
  } catch {
    parseError = "The tool arguments are not valid JSON.";
  }
  at.call.id ||= `call_${at.step}_${at.i}`;
  const action = await createAgentAction(deps, {
    messageId: job.messageSId,
    step: at.step,
    functionCallName: name,
    functionCallId: at.call.id,
    mcpServerId: toolset.serverOf(name),
    params: args,
  });
  await events.message("tool_params", { action });
  // Progress arrives from the tool's client without being awaited: its events are written one
  // after the other, and all of them before the action's own result.
  let progress: Promise<unknown> = Promise.resolve();
  const outcome = parseError
    ? { ok: false, content: [{ type: "text", text: parseError }] }
    : await toolset.call(name, args, {
      signal,
      onProgress: (p) => {
        progress = progress.then(() =>
          events.message("tool_notification", {
            action,
            notification: {
              progress: p.progress,
              total: p.total ?? null,
              _meta: { data: { label: p.message ?? `Running ${name}`, output: null } },
            },
          })
        ).catch((e) => deps.log.warn("tool progress not recorded", { error: String(e) }));
      },
    });
  await progress;
  // Taken over by another instance: that one owns the message now; write nothing.
  if (signal.reason === "lease_lost") signal.throwIfAborted();
  const status = signal.aborted ? "cancelled" : outcome.ok ? "succeeded" : "errored";
  const done = await updateAgentAction(deps, {
    actionId: action.sId as string,
    status,
    output: outcome.content,
  });
  signal.throwIfAborted();
  if (outcome.ok) await events.message("agent_action_success", { action: done });
  else {
    await events.message("tool_error", {
      error: { code: "tool_error", message: outputText(outcome.content), metadata: null },
    });
  }
  return outputText(outcome.content);
}
