/**
 * `/mcp`: the remote MCP server over Streamable HTTP (POST / GET / DELETE), serving the
 * 2026-07-28 revision and the 2025-11-25 / 2025-06-18 / 2025-03-26 revisions on one path
 * through the SDK's `createMcpHandler` (stateless; legacy requests take its stateless
 * fallback). `/mcp/` is served too — no redirect (mcp-auth.md K4) — and so are the narrowed
 * endpoints `/mcp/x/<toolsets>`, `/mcp/readonly` and `/mcp/x/<toolsets>/readonly`
 * (endpoint.ts), all one OAuth resource.
 *
 * Order of checks on every request: Host/Origin (DNS rebinding, A13: the
 * `@modelcontextprotocol/hono` middleware) → CORS preflight →
 * authentication (401/403, A1–A9) → per-credential request budget (429 + Retry-After) →
 * JSON-RPC batch size (400, -32600, past `--mcp-max-batch`) → the MCP layer (per-tool write-scope challenge, per-user/per-client tool budget, audit).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AuthInfo, McpHttpHandler } from "@modelcontextprotocol/server";
import { loadMcpSdk, localhostAllowedHostnames } from "./sdk.ts";
import { hostAndOriginCheck } from "./host_check.ts";
import type { AppEnv, Deps } from "../deps.ts";
import { hasScope } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { consumeRequestBudget, type RateBudgets, RateLimiter } from "../core/rate_limits.ts";
import { authenticateMcpRequest, McpAuthMemo, resourceMetadataUrl } from "./auth.ts";
import { onRevoked } from "../auth/revocations.ts";
import type { McpRuntime } from "./server.ts";
import { ALL_TOOLS } from "./tool_list.ts";
import { DUST_SVG, ICON_PATHS, iconPng } from "./icon.ts";
import type { McpCaller, ToolDef } from "./tool_kit.ts";
import { fastPathHeadersOk, tryFastToolCall } from "./fast_path.ts";
import { type Endpoint, parseEndpoint } from "./endpoint.ts";
import { LogLevels } from "./logging.ts";
import {
  isCancelledNotification,
  isListenRequest,
  narrowListen,
  onStreamEnd,
  OpenListens,
  ResourceUpdateBridge,
} from "./subscriptions.ts";
import { streamOwnerOf } from "../events/stream_budget.ts";
import { connectionDone } from "../api/sse.ts";

const CORS_ALLOW_HEADERS =
  "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
const CORS_EXPOSE_HEADERS = "WWW-Authenticate, Mcp-Session-Id, Retry-After, MCP-Protocol-Version";

/** Hostnames allowed in `Host` and `Origin`: the public host, and loopback when bound locally. */
export function allowedHostnames(deps: Deps): string[] {
  const hosts = new Set<string>([new URL(deps.config.publicUrl).hostname]);
  const bind = deps.config.host;
  if (bind === "127.0.0.1" || bind === "localhost" || bind === "::1" || bind === "[::1]") {
    for (const h of localhostAllowedHostnames()) hosts.add(h);
  }
  return [...hosts];
}

/**
 * This instance's share of the `/mcp` budgets: each limit divided by the live instances (the
 * counters stay in memory; see src/core/rate_limits.ts for why), recomputed when that changes.
 */
function budgetsOf(deps: Deps): () => RateBudgets {
  let cached: { live: number; budgets: RateBudgets } | null = null;
  return () => {
    const live = deps.cluster.liveInstances;
    if (cached?.live !== live) {
      cached = {
        live,
        budgets: {
          toolCallsPerUser: deps.cluster.share(deps.config.mcpRateUser),
          toolCallsPerClient: deps.cluster.share(deps.config.mcpRateClient),
          requestsPerCredential: deps.cluster.share(deps.config.mcpRateRequests),
        },
      };
    }
    return cached.budgets;
  };
}

