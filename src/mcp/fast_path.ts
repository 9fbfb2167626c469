/**
 * The fast path for the one message that dominates real traffic: a well-formed 2025-era
 * `tools/call` (Claude, Cursor, mcp-remote and every v1 SDK client send exactly this shape
 * once connected). Going through the SDK costs ~300 µs per call on this machine — a
 * connected server instance and a streamable transport per request (notes/mcp-sdk.md §2),
 * which caps `/mcp` far below its targets. So the route answers the happy path itself:
 *
 * - only when every check the SDK would make is already satisfied (POST, JSON content type,
 *   an Accept listing both JSON and SSE, a supported 2025 protocol header, no session id,
 *   a single JSON-RPC request without the 2026 `_meta` envelope or a task request, a tool the
 *   endpoint serves, arguments that pass the tool's own zod schema, and the write scope for a
 *   write tool);
 * - by calling {@link executeTool}, the very function the SDK-registered callback calls, so
 *   the result content, errors, budget and audit are identical by construction;
 * - answering with the same JSON-RPC result as the SDK (as `application/json`, which the
 *   Streamable HTTP transport allows in place of a one-event SSE stream).
 *
 * Anything else — `initialize`, `tools/list`, `ping`, 2026-07-28 requests, batches, unknown
 * tools, invalid arguments (the SDK's own validation message), scope challenges, malformed
 * requests — returns null and is served by the SDK. `tests/mcp/fast_path_test.ts` checks
 * that both paths give the same answer for every tool.
 * @module
 */
import { hasScope } from "../auth/actor.ts";
import { executeTool, type McpCaller, type ToolDef, type ToolRuntime } from "./tool_kit.ts";
import { servesTool } from "./endpoint.ts";

const FAST_VERSIONS = new Set(["2025-11-25", "2025-06-18", "2025-03-26"]);
const ENVELOPE_KEY = "io.modelcontextprotocol/protocolVersion";
const JSON_CT = /^application\/json\s*(;|$)/i;

/** Header-level eligibility: decided before the body is read. */
export function fastPathHeadersOk(req: Request): boolean {
  if (req.method !== "POST") return false;
  const version = req.headers.get("mcp-protocol-version");
  if (version === null || !FAST_VERSIONS.has(version)) return false;
  if (req.headers.has("mcp-session-id")) return false;
  if (!JSON_CT.test(req.headers.get("content-type") ?? "")) return false;
  const accept = req.headers.get("accept") ?? "";
  return accept.includes("application/json") && accept.includes("text/event-stream");
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface ToolCallMessage {
  id: string | number;
  name: string;
  args: Record<string, unknown>;
}

/** The message when it is a single, envelope-less JSON-RPC `tools/call`; otherwise null. */
function asToolCall(msg: unknown): ToolCallMessage | null {
  if (!isPlainObject(msg) || msg.jsonrpc !== "2.0" || msg.method !== "tools/call") return null;
  const id = msg.id;
  if (typeof id !== "string" && (typeof id !== "number" || !Number.isFinite(id))) return null;
  for (const k in msg) {
    if (k !== "jsonrpc" && k !== "id" && k !== "method" && k !== "params") return null;
  }
  const params = msg.params;
  if (!isPlainObject(params) || typeof params.name !== "string") return null;
  // Anything beyond the plain call (a task request, say) is the SDK's to answer.
  for (const k in params) if (k !== "name" && k !== "arguments" && k !== "_meta") return null;
  if (
    params._meta !== undefined && (!isPlainObject(params._meta) || ENVELOPE_KEY in params._meta)
  ) {
    return null;
  }
  const args = params.arguments ?? {};
  if (!isPlainObject(args)) return null;
  return { id, name: params.name, args };
}

/**
 * Answer `msg` directly when it is on the happy path; null means "let the SDK answer".
 * `tools` maps tool names to their definitions.
 */
export async function tryFastToolCall(
  rt: ToolRuntime,
  tools: ReadonlyMap<string, ToolDef>,
  msg: unknown,
  caller: McpCaller,
): Promise<Response | null> {
  const call = asToolCall(msg);
  if (!call) return null;
  const def = tools.get(call.name);
  if (!def || !servesTool(caller.endpoint, def)) return null;
  if (def.write && !hasScope(caller.actor, "write")) return null;
  const parsed = def.input.safeParse(call.args);
  if (!parsed.success) return null;
  const result = await executeTool(rt, def, parsed.data as Record<string, unknown>, caller);
  return new Response(JSON.stringify({ jsonrpc: "2.0", id: call.id, result }), {
    headers: { "Content-Type": "application/json" },
  });
}
