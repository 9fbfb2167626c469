/**
 * How every `/mcp` tool is declared and run. A tool is data ({@link ToolDef}): its Dust name,
 * a zod input schema with Dust's argument names, a zod output schema, whether it writes, and
 * `run`, which calls ONE core function. {@link callTool} wraps `run` with what every call
 * needs: the caller from the request's auth info, the endpoint's tool selection, the
 * per-user/per-client budget, argument validation, the result convention (JSON text content
 * plus `structuredContent` matching `output`, `resource_link` items for the documents, files
 * and conversations a result names, `isError` for business failures, a generic "internal
 * error" for anything unexpected) and the audit entry — for every call, refused ones included.
 * @module
 */
import type { CallToolResult, Tool } from "@modelcontextprotocol/server";
import { isInputRequiredResult, loadMcpSdk } from "./sdk.ts";
import { ZodError } from "zod";
import type * as z from "zod";
import type { Deps } from "../deps.ts";
import type { UserActor } from "../auth/actor.ts";
import { hasScope } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { type AuditEntryInput, type AuditOutcome, recordToolCall } from "../core/audit.ts";
import { consumeToolCallBudget, type RateBudgets, type RateLimiter } from "../core/rate_limits.ts";
import { describeZodError } from "../app.ts";
import { type Endpoint, servesTool, type Toolset } from "./endpoint.ts";

/** The authenticated caller of one `/mcp` request, carried in `authInfo.extra.caller`. */
export interface McpCaller {
  actor: UserActor;
  clientId: string;
  requestId: string;
  /** The toolsets / read-only form the request's URL selected. */
  endpoint: Endpoint;
}

/** What the MCP exchange of a call allows (absent on the fast path: a plain 2025 call). */
export interface McpExchange {
  /** The client can be asked for input in this call (2026-07-28 `input_required` results). */
  canElicit: boolean;
  /** Answers to the input requests of a previous round, keyed as the tool asked. */
  inputResponses?: Record<string, unknown>;
}

/** What a tool's `run` receives besides its arguments. */
export interface ToolContext {
  deps: Deps;
  actor: UserActor;
  caller: McpCaller;
  exchange?: McpExchange;
}

/** A `resource_link` content item (a `dust://` resource a result names). */
export interface ResourceLink {
  type: "resource_link";
  uri: string;
  name: string;
  title?: string;
  mimeType?: string;
  description?: string;
}

// deno-lint-ignore no-explicit-any
type AnyObject = z.ZodObject<any>;

// deno-lint-ignore no-explicit-any
export interface ToolDef<S extends AnyObject = AnyObject, O = any> {
  name: string;
  title: string;
  description: string;
  /** The URL toolset the tool belongs to (`/mcp/x/<toolsets>`). */
  toolset: Toolset;
  input: S;
  /** The declared output schema: the payload is sent as `structuredContent` and as JSON text. */
  output: AnyObject;
  /** True for tools that change data: they need the `write` scope. */
  write: boolean;
  /** True when a call may run as a task (it posts a message an agent answers). */
  task?: boolean;
  run(ctx: ToolContext, args: z.infer<S>): O | Promise<O>;
  /**
   * The payload actually returned (default: what `run` returned), when `run` returns more than
   * the tool shows (e.g. the file list behind `files_list`'s text).
   */
  present?(result: O): unknown;
  /** `resource_link` items for what the result names. */
  links?(result: O, args: z.infer<S>, ctx: ToolContext): ResourceLink[];
}

/** Declare a tool with its argument types inferred from `input` and its result from `run`. */
// deno-lint-ignore no-explicit-any
export function defineTool<S extends AnyObject, O = any>(def: ToolDef<S, O>): ToolDef {
  return def as unknown as ToolDef;
}

/** What the kit needs from the route: shared limiter and budgets. */
export interface ToolRuntime {
  deps: Deps;
  limiter: RateLimiter;
  budgets: RateBudgets;
}

