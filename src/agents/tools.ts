/**
 * The tools an agent run offers the model: workspace search and the conversation's / Pod's
 * files (the core functions the hosted MCP tools use, as the posting user), and the user's
 * client-side MCP servers named in the message context (`clientSideMCPServerIds`), listed
 * live through the relay and exposed as `<slug(server)>__<slug(tool)>` (dust.md §3.8).
 * A client-side server that is gone or silent makes its tools unavailable with Dust's note;
 * it never fails the run. A failing tool call becomes the tool's result text.
 * @module
 */
import type { Client } from "@modelcontextprotocol/sdk/client";
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import type { ToolDefinition } from "./provider.ts";
import { searchWorkspace } from "../core/search.ts";
import { filesCat, filesCreate, filesGrep, filesList } from "../core/file_system.ts";
import type { FileScope } from "../core/file_types.ts";
import { findInternalTool } from "../core/mcp_server_views.ts";
import { findRegistrationForRun, slugify } from "../core/relay_registry.ts";
import { connectRelayClient } from "../relay/transport.ts";
import {
  clientSideServerKey,
  DECLARED_STAKE_KEY,
  type Stake,
  type ToolIdentity,
} from "../core/tool_stakes.ts";
import { withoutNulDeep } from "../util/nul.ts";

/** MCP content blocks, as stored in an action's `output`. */
export type McpContent = { type: string; text?: string } & Record<string, unknown>;

export interface ToolOutcome {
  ok: boolean;
  content: McpContent[];
}

/** Where the run happens: who, which conversation, which client-side servers. */
export interface ToolRunContext {
  actor: Actor;
  /** The agent's internal tools (`search`, `files`). */
  agentTools: readonly string[];
  /** Space sIds the agent's `search` is limited to (empty: every space the asker reads). */
  agentSpaceIds?: readonly string[];
  conversationSId: string;
  /** sId of the conversation's Pod, when it lives in one. */
  podSId: string | null;
  agentMessageSId: string;
  clientSideServerIds: readonly string[];
}

interface ToolEntry {
  definition: ToolDefinition;
  /** `mcpServerId` of the action (the client-side serverId, or the internal server name). */
  serverId: string;
  /** Who the tool is, for approvals (stake, "always allow" key, names shown to the user). */
  identity: ToolIdentity;
  run(args: Record<string, unknown>, opts: CallOptions): Promise<ToolOutcome>;
}

export interface CallOptions {
  signal: AbortSignal;
  onProgress?: (p: { progress: number; total?: number; message?: string }) => void;
}

export interface AgentToolset {
  definitions: ToolDefinition[];
  /** System notes for the model (unavailable servers). */
  notes: string[];
  /** The server an exposed tool belongs to, or null for an unknown name. */
  serverOf(name: string): string | null;
  /** The tool's identity and stake, or null for an unknown name (never asks). */
  identityOf(name: string): ToolIdentity | null;
  call(name: string, args: Record<string, unknown>, opts: CallOptions): Promise<ToolOutcome>;
}

/**
 * A client-side tool's stake. A stake the tool declares in `_meta["dust-mcp/stake"]`
 * (`never_ask`, `low`, `high`; `medium` counts as `high`) is the user's own choice for their
 * own local tool (`dust-mcp bridge --ask`, src/bridge/stakes.ts) and wins. Otherwise Dust's
 * default for local tools, `low` (asks, and the user may "always allow" it), or `high` (asks
 * every time) for a tool that declares itself destructive (`destructiveHint`).
 */
export function clientSideStake(
  t: {
    annotations?: { destructiveHint?: unknown; readOnlyHint?: unknown };
    _meta?: Record<string, unknown>;
  },
): Stake {
  const declared = t._meta?.[DECLARED_STAKE_KEY];
  if (declared === "never_ask" || declared === "low" || declared === "high") return declared;
  if (declared === "medium") return "high";
  return t.annotations?.destructiveHint === true ? "high" : "low";
}

/** Dust's maximum tool-name length for the model. */
export const MAX_TOOL_NAME = 64;
const TOOL_NAME = /^[a-zA-Z0-9_.-]+$/;

const text = (t: string): McpContent[] => [{ type: "text", text: t }];
const json = (v: unknown): McpContent[] => text(JSON.stringify(v));

