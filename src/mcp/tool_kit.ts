/**
 * How every `/mcp` tool is declared and run. A tool is data ({@link ToolDef}): its Dust name,
 * a zod input schema with Dust's argument names, whether it writes, and `run`, which calls ONE
 * core function. {@link registerTool} wraps `run` with what every call needs: the caller from
 * the request's auth info, the per-user/per-client budget, the scope check for writes, the
 * result convention (JSON text content, `isError` for business failures, a generic "internal
 * error" for anything unexpected) and the audit entry.
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/server";
import type { CallToolResult } from "@modelcontextprotocol/server";
import { ZodError } from "zod";
import type * as z from "zod";
import type { Deps } from "../deps.ts";
import type { UserActor } from "../auth/actor.ts";
import { hasScope } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { type AuditEntryInput, type AuditOutcome, recordToolCall } from "../core/audit.ts";
import { consumeToolCallBudget, type RateBudgets, type RateLimiter } from "../core/rate_limits.ts";
import { describeZodError } from "../app.ts";
import { BASELINE_SCOPE } from "./auth.ts";

/** The authenticated caller of one `/mcp` request, carried in `authInfo.extra.caller`. */
export interface McpCaller {
  actor: UserActor;
  clientId: string;
  requestId: string;
}

/** What a tool's `run` receives besides its arguments. */
export interface ToolContext {
  deps: Deps;
  actor: UserActor;
  caller: McpCaller;
}

// deno-lint-ignore no-explicit-any
export interface ToolDef<S extends z.ZodObject<any> = z.ZodObject<any>> {
  name: string;
  title: string;
  description: string;
  input: S;
  /** Declared output schema: the payload is also sent as `structuredContent`. */
  // deno-lint-ignore no-explicit-any
  output?: z.ZodObject<any>;
  /** True for tools that change data: they need the `write` scope. */
  write: boolean;
  run(ctx: ToolContext, args: z.infer<S>): unknown | Promise<unknown>;
}

/** Declare a tool with its argument types inferred from `input`. */
// deno-lint-ignore no-explicit-any
export function defineTool<S extends z.ZodObject<any>>(def: ToolDef<S>): ToolDef {
  return def as unknown as ToolDef;
}

/** What the kit needs from the route: shared limiter and budgets. */
export interface ToolRuntime {
  deps: Deps;
  limiter: RateLimiter;
  budgets: RateBudgets;
}

function callerOf(extra: Record<string, unknown> | undefined): McpCaller | undefined {
  return extra?.caller as McpCaller | undefined;
}

function textResult(text: string, isError: boolean, structured?: unknown): CallToolResult {
  const r: CallToolResult = { content: [{ type: "text", text }] };
  if (isError) r.isError = true;
  else if (structured !== undefined) r.structuredContent = structured as Record<string, unknown>;
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

/** Register one tool on a server instance (called once per pooled instance). */
export function registerTool(server: McpServer, rt: ToolRuntime, def: ToolDef): void {
  const readOnly = !def.write;
  server.registerTool(def.name, {
    title: def.title,
    description: def.description,
    inputSchema: def.input,
    ...(def.output ? { outputSchema: def.output } : {}),
    annotations: { readOnlyHint: readOnly, destructiveHint: false, openWorldHint: false },
    // Write tools answer an HTTP 403 insufficient_scope challenge before dispatch (A9).
    ...(def.write
      ? {
        scopeChallenge: async ({ authInfo }) => {
          const caller = callerOf(authInfo?.extra);
          if (!caller || hasScope(caller.actor, "write")) return undefined;
          await auditDenied(rt, def.name, caller);
          return {
            scopes: BASELINE_SCOPE.split(" ") as [string, ...string[]],
            errorDescription: `The ${def.name} tool requires the write scope`,
          };
        },
      }
      : {}),
  }, async (args: unknown, ctx) => {
    const caller = callerOf(ctx.http?.authInfo?.extra);
    if (!caller) return textResult("Internal error (no authenticated caller).", true);
    return await executeTool(rt, def, args as Record<string, unknown>, caller);
  });
}

/**
 * Run one validated tool call as `caller`: budget, the core call, the result convention and
 * the audit entry. Both dispatch paths (the SDK's and the route's fast path) end here, so
 * they cannot answer differently.
 */
export async function executeTool(
  rt: ToolRuntime,
  def: ToolDef,
  args: Record<string, unknown>,
  caller: McpCaller,
): Promise<CallToolResult> {
  const started = performance.now();
  try {
    consumeToolCallBudget(rt.limiter, rt.budgets, {
      userSId: caller.actor.user.sId,
      credentialId: caller.actor.credential.id,
      clientId: caller.clientId,
    });
  } catch (e) {
    if (!(e instanceof AppError) || e.status !== 429) throw e;
    // Refused before running: counted per credential and window, not stored one by one.
    await auditCall(rt, caller, {
      tool: def.name,
      arguments: args,
      outcome: "rate_limited",
      error: e.message,
      latencyMs: performance.now() - started,
      bytesReturned: 0,
      refused: true,
    });
    return textResult(e.message, true);
  }
  let text: string;
  let outcome: AuditOutcome = "success";
  let result: CallToolResult;
  try {
    const payload = await def.run({ deps: rt.deps, actor: caller.actor, caller }, args);
    text = JSON.stringify(payload);
    result = textResult(text, false, def.output ? payload : undefined);
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
  return result;
}

/** A write refused for its missing scope: counted like a budget refusal. */
async function auditDenied(rt: ToolRuntime, tool: string, caller: McpCaller): Promise<void> {
  await auditCall(rt, caller, {
    tool,
    arguments: {},
    outcome: "denied",
    error: "insufficient_scope: write",
    latencyMs: 0,
    bytesReturned: 0,
    refused: true,
  });
}

/** One audit entry for a tool call by `caller` (who, with what credential and client). */
async function auditCall(
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
