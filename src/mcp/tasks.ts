/**
 * An agent's answer as an MCP task: `create_conversation` / `create_conversation_message` with
 * an agent mention, when the client asks for a task, return at once with a task the client
 * polls; its status follows the agent message, its progress the agent's steps, its result is
 * the tool's payload plus `answer`, and cancelling it cancels the message.
 *
 * Two revisions have tasks, with different wires:
 * - 2025-11-25 (core, experimental): the client sends `params.task`; the server declares
 *   `capabilities.tasks` and answers `{task}`; `tasks/get`, `tasks/result` (waits for the end,
 *   sends progress when the request carries a progress token) and `tasks/cancel`.
 * - 2026-07-28 with the `io.modelcontextprotocol/tasks` extension (SEP-2663): a request that
 *   declares the extension gets `{resultType:"task", taskId, …}` when an agent answers;
 *   `tasks/get` inlines the result, `tasks/cancel` acknowledges; without the extension the
 *   `tasks/*` methods answer MissingRequiredClientCapability.
 * Other revisions, and clients that do not ask, get the immediate result as before.
 *
 * State: none of our own. A task id names the posted message (`c.<sId>` after
 * create_conversation, `m.<sId>` after create_conversation_message); everything else is read
 * from the message rows on each request (core/agent_answers.ts), so tasks survive restarts and
 * work on every instance. Only the poster can follow a task.
 * @module
 */
import * as z from "zod";
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
import {
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
} from "@modelcontextprotocol/server";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { getPostedMessageState, type PostedMessageState } from "../core/agent_answers.ts";
import { BLOCKING_WAIT_MS, cancelMessageGeneration } from "../core/agent_messages.ts";
import { conversationUrl } from "../core/conversation_views.ts";
import { messageStream } from "../core/conversation_events.ts";
import { conversationUri } from "./resource_uris.ts";
import type { McpCaller, ToolDef } from "./tool_kit.ts";

export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";
export const TASK_POLL_INTERVAL_MS = 1000;
const RELATED_TASK = "io.modelcontextprotocol/related-task";

type Kind = "c" | "m";
const KIND_OF_TOOL: Record<string, Kind> = {
  create_conversation: "c",
  create_conversation_message: "m",
};

type Status = "working" | "completed" | "failed" | "cancelled";

/** What a task is, in either revision's words. */
interface TaskView {
  taskId: string;
  status: Status;
  statusMessage: string;
  createdAt: string;
  lastUpdatedAt: string;
  /** The tool result once the task is done (completed, or failed on 2025-11-25). */
  result: CallToolResult | null;
  /** The agent message to wait for and cancel, and its conversation. */
  agentMessageSId: string | null;
  conversationId: string;
}

function parseTaskId(taskId: string): { kind: Kind; messageId: string } | null {
  const m = /^([cm])\.([A-Za-z0-9_-]{1,128})$/.exec(taskId);
  return m ? { kind: m[1] as Kind, messageId: m[2] } : null;
}

function taskNotFound(taskId: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, `Task not found: ${taskId}`, {
    taskId,
  });
}

/** The tool payload a task's result carries (the immediate result's, plus `answer`). */
function payloadOf(deps: Deps, caller: McpCaller, kind: Kind, s: PostedMessageState) {
  const c = s.conversation;
  const a = s.answer;
  const base = {
    conversationId: c.sId,
    ...(kind === "c"
      ? { title: c.title, podId: s.pod?.sId ?? null, podName: s.pod?.name ?? null }
      : {}),
    conversationUrl: conversationUrl(deps, caller.actor.workspace.sId, c.sId),
    userMessageId: s.userMessageSId,
    agentMessageIds: a ? [a.messageSId] : [],
  };
  if (!a) return base;
  return {
    ...base,
    answer: {
      messageId: a.messageSId,
      agentName: a.agentName,
      status: a.status,
      content: a.content,
      error: a.error,
    },
  };
}