/** `<server>__<tool>`, truncating the server prefix first to fit 64 characters. */
export function exposedToolName(serverName: string, toolName: string): string {
  const tool = slugify(toolName).slice(0, MAX_TOOL_NAME - 3) || "tool";
  const room = MAX_TOOL_NAME - 2 - tool.length;
  const server = (slugify(serverName) || "server").slice(0, room);
  return `${server}__${tool}`;
}

/** The note the model gets when a client-side server's tools cannot be listed. */
export function unavailableServerNote(name: string): string {
  return `An error occurred while listing the available tools for ${name}. Tools from this ` +
    "server are not available for this message. Inform the user of this issue.";
}

/** Build the run's toolset (lists client-side tools live; bounded by the 5 s connect). */
export async function prepareAgentTools(
  deps: Deps,
  ctx: ToolRunContext,
  signal: AbortSignal,
): Promise<AgentToolset> {
  const entries = new Map<string, ToolEntry>();
  for (const e of internalTools(deps, ctx)) entries.set(e.definition.name, e);
  const notes: string[] = [];
  const listed = await Promise.all(
    [...new Set(ctx.clientSideServerIds)].map((id) => listClientSideTools(deps, ctx, id, signal)),
  );
  for (const l of listed) {
    if ("note" in l) notes.push(l.note);
    else {for (const e of l.entries) {
        if (!entries.has(e.definition.name)) entries.set(e.definition.name, e);
      }}
  }
  return {
    definitions: [...entries.values()].map((e) => e.definition),
    notes,
    serverOf: (name) => entries.get(name)?.serverId ?? null,
    identityOf: (name) => entries.get(name)?.identity ?? null,
    call: async (name, args, opts) => {
      const entry = entries.get(name);
      if (!entry) return { ok: false, content: text(`Unknown tool: ${name}.`) };
      try {
        const outcome = await entry.run(args, opts);
        return { ...outcome, content: withoutNulDeep(outcome.content) };
      } catch (e) {
        return { ok: false, content: withoutNulDeep(text(describeToolFailure(e, opts.signal))) };
      }
    },
  };
}

function describeToolFailure(e: unknown, signal: AbortSignal): string {
  if (signal.aborted) return "Tool execution cancelled";
  if (e instanceof AppError) return e.message;
  return `The tool failed: ${e instanceof Error ? e.message : String(e)}`;
}

function str(v: unknown, name: string): string {
  if (typeof v !== "string") throw new AppError(400, "invalid_request_error", `${name}: required`);
  return v;
}

