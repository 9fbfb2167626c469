/**
 * The MCP server instances behind `/mcp`: identity (dust.md §1.2), the `instructions` text,
 * the capabilities each protocol era can honour, the request handlers (tools, resources,
 * prompts, completion, logging, tasks) and a pool so that instances are built once instead of
 * once per request.
 *
 * The handlers are registered on the low-level `Server` rather than through `McpServer`'s
 * registries: what a request may see depends on the caller (agents, Pods and documents are
 * per user) and on the endpoint its URL named (toolsets, read-only), and neither may live on a
 * shared instance. `McpServer` stays the wrapper because the HTTP entry asks it for scope
 * challenges, which {@link scopeChallengeFor} answers per request.
 *
 * Why a pool: `createMcpHandler` needs an unconnected instance per HTTP exchange and closes
 * it afterwards; building one costs more than most calls (perf.md). A closed instance can be
 * connected again, so instances are checked out exclusively and returned when the SDK closes
 * them. Pools are per protocol era because an instance is bound to the era it first served.
 * Per-request data (the caller) never lives on an instance: it travels in `authInfo.extra`
 * and reaches each handler through its context.
 * @module
 */
import { McpServer } from "@modelcontextprotocol/server";
import type {
  CallToolResult,
  LoggingLevel,
  McpRequestContext,
  ScopeChallenge,
  ScopeChallengeHandler,
  ServerCapabilities,
  ServerContext,
} from "@modelcontextprotocol/server";
import { VERSION } from "../version.ts";
import {
  callerOf,
  callTool,
  describeTool,
  type McpCaller,
  type ToolDef,
  type ToolRuntime,
  toolsFor,
  writeScopeRefusal,
} from "./tool_kit.ts";
import { BASELINE_SCOPE } from "./auth.ts";
import { ICON_PATHS } from "./icon.ts";
import { ALL_TOOLS } from "./tool_list.ts";
import { listResources, listResourceTemplates, readResource } from "./resources.ts";
import { getPrompt, listPrompts } from "./prompts.ts";
import { complete } from "./completion.ts";
import { LogLevels, logToClient, requestedLevel } from "./logging.ts";
import {
  asTaskResult,
  legacyTaskHandlers,
  modernTaskHandlers,
  TaskIdParams,
  taskRequested,
  TASKS_EXTENSION,
} from "./tasks.ts";

export const MCP_INSTRUCTIONS =
  `This server exposes a Dust workspace. Every call runs as the authenticated user, in the one workspace the token was issued for, and sees only what that user may see.

Vocabulary:
- Workspace: the Dust organisation the user signed into (see the \`identity\` tool).
- Agent: an assistant of the workspace (\`list_agents\`); mention one by name when posting a message.
- Conversation: a chat thread between people and agents. It lives at workspace level or inside a Pod. Posting a message that mentions an agent starts the agent; poll \`get_conversation_messages\` for its answer.
- Pod: a project space with shared context: a description, tasks, linked company data, conversations and files (\`list_pods\`, \`get_pod\`, \`get_pod_tasks\`).
- File system: each conversation and each Pod has its own files. File tools take a scope, either {"type":"conversation","conversation_id":"…"} or {"type":"pod","pod_id":"…"}, and paths are scoped: "conversation-<id>/…" or "pod-<id>/…".
- Search: full-text search over the company data in the spaces the user can read (\`search\`), then \`fetch\` one result by its id.
- Local MCP servers: tools on the user's own machine, registered with Dust's client-side MCP relay (e.g. the SDK's DustMcpServerTransport). Pass their server ids in \`clientSideMCPServerIds\` to \`create_conversation\` or \`create_conversation_message\` and the mentioned agent can call their tools; ids the user does not own are refused.

Lists return at most 25 items with \`hasMore\` and \`lastValue\`; pass \`lastValue\` back to get the next page.`;

/** What every handler shares: the tool runtime, the tools by name, legacy log levels. */
export interface McpRuntime extends ToolRuntime {
  tools: ReadonlyMap<string, ToolDef>;
  logLevels: LogLevels;
}

export type Era = McpRequestContext["era"];

/**
 * What each era can honour. Nothing changes the tool list of an endpoint, so no list is
 * announced as changing. See the README ("MCP features per revision") for the whole table.
 */