function statusMessageOf(s: PostedMessageState): string {
  const a = s.answer;
  if (!a) return "Posted; no agent was mentioned.";
  const who = `@${a.agentName}`;
  switch (a.status) {
    case "created":
      return a.lastAction
        ? `${who} is working: step ${a.steps}, ${a.lastAction.name} (${a.lastAction.status})`
        : `${who} is thinking`;
    case "succeeded":
      return `${who} answered`;
    case "failed":
      return `${who} failed: ${a.error?.message || "no error message"}`;
    default:
      return `The answer of ${who} was cancelled`;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The task of a posted message, for the caller, in the words of `era`. */
async function viewTask(
  deps: Deps,
  caller: McpCaller,
  taskId: string,
  era: "legacy" | "modern",
): Promise<TaskView> {
  const id = parseTaskId(taskId);
  if (!id) throw taskNotFound(taskId);
  let s: PostedMessageState;
  try {
    s = await getPostedMessageState(deps, caller.actor, { messageId: id.messageId });
  } catch (e) {
    if (e instanceof AppError) throw taskNotFound(taskId);
    throw e;
  }
  const a = s.answer;
  const failed = a?.status === "failed";
  const status: Status = !a || a.status === "succeeded"
    ? "completed"
    : a.status === "created"
    ? "working"
    : a.status === "cancelled"
    ? "cancelled"
    : era === "legacy"
    ? "failed"
    : "completed"; // SEP-2663: a tool that ran and failed is completed with isError
  const updated = Math.max(
    s.postedAt,
    a?.createdAt ?? 0,
    a?.completedAt ?? 0,
    a?.lastAction?.updatedAt ?? 0,
  );
  const payload = payloadOf(deps, caller, id.kind, s);
  const text = JSON.stringify(payload);
  const link = {
    type: "resource_link" as const,
    uri: conversationUri(caller.actor.workspace.sId, s.conversation.sId),
    name: s.conversation.sId,
    ...(s.conversation.title ? { title: s.conversation.title } : {}),
    mimeType: "text/plain",
  };
  const done = status === "completed" || status === "failed";
  return {
    taskId,
    status,
    statusMessage: statusMessageOf(s),
    createdAt: iso(s.postedAt),
    lastUpdatedAt: iso(updated),
    result: done
      ? {
        content: [{ type: "text", text }, link],
        structuredContent: payload,
        ...(failed ? { isError: true } : {}),
      }
      : null,
    agentMessageSId: a?.messageSId ?? null,
    conversationId: s.conversation.sId,
  };
}

// ---------------------------------------------------------------------------------------------
// Creating tasks (tools/call)

/** Whether a `tools/call` asked for a task (2025-11-25 `params.task`, or the 2026 extension). */
export function taskRequested(ctx: ServerContext, params: Record<string, unknown>): boolean {
  if (isPlainObject(params.task)) return true;
  return hasTasksExtension(ctx);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function hasTasksExtension(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const caps = envelope?.["io.modelcontextprotocol/clientCapabilities"] as
    | { extensions?: Record<string, unknown> }
    | undefined;
  return isPlainObject(caps?.extensions) && caps.extensions[TASKS_EXTENSION] !== undefined;
}

/**
 * The task result for a finished task tool call, or null to answer it immediately: on
 * 2026-07-28 only a post an agent answers becomes a task (the server decides); on 2025-11-25
 * a client that asked gets a task in every case (its SDK requires one), already completed
 * when no agent was mentioned.
 */
export async function asTaskResult(
  deps: Deps,
  caller: McpCaller,
  era: "legacy" | "modern",
  def: ToolDef,
  raw: unknown,
): Promise<Record<string, unknown> | null> {
  const kind = KIND_OF_TOOL[def.name];
  const r = raw as { userMessageId?: string | null; agentMessageIds?: string[] } | undefined;
  if (!kind || !r?.userMessageId) return null;
  if (era === "modern" && (r.agentMessageIds ?? []).length === 0) return null;
  const v = await viewTask(deps, caller, `${kind}.${r.userMessageId}`, era);
  if (era === "modern") return { resultType: "task", ...modernTask(v) };
  return {
    task: legacyTask(v),
    // A client that does not read tasks still learns what happened.
    content: [{
      type: "text",
      text: `Task ${v.taskId}: ${v.statusMessage}. Poll tasks/get, then read tasks/result.`,
    }],
  };
}

function legacyTask(v: TaskView) {
  return {
    taskId: v.taskId,
    status: v.status,
    statusMessage: v.statusMessage,
    createdAt: v.createdAt,
    lastUpdatedAt: v.lastUpdatedAt,
    ttl: null,
    pollInterval: TASK_POLL_INTERVAL_MS,
  };
}

function modernTask(v: TaskView) {
  return {
    taskId: v.taskId,
    status: v.status,
    statusMessage: v.statusMessage,
    createdAt: v.createdAt,
    lastUpdatedAt: v.lastUpdatedAt,
    ttlMs: null,
    pollIntervalMs: TASK_POLL_INTERVAL_MS,
  };
}

// ---------------------------------------------------------------------------------------------
// tasks/* handlers

async function cancel(deps: Deps, caller: McpCaller, v: TaskView): Promise<void> {
  if (caller.endpoint.readOnly) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidRequest,
      "This endpoint is read-only: cancel the task through an endpoint that writes",
    );
  }
  if (v.status !== "working" || v.agentMessageSId === null) return;
  try {
    await cancelMessageGeneration(deps, caller.actor, {
      conversationId: v.conversationId,
      messageIds: [v.agentMessageSId],
    });
  } catch (e) {
    if (e instanceof AppError) throw new ProtocolError(ProtocolErrorCode.InvalidParams, e.message);
    throw e;
  }
}

/**
 * Wait until the task ends, the request is cancelled, or {@link BLOCKING_WAIT_MS} passed:
 * wakes on each event of the agent message (and re-reads every second), reporting progress.
 */
async function waitForEnd(
  deps: Deps,
  read: () => Promise<TaskView>,
  signal: AbortSignal,
  onProgress: (v: TaskView) => Promise<void>,
): Promise<TaskView> {
  let v = await read();
  if (v.status !== "working" || v.agentMessageSId === null) return v;
  await onProgress(v); // where it stands now, then each change
  const deadline = Date.now() + BLOCKING_WAIT_MS;
  let wake = () => {};
  const unsubscribe = deps.events.subscribe(messageStream(v.agentMessageSId), () => wake());
  const stop = () => wake();
  signal.addEventListener("abort", stop);
  deps.shutdown.addEventListener("abort", stop);
  try {
    let last = v.statusMessage;
    while (v.status === "working" && !signal.aborted && !deps.shutdown.aborted) {
      if (Date.now() >= deadline) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now())));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      v = await read();
      if (v.statusMessage !== last) {
        last = v.statusMessage;
        await onProgress(v);
      }
    }
    return v;
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", stop);
    deps.shutdown.removeEventListener("abort", stop);
  }
}