export function callerOf(extra: Record<string, unknown> | undefined): McpCaller | undefined {
  return extra?.caller as McpCaller | undefined;
}

/**
 * A zod object as the JSON Schema the SDK would advertise (draft 2020-12, `type: "object"` at
 * the root), cached per schema.
 */
const jsonSchemas = new WeakMap<object, Record<string, Record<string, unknown>>>();
export function jsonSchemaOf(schema: AnyObject, io: "input" | "output"): Record<string, unknown> {
  let cached = jsonSchemas.get(schema);
  if (!cached) jsonSchemas.set(schema, cached = {});
  if (!cached[io]) {
    const { $schema: _, ...json } = schema["~standard"].jsonSchema[io]({
      target: "draft-2020-12",
    }) as Record<string, unknown>;
    cached[io] = { type: "object", ...json };
  }
  return cached[io];
}

/** The `tools/list` entry of a tool. */
export function describeTool(def: ToolDef): Tool {
  return {
    name: def.name,
    title: def.title,
    description: def.description,
    inputSchema: jsonSchemaOf(def.input, "input") as Tool["inputSchema"],
    outputSchema: jsonSchemaOf(def.output, "output") as Tool["outputSchema"],
    annotations: {
      readOnlyHint: !def.write,
      destructiveHint: false,
      openWorldHint: false,
    },
    ...(def.task ? { execution: { taskSupport: "optional" as const } } : {}),
  };
}

/** The tools an endpoint serves, in registration order. */
export function toolsFor(tools: readonly ToolDef[], endpoint: Endpoint): ToolDef[] {
  return tools.filter((d) => servesTool(endpoint, d));
}

function textResult(text: string, isError: boolean): CallToolResult {
  const r: CallToolResult = { content: [{ type: "text", text }] };
  if (isError) r.isError = true;
  return r;
}

/** Turn a thrown value into the tool's error text and audit outcome. */
function describeFailure(
  rt: ToolRuntime,
  e: unknown,
  tool: string,
  requestId: string,
): { text: string; outcome: AuditOutcome } {
  if (e instanceof AppError) {
    const outcome: AuditOutcome = e.status === 429
      ? "rate_limited"
      : e.status === 403
      ? "denied"
      : "error";
    return { text: e.message, outcome };
  }
  if (e instanceof ZodError) return { text: describeZodError(e), outcome: "error" };
  rt.deps.log.error("mcp tool failed", {
    requestId,
    tool,
    error: e instanceof Error ? e.message : String(e),
    stack: e instanceof Error ? e.stack : undefined,
  });
  return { text: `Internal error (request id ${requestId}).`, outcome: "error" };
}

/** The longest tool name stored in the audit log for a call of an unknown tool. */
const UNKNOWN_TOOL_NAME_MAX = 128;

/** Consume the caller's tool-call budget; the refusal result (audited) when it is spent. */
async function spendBudget(
  rt: ToolRuntime,
  tool: string,
  args: unknown,
  caller: McpCaller,
): Promise<CallToolResult | null> {
  try {
    consumeToolCallBudget(rt.limiter, rt.budgets, {
      userSId: caller.actor.user.sId,
      credentialId: caller.actor.credential.id,
      clientId: caller.clientId,
    });
    return null;
  } catch (e) {
    if (!(e instanceof AppError) || e.status !== 429) throw e;
    // Refused before running: counted per credential and window, not stored one by one.
    await auditCall(rt, caller, {
      tool,
      arguments: args,
      outcome: "rate_limited",
      error: e.message,
      latencyMs: 0,
      bytesReturned: 0,
      refused: true,
    });
    return textResult(e.message, true);
  }
}

/** A `tools/call` whose arguments have not been validated yet (the SDK path). */
export interface RawToolCall {
  name: string;
  arguments?: Record<string, unknown>;
}