export function capabilitiesFor(era: Era): ServerCapabilities {
  return {
    ...(era === "legacy"
      ? { tasks: { cancel: {}, requests: { tools: { call: {} } } } }
      : { extensions: { [TASKS_EXTENSION]: {} } }),
    tools: { listChanged: false },
    // Updates need a stream: 2026-07-28 has subscriptions/listen, stateless 2025 has none.
    resources: { subscribe: era === "modern", listChanged: false },
    prompts: { listChanged: false },
    completions: {},
    logging: {},
  };
}

/** The caller of a handler's request (the route always sets it). */
export function requireCaller(ctx: { http?: { authInfo?: { extra?: Record<string, unknown> } } }) {
  const caller = callerOf(ctx.http?.authInfo?.extra);
  if (!caller) throw new Error("no authenticated caller");
  return caller;
}

function registerToolHandlers(server: McpServer, rt: McpRuntime, era: Era): void {
  const s = server.server;
  s.setRequestHandler("tools/list", (_req, ctx) => ({
    tools: toolsFor(ALL_TOOLS, requireCaller(ctx).endpoint).map(describeTool),
  }));
  s.setRequestHandler("tools/call", async (req, ctx) => {
    const p = req.params;
    const caller = requireCaller(ctx);
    const threshold = requestedLevel(ctx, caller, rt.logLevels);
    const started = performance.now();
    const log = (level: LoggingLevel, outcome: string, error?: string) =>
      logToClient(ctx, threshold, level, {
        tool: p.name,
        outcome,
        latencyMs: Math.round(performance.now() - started),
        ...(error === undefined ? {} : { error }),
      });
    try {
      const asTask = taskRequested(ctx, p)
        ? async (def: ToolDef, raw: unknown) =>
          def.task
            ? await asTaskResult(rt.deps, caller, era, def, raw) as CallToolResult | null
            : null
        : undefined;
      const call = { name: p.name, arguments: p.arguments };
      const exchange = {
        canElicit: era === "modern" && clientCanElicit(ctx),
        inputResponses: ctx.mcpReq.inputResponses,
      };
      const result = await callTool(rt, rt.tools, call, caller, asTask, exchange);
      const first = result.content?.[0];
      const text = first?.type === "text" ? first.text : "";
      await (result.isError ? log("warning", "error", text) : log("debug", "success"));
      return result;
    } catch (e) {
      await log("error", "error", e instanceof Error ? e.message : String(e));
      throw e;
    }
  });
}

/**
 * Whether a 2026-07-28 request declares the elicitation capability (per request, in its
 * `_meta` envelope): only then may a tool answer `input_required` with an elicitation. The
 * 2025 revisions need a server-to-client request on a session, which this stateless server
 * cannot route back; there, tools say in their result where to act instead.
 */
function clientCanElicit(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const caps = envelope?.["io.modelcontextprotocol/clientCapabilities"] as
    | { elicitation?: unknown }
    | undefined;
  return typeof caps?.elicitation === "object" && caps.elicitation !== null;
}

/** `tasks/*`: the 2025-11-25 core methods, or the 2026-07-28 extension's (tasks.ts). */
function registerTaskHandlers(server: McpServer, rt: McpRuntime, era: Era): void {
  const s = server.server;
  if (era === "legacy") {
    const h = legacyTaskHandlers(rt.deps);
    const params = { params: TaskIdParams };
    s.setRequestHandler("tasks/get", params, (p, ctx) => h.get(requireCaller(ctx), p.taskId));
    s.setRequestHandler(
      "tasks/result",
      params,
      (p, ctx) => h.result(requireCaller(ctx), p.taskId, ctx),
    );
    s.setRequestHandler(
      "tasks/cancel",
      params,
      async (p, ctx) => await h.cancel(requireCaller(ctx), p.taskId),
    );
    return;
  }
  const h = modernTaskHandlers(rt.deps);
  const params = { params: TaskIdParams };
  s.setRequestHandler(
    "tasks/get",
    params,
    async (p, ctx) => await h.get(requireCaller(ctx), p.taskId, ctx),
  );
  s.setRequestHandler(
    "tasks/cancel",
    params,
    async (p, ctx) => await h.cancel(requireCaller(ctx), p.taskId, ctx),
  );
  s.setRequestHandler(
    "tasks/update",
    params,
    async (p, ctx) => await h.update(requireCaller(ctx), p.taskId, ctx),
  );
}