function optNum(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The file scope a call names (`conversation` default, `pod` when the conversation has one). */
function scopeFor(ctx: ToolRunContext, which: unknown): FileScope {
  if (which === "pod") {
    if (!ctx.podSId) {
      throw new AppError(400, "invalid_request_error", "This conversation is not in a Pod.");
    }
    return { type: "pod", pod_id: ctx.podSId };
  }
  return { type: "conversation", conversation_id: ctx.conversationSId };
}

function internalTools(deps: Deps, ctx: ToolRunContext): ToolEntry[] {
  const out: ToolEntry[] = [];
  if (ctx.agentTools.includes("search")) {
    out.push(entry("search", "search", async (a) =>
      json(
        await searchWorkspace(deps, ctx.actor, {
          query: str(a.query, "query"),
          spaceIds: ctx.agentSpaceIds?.length ? [...ctx.agentSpaceIds] : undefined,
          relativeTimeFrame: typeof a.relativeTimeFrame === "string"
            ? a.relativeTimeFrame
            : undefined,
        }),
      )));
  }
  if (ctx.agentTools.includes("files")) out.push(...fileTools(deps, ctx));
  return out;
}

/** A tool of an internal server: its catalog definition + how to run it. */
function entry(
  serverId: string,
  name: string,
  run: (args: Record<string, unknown>) => Promise<McpContent[]>,
): ToolEntry {
  const t = findInternalTool(name)!;
  return {
    serverId,
    identity: {
      serverKey: serverId,
      serverName: serverId,
      toolName: t.name,
      stake: t.stake,
    },
    definition: { name: t.name, description: t.description, parameters: t.inputSchema },
    run: async (args) => ({ ok: true, content: await run(args) }),
  };
}

/** A path as the model may give it: relative paths are taken inside the call's scope. */
function scopedPath(scope: FileScope, raw: unknown): string {
  const path = str(raw, "path");
  if (path.startsWith("conversation-") || path.startsWith("pod-")) return path;
  const prefix = scope.type === "conversation"
    ? `conversation-${scope.conversation_id}/`
    : `pod-${scope.pod_id}/`;
  return prefix + path.replace(/^\/+/, "");
}

function fileTools(deps: Deps, ctx: ToolRunContext): ToolEntry[] {
  const scope = (a: Record<string, unknown>) => scopeFor(ctx, a.scope);
  const path = (a: Record<string, unknown>) => scopedPath(scope(a), a.path);
  return [
    entry(
      "files",
      "files_list",
      async (a) =>
        Promise.resolve(text((await filesList(deps, ctx.actor, { scope: scope(a) })).text)),
    ),
    entry("files", "files_cat", async (a) =>
      text(
        (await filesCat(deps, ctx.actor, {
          scope: scope(a),
          path: path(a),
          offset: optNum(a.offset),
          limit: optNum(a.limit),
        })).text,
      )),
    entry("files", "files_create", async (a) =>
      json(
        await filesCreate(deps, ctx.actor, {
          scope: scope(a),
          path: path(a),
          content: str(a.content, "content"),
          content_type: typeof a.content_type === "string" ? a.content_type : "text/plain",
        }),
      )),
    entry("files", "files_grep", async (a) =>
      text(
        (await filesGrep(deps, ctx.actor, {
          scope: scope(a),
          path: path(a),
          pattern: str(a.pattern, "pattern"),
        })).text,
      )),
  ];
}

/** List one client-side server's tools through the relay, or the note that it is unavailable. */
async function listClientSideTools(
  deps: Deps,
  ctx: ToolRunContext,
  serverId: string,
  signal: AbortSignal,
): Promise<{ entries: ToolEntry[] } | { note: string }> {
  const userId = ctx.actor.kind === "user" ? ctx.actor.user.id : null;
  const reg = userId === null ? null : await findRegistrationForRun(deps, {
    workspaceId: ctx.actor.workspace.id,
    userId,
    serverId,
  });
  const name = reg?.serverName ?? `MCP Server ${serverId}`;
  if (!reg || reg.expiresAt <= Date.now()) return { note: unavailableServerNote(name) };
  const target = {
    serverId,
    conversationId: ctx.conversationSId,
    messageId: ctx.agentMessageSId,
  };
  let client: Client | null = null;
  try {
    client = await connectRelayClient(deps, target, signal);
    const tools = await listAllTools(client, signal);
    return {
      entries: tools.filter((t) => TOOL_NAME.test(t.name)).map((t) => ({
        serverId,
        identity: {
          serverKey: clientSideServerKey(serverId),
          serverName: reg.serverName,
          toolName: t.name,
          stake: clientSideStake(t),
        },
        definition: {
          name: exposedToolName(reg.serverName, t.name),
          description: t.description ?? "",
          parameters: (t.inputSchema ?? { type: "object" }) as Record<string, unknown>,
        },
        run: (args, opts) => callClientSideTool(deps, target, t.name, args, opts),
      })),
    };
  } catch (e) {
    deps.log.info("client-side MCP server unavailable", { serverId, error: String(e) });
    return { note: unavailableServerNote(name) };
  } finally {
    await client?.close().catch(() => {});
  }
}

type ListedTool = {
  name: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: { destructiveHint?: boolean };
  _meta?: Record<string, unknown>;
};

/** `tools/list` with pagination, bounded to 20 pages. */
async function listAllTools(client: Client, signal: AbortSignal): Promise<ListedTool[]> {
  const out: ListedTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await client.listTools(cursor ? { cursor } : {}, { signal, timeout: 30_000 });
    out.push(...res.tools);
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return out;
}

/** One `tools/call` on a client-side server: connect (5 s), call (3 min), close. */
async function callClientSideTool(
  deps: Deps,
  target: { serverId: string; conversationId: string; messageId: string },
  toolName: string,
  args: Record<string, unknown>,
  opts: CallOptions,
): Promise<ToolOutcome> {
  const client = await connectRelayClient(deps, target, opts.signal);
  try {
    const res = await client.callTool({ name: toolName, arguments: args }, undefined, {
      signal: opts.signal,
      timeout: deps.relay.timings.callTimeoutMs,
      onprogress: opts.onProgress,
    });
    const content = (Array.isArray(res.content) ? res.content : []) as McpContent[];
    if (content.length >= 128) {
      return {
        ok: false,
        content: text("The tool returned too many content items (128 or more)."),
      };
    }
    return { ok: res.isError !== true, content };
  } finally {
    await client.close().catch(() => {});
  }
}