/**
 * Serve one `tools/call` as `caller` on its endpoint: budget, then the tool (an unknown tool,
 * or one the endpoint does not serve, is a JSON-RPC invalid-params error), then the
 * arguments (invalid → an `isError` result), then {@link runTool}. Every outcome is audited.
 */
export async function callTool(
  rt: ToolRuntime,
  tools: ReadonlyMap<string, ToolDef>,
  call: RawToolCall,
  caller: McpCaller,
  /** Turns a successful call into another result (a task), or null to keep it. */
  after?: (def: ToolDef, raw: unknown) => Promise<CallToolResult | null>,
  exchange?: McpExchange,
): Promise<CallToolResult> {
  const def = tools.get(call.name);
  const served = def !== undefined && servesTool(caller.endpoint, def);
  const auditName = served ? def.name : call.name.slice(0, UNKNOWN_TOOL_NAME_MAX);
  const args = call.arguments ?? {};
  const refusal = await spendBudget(rt, auditName, args, caller);
  if (refusal) return refusal;
  if (!served) {
    const error = `Tool ${auditName} not found`;
    await auditCall(rt, caller, { ...emptyCall(auditName, args), outcome: "error", error });
    const { ProtocolError, ProtocolErrorCode } = await loadMcpSdk();
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, error);
  }
  const parsed = def.input.safeParse(args);
  if (!parsed.success) {
    const error = `Input validation error: Invalid arguments for tool ${def.name}: ${
      describeZodError(parsed.error)
    }`;
    await auditCall(rt, caller, { ...emptyCall(def.name, args), outcome: "error", error });
    return textResult(error, true);
  }
  const { result, raw } = await runTool(rt, def, parsed.data, caller, exchange);
  return (!result.isError && await after?.(def, raw)) || result;
}

function emptyCall(tool: string, args: unknown) {
  return { tool, arguments: args, latencyMs: 0, bytesReturned: 0 };
}

/**
 * Run one validated call that passed the budget: the core call, the result convention and the
 * audit entry. Returns the raw result of `run` too (tasks read the message ids from it).
 */
export async function runTool(
  rt: ToolRuntime,
  def: ToolDef,
  args: Record<string, unknown>,
  caller: McpCaller,
  exchange?: McpExchange,
): Promise<{ result: CallToolResult; raw?: unknown }> {
  const started = performance.now();
  const ctx: ToolContext = { deps: rt.deps, actor: caller.actor, caller, exchange };
  let text: string;
  let outcome: AuditOutcome = "success";
  let result: CallToolResult;
  let raw: unknown;
  try {
    raw = await def.run(ctx, args);
    if (isInputRequiredResult(raw)) {
      // The tool asks the client for input (2026-07-28): the SDK sends it as is.
      await auditCall(rt, caller, {
        tool: def.name,
        arguments: args,
        outcome: "success",
        error: null,
        latencyMs: performance.now() - started,
        bytesReturned: 0,
      });
      return { result: raw as unknown as CallToolResult };
    }
    const payload = (def.present ? def.present(raw) : raw) as Record<string, unknown>;
    text = JSON.stringify(payload);
    result = { content: [{ type: "text", text }, ...linksOf(rt, def, raw, args, ctx)] };
    result.structuredContent = payload;
  } catch (e) {
    const f = describeFailure(rt, e, def.name, caller.requestId);
    text = f.text;
    outcome = f.outcome;
    result = textResult(text, true);
  }
  await auditCall(rt, caller, {
    tool: def.name,
    arguments: args,
    outcome,
    error: outcome === "success" ? null : text,
    latencyMs: performance.now() - started,
    bytesReturned: outcome === "success" ? text.length : 0,
  });
  return { result, raw };
}

/** The result's `resource_link` items; a failure here never turns a done call into an error. */
function linksOf(
  rt: ToolRuntime,
  def: ToolDef,
  raw: unknown,
  args: Record<string, unknown>,
  ctx: ToolContext,
): ResourceLink[] {
  try {
    return def.links?.(raw, args, ctx) ?? [];
  } catch (e) {
    rt.deps.log.warn("mcp resource links failed", { tool: def.name, error: String(e) });
    return [];
  }
}