function setCors(headers: Headers, origin: string | undefined): void {
  headers.set("Access-Control-Allow-Origin", origin ?? "*");
  if (origin) headers.append("Vary", "Origin");
  headers.set("Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}

/** The MCP endpoint and its icon. Mounted at the root by `createApp`. */
export function mcpRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const tools = new Map<string, ToolDef>(ALL_TOOLS.map((d) => [d.name, d]));
  const shareOf = budgetsOf(deps);
  const rt: McpRuntime = {
    deps,
    limiter: new RateLimiter(),
    get budgets() {
      return shareOf();
    },
    tools,
    logLevels: new LogLevels(),
  };
  // The SDK and its server pool load with the first request the fast path does not answer
  // (src/mcp/sdk.ts): a server that only answered tool calls never pays for them.
  let loaded: McpHttpHandler | null = null;
  let sdkSide: Promise<{ handler: McpHttpHandler; updates: ResourceUpdateBridge }> | null = null;
  const sdk = () =>
    sdkSide ??= (async () => {
      const [{ createMcpHandler }, { createServerPool }] = await Promise.all([
        loadMcpSdk(),
        import("./server.ts"),
      ]);
      const handler = createMcpHandler(createServerPool(rt).factory, {
        onerror: (e) => deps.log.debug("mcp exchange rejected", { error: e.message }),
      });
      loaded = handler;
      if (deps.shutdown.aborted) void handler.close();
      return { handler, updates: new ResourceUpdateBridge(deps, handler.notify) };
    })();
  const handler = {
    fetch: async (req: Request, options: Parameters<McpHttpHandler["fetch"]>[1]) =>
      await (await sdk()).handler.fetch(req, options),
  };
  const listens = new OpenListens();
  // The server's stop() flushes the audit log itself before it closes the database.
  deps.shutdown.addEventListener("abort", () => void loaded?.close(), { once: true });
  const memo = new McpAuthMemo();
  // A revocation on any instance drops the memoised credential here at once.
  onRevoked(deps.events, (note) => void memo.drop(note));
  const hosts = allowedHostnames(deps);

  const serve = async (c: Context<AppEnv>): Promise<Response> => {
    const req = c.req.raw;
    const origin = c.req.header("origin") || undefined;
    if (req.method === "OPTIONS") return preflight(origin);
    const res = await authorizeAndServe(c, req);
    // Responses from the SDK may have immutable headers: copy only when CORS must be added.
    if (!origin) return res;
    const out = new Response(res.body, res);
    setCors(out.headers, origin);
    return out;
  };

  const authorizeAndServe = async (c: Context<AppEnv>, req: Request): Promise<Response> => {
    const endpoint = parseEndpoint(new URL(req.url));
    if ("error" in endpoint) return badEndpoint(endpoint.error);
    const auth = await authenticateMcpRequest(deps, req, memo, c.get("startedAt"));
    if (!auth.ok) return auth.response;
    const { actor, clientId } = auth;
    try {
      consumeRequestBudget(rt.limiter, rt.budgets, {
        userSId: actor.user.sId,
        credentialId: actor.credential.id,
        clientId,
      });
    } catch (e) {
      if (e instanceof AppError && e.status === 429) return tooManyRequests(e);
      throw e;
    }
    const caller: McpCaller = { actor, clientId, requestId: c.get("requestId"), endpoint };
    const authInfo = {
      token: auth.token,
      clientId,
      scopes: scopesOf(caller, endpoint),
      resourceMetadataUrl: resourceMetadataUrl(deps),
      extra: { caller },
    };
    if (req.method !== "POST") return await handler.fetch(req, { authInfo });
    const text = await req.text();
    let parsed: unknown = undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Malformed JSON: the SDK answers it with its own parse error below.
    }
    if (Array.isArray(parsed) && parsed.length > deps.config.mcpMaxBatch) {
      return batchTooLarge(deps.config.mcpMaxBatch);
    }
    if (isListenRequest(parsed)) return await listen(c, req, text, parsed, caller, authInfo);
    if (isCancelledNotification(parsed)) listens.cancel(caller, parsed.params.requestId);
    // The body was read: the SDK gets a copy of the request (built only off the fast path).
    const replay = () => new Request(req.url, { method: "POST", headers: req.headers, body: text });
    // Off the fast path's headers the SDK reads and checks the body itself, as before.
    if (!fastPathHeadersOk(req)) return await handler.fetch(replay(), { authInfo });
    // A client that asked for logs gets them on the SDK's event stream, not the fast path.
    const fast = rt.logLevels.get(caller) === undefined
      ? await tryFastToolCall(rt, tools, parsed, caller)
      : null;
    if (fast) return fast;
    return await handler.fetch(
      replay(),
      parsed === undefined ? { authInfo } : { authInfo, parsedBody: parsed },
    );
  };

  /**
   * `subscriptions/listen` (2026-07-28): narrowed to what the caller may watch, counted as one
   * of the caller's event streams, and bridged to conversation events while it is open.
   */
  const listen = async (
    c: Context<AppEnv>,
    req: Request,
    text: string,
    body: Record<string, unknown>,
    caller: McpCaller,
    authInfo: AuthInfo,
  ): Promise<Response> => {
    const { body: narrowed, watched } = await narrowListen(deps, caller, body);
    let lease;
    try {
      lease = deps.streams.acquire(streamOwnerOf(caller.actor));
    } catch (e) {
      if (e instanceof AppError && e.status === 429) return tooManyRequests(e);
      throw e;
    }
    const connection = connectionDone(c);
    lease.holdUntil(connection);
    // The stream ends when the client goes away or cancels the listen request (the SDK's
    // HTTP entry does not route that cancellation itself).
    const stop = new AbortController();
    void connection?.finally(() => stop.abort());
    const forget = listens.open(caller, body.id, stop);
    const replay = new Request(req.url, {
      method: "POST",
      headers: req.headers,
      body: text,
      signal: stop.signal,
    });
    const res = await handler.fetch(replay, { authInfo, parsedBody: narrowed });
    if (!res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      forget();
      lease.release();
      return res;
    }
    const unwatch = (await sdk()).updates.watch(watched);
    const body$ = onStreamEnd(res.body, () => {
      unwatch();
      forget();
      lease.release();
    });
    return new Response(body$, res);
  };

  for (const path of ["/mcp", "/mcp/*"]) {
    app.use(path, hostAndOriginCheck(hosts));
    app.all(path, serve);
  }
  const icon = (body: BodyInit, type: string) =>
    new Response(body, {
      headers: {
        "Content-Type": type,
        "Cache-Control": "public, max-age=86400",
        "Access-Control-Allow-Origin": "*",
      },
    });
  app.get(ICON_PATHS.svg, () => icon(DUST_SVG, "image/svg+xml"));
  app.get(ICON_PATHS.png, () => icon(iconPng(), "image/png"));
  return app;
}