/** `logging/setLevel` (2025 revisions): kept per credential and client, not per instance. */
function registerLoggingHandler(server: McpServer, rt: McpRuntime): void {
  const s = server.server;
  s.removeRequestHandler("logging/setLevel");
  s.setRequestHandler("logging/setLevel", (req, ctx) => {
    rt.logLevels.set(requireCaller(ctx), req.params.level);
    return {};
  });
}

function registerResourceHandlers(server: McpServer, rt: McpRuntime): void {
  const s = server.server;
  s.setRequestHandler(
    "resources/list",
    async (req, ctx) => await listResources(rt, requireCaller(ctx), req.params?.cursor),
  );
  s.setRequestHandler(
    "resources/templates/list",
    (_req, ctx) => listResourceTemplates(requireCaller(ctx).endpoint),
  );
  s.setRequestHandler(
    "resources/read",
    (req, ctx) => readResource(rt, requireCaller(ctx), req.params.uri),
  );
}

function registerPromptHandlers(server: McpServer, rt: McpRuntime): void {
  const s = server.server;
  s.setRequestHandler(
    "prompts/list",
    async (req, ctx) => await listPrompts(rt, requireCaller(ctx), req.params?.cursor),
  );
  s.setRequestHandler(
    "prompts/get",
    (req, ctx) => getPrompt(rt, requireCaller(ctx), req.params.name, req.params.arguments),
  );
  s.setRequestHandler(
    "completion/complete",
    async (req, ctx) => await complete(rt.deps, requireCaller(ctx), req.params),
  );
}

/**
 * The HTTP 403 `insufficient_scope` challenge a request needs before it is dispatched (A9):
 * a write tool called with a read-only token.
 */
export function scopeChallengeFor(rt: McpRuntime): ScopeChallengeHandler {
  return async ({ request, authInfo }): Promise<ScopeChallenge | undefined> => {
    const caller: McpCaller | undefined = callerOf(authInfo?.extra);
    if (!caller || request.method !== "tools/call") return undefined;
    const name = (request.params as { name?: unknown } | undefined)?.name;
    const def = typeof name === "string" ? rt.tools.get(name) : undefined;
    const refusal = await writeScopeRefusal(rt, def, caller);
    if (refusal === null) return undefined;
    return {
      scopes: BASELINE_SCOPE.split(" ") as [string, ...string[]],
      errorDescription: refusal,
    };
  };
}

/** Build one fully registered server instance for `era`. */
export function buildMcpServer(rt: McpRuntime, era: Era): McpServer {
  const base = rt.deps.config.publicUrl;
  const server = new McpServer({
    name: "Dust",
    title: "Dust",
    version: VERSION,
    description: "Your Dust workspace: agents, conversations, Pods, files and company search.",
    websiteUrl: base,
    icons: [
      { src: `${base}${ICON_PATHS.svg}`, mimeType: "image/svg+xml", sizes: ["any"] },
      { src: `${base}${ICON_PATHS.png}`, mimeType: "image/png", sizes: ["48x48"] },
    ],
  }, { instructions: MCP_INSTRUCTIONS });
  server.server.registerCapabilities(capabilitiesFor(era));
  registerToolHandlers(server, rt, era);
  registerTaskHandlers(server, rt, era);
  if (era === "legacy") registerLoggingHandler(server, rt);
  registerResourceHandlers(server, rt);
  registerPromptHandlers(server, rt);
  server.resolveScopeChallenge = scopeChallengeFor(rt);
  return server;
}

export interface ServerPool {
  factory: (ctx: McpRequestContext) => McpServer;
  stats(): { created: number; idle: number };
}

/** A bounded pool of instances per era; bursts build extra instances that are then dropped. */
export function createServerPool(rt: McpRuntime, maxIdle = 64): ServerPool {
  const idle: Record<Era, McpServer[]> = { modern: [], legacy: [] };
  let created = 0;
  const factory = (ctx: McpRequestContext): McpServer => {
    const pool = idle[ctx.era];
    let inst = pool.pop();
    if (!inst) {
      inst = buildMcpServer(rt, ctx.era);
      created++;
    }
    const checkedOut = inst;
    let released = false;
    checkedOut.server.onclose = () => {
      if (released) return;
      released = true;
      // Defer so the SDK finishes its own close bookkeeping before the instance is reused.
      queueMicrotask(() => {
        if (checkedOut.server.transport === undefined && pool.length < maxIdle) {
          pool.push(checkedOut);
        }
      });
    };
    return checkedOut;
  };
  return { factory, stats: () => ({ created, idle: idle.modern.length + idle.legacy.length }) };
}