/**
 * Run one call whose arguments already passed the tool's schema (the route's fast path):
 * budget, then {@link runTool}. The SDK path ({@link callTool}) ends in the same function.
 */
export async function executeTool(
  rt: ToolRuntime,
  def: ToolDef,
  args: Record<string, unknown>,
  caller: McpCaller,
): Promise<CallToolResult> {
  return await spendBudget(rt, def.name, args, caller) ??
    (await runTool(rt, def, args, caller)).result;
}

/** The scope challenge of a write tool called without the write scope (audited), or null. */
export async function writeScopeRefusal(
  rt: ToolRuntime,
  def: ToolDef | undefined,
  caller: McpCaller,
): Promise<string | null> {
  if (!def?.write || !servesTool(caller.endpoint, def) || hasScope(caller.actor, "write")) {
    return null;
  }
  await auditCall(rt, caller, {
    tool: def.name,
    arguments: {},
    outcome: "denied",
    error: "insufficient_scope: write",
    latencyMs: 0,
    bytesReturned: 0,
    refused: true,
  });
  return `The ${def.name} tool requires the write scope`;
}

/**
 * Serve a request other than a tool call that reads data (`resources/read`, `prompts/get`)
 * like a tool call: the caller's tool-call budget, then `fn`, then one audit entry under
 * `name`. Failures become JSON-RPC errors: a 404 through `notFound`, other business failures
 * as invalid params with their text, anything unexpected as a generic internal error.
 */
export async function auditedRequest<T>(
  rt: ToolRuntime,
  caller: McpCaller,
  call: { name: string; arguments: Record<string, unknown> },
  fn: () => T | Promise<T>,
  notFound: (e: AppError) => Error,
): Promise<T> {
  const { ProtocolError, ProtocolErrorCode } = await loadMcpSdk();
  const refusal = await spendBudget(rt, call.name, call.arguments, caller);
  if (refusal) {
    throw new ProtocolError(ProtocolErrorCode.InvalidRequest, textOf(refusal));
  }
  const started = performance.now();
  try {
    const out = await fn();
    await auditCall(rt, caller, {
      tool: call.name,
      arguments: call.arguments,
      outcome: "success",
      error: null,
      latencyMs: performance.now() - started,
      bytesReturned: JSON.stringify(out).length,
    });
    return out;
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    const f = describeFailure(rt, e, call.name, caller.requestId);
    await auditCall(rt, caller, {
      tool: call.name,
      arguments: call.arguments,
      outcome: f.outcome,
      error: f.text,
      latencyMs: performance.now() - started,
      bytesReturned: 0,
    });
    if (e instanceof AppError && e.status === 404) throw notFound(e);
    const code = e instanceof AppError || e instanceof ZodError
      ? ProtocolErrorCode.InvalidParams
      : ProtocolErrorCode.InternalError;
    throw new ProtocolError(code, f.text);
  }
}

function textOf(r: CallToolResult): string {
  const first = r.content[0];
  return first?.type === "text" ? first.text : "";
}

/** One audit entry for a tool call by `caller` (who, with what credential and client). */
export async function auditCall(
  rt: ToolRuntime,
  caller: McpCaller,
  call: Pick<
    AuditEntryInput,
    "tool" | "arguments" | "outcome" | "error" | "latencyMs" | "bytesReturned" | "refused"
  >,
): Promise<void> {
  await recordToolCall(rt.deps.db, {
    ...call,
    at: Date.now(),
    workspaceId: caller.actor.workspace.id,
    userId: caller.actor.user.id,
    credentialKind: caller.actor.credential.kind,
    credentialId: caller.actor.credential.id,
    clientId: caller.clientId,
    requestId: caller.requestId,
  }, rt.deps.config.auditMaxEntries);
}