/** The scopes the SDK sees: a read-only endpoint never has `write`, whatever the token has. */
function scopesOf(caller: McpCaller, endpoint: Endpoint): string[] {
  return hasScope(caller.actor, "write") && !endpoint.readOnly ? ["read", "write"] : ["read"];
}

/** A `/mcp/…` URL naming no endpoint (unknown path or toolset): 404, or 400 for a bad toolset. */
function badEndpoint(message: string): Response {
  const status = message === "Unknown MCP endpoint" ? 404 : 400;
  return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32600, message } }, {
    status,
    headers: { "Cache-Control": "no-store" },
  });
}

function preflight(origin: string | undefined): Response {
  const headers = new Headers({
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
    "Access-Control-Max-Age": "86400",
  });
  setCors(headers, origin);
  return new Response(null, { status: 204, headers });
}

/**
 * A JSON-RPC batch longer than `--mcp-max-batch`: refused whole, before any message runs, in
 * the shape the SDK uses for its own (larger) bound. Each message of a batch is a tool call
 * with its budget and audit entry, so the bound keeps one HTTP request from fanning out.
 */
function batchTooLarge(max: number): Response {
  const error = { code: -32600, message: `Invalid Request: Batch must not exceed ${max} messages` };
  return Response.json({ jsonrpc: "2.0", error, id: null }, {
    status: 400,
    headers: { "Cache-Control": "no-store" },
  });
}

function tooManyRequests(e: AppError): Response {
  const retry = Number(e.extra?.retryAfter ?? 60);
  return Response.json({ error: "rate_limited", error_description: e.message }, {
    status: 429,
    headers: { "Retry-After": String(Math.ceil(retry)), "Cache-Control": "no-store" },
  });
}