export const TaskIdParams = z.looseObject({ taskId: z.string().max(256) });

/** The handlers a 2025-era instance serves (`capabilities.tasks`). */
export function legacyTaskHandlers(deps: Deps) {
  const read = async (caller: McpCaller, taskId: string) =>
    await viewTask(deps, caller, taskId, "legacy");
  return {
    get: async (caller: McpCaller, taskId: string) => legacyTask(await read(caller, taskId)),
    async result(caller: McpCaller, taskId: string, ctx: ServerContext) {
      const token = (ctx.mcpReq._meta as { progressToken?: string | number } | undefined)
        ?.progressToken;
      const v = await waitForEnd(
        deps,
        async () => await read(caller, taskId),
        ctx.mcpReq.signal,
        async (p) => {
          if (token === undefined) return;
          const steps = /step (\d+)/.exec(p.statusMessage)?.[1];
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: {
              progressToken: token,
              progress: Number(steps ?? 0),
              message: p.statusMessage,
            },
          }).catch(() => {});
        },
      );
      if (!v.result) {
        throw new ProtocolError(
          ProtocolErrorCode.InvalidRequest,
          v.status === "cancelled"
            ? `Task ${taskId} was cancelled`
            : `Task ${taskId} is still running; call tasks/result again`,
        );
      }
      return { ...v.result, _meta: { [RELATED_TASK]: { taskId } } };
    },
    async cancel(caller: McpCaller, taskId: string) {
      const v = await read(caller, taskId);
      if (v.status !== "working" && !caller.endpoint.readOnly) {
        throw new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          `Cannot cancel task: already in terminal status '${v.status}'`,
        );
      }
      await cancel(deps, caller, v);
      return legacyTask(await read(caller, taskId));
    },
  };
}

/** The 2026-07-28 extension's handlers; each refuses a request that did not declare it. */
export function modernTaskHandlers(deps: Deps) {
  const gate = (ctx: ServerContext) => {
    if (!hasTasksExtension(ctx)) {
      throw new MissingRequiredClientCapabilityError({
        requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
      });
    }
  };
  const read = async (caller: McpCaller, taskId: string) =>
    await viewTask(deps, caller, taskId, "modern");
  return {
    async get(caller: McpCaller, taskId: string, ctx: ServerContext) {
      gate(ctx);
      const v = await read(caller, taskId);
      return { ...modernTask(v), ...(v.result ? { result: v.result } : {}) };
    },
    async cancel(caller: McpCaller, taskId: string, ctx: ServerContext) {
      gate(ctx);
      await cancel(deps, caller, await read(caller, taskId));
      return {};
    },
    async update(caller: McpCaller, taskId: string, ctx: ServerContext) {
      gate(ctx);
      await read(caller, taskId);
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Task ${taskId} is not waiting for input`,
      );
    },
  };
}
