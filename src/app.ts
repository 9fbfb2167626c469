/**
 * The Hono app: global middleware, THE list of mounts, and the one error renderer.
 * @module
 */
import { Hono } from "hono";
import { TrieRouter } from "hono/router/trie-router";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { bodyLimit } from "hono/body-limit";
import { ZodError } from "zod";
import type { AppEnv, Deps } from "./deps.ts";
import { AppError } from "./errors.ts";
import { redactUrl } from "./util/log.ts";
import { OAuthError } from "./core/oauth_error.ts";
import { oauthErrorResponse } from "./oauth/errors.ts";
import { randomString } from "./util/ids.ts";
import { VERSION } from "./version.ts";
import { setupRoutes } from "./pages/setup.tsx";
import { oauthRoutes } from "./oauth/router.ts";
import { meRoutes } from "./api/me.ts";
import { referenceRoutes } from "./api/reference.tsx";
import { agentsRoutes } from "./api/agents.ts";
import { spacesRoutes } from "./api/spaces.ts";
import { podsRoutes } from "./api/pods.ts";
import { apiKeysRoutes } from "./api/api_keys.ts";
import { personalTokensRoutes } from "./api/personal_tokens.ts";
import { workspaceExistsRoutes } from "./api/workspace_exists.ts";
import { groupsRoutes } from "./api/groups.ts";
import { filesRoutes } from "./api/files.ts";
import { dataSourcesRoutes } from "./api/data_sources.ts";
import { searchRoutes } from "./api/search.ts";
import { auditRoutes } from "./api/audit.ts";
import { storageRoutes } from "./api/storage.ts";
import { workspaceDirectoryRoutes } from "./api/workspace_directory.ts";
import { tokenizeRoutes } from "./api/tokenize.ts";
import { dustAppsRoutes } from "./api/dust_apps.ts";
import { auditPageRoutes } from "./pages/audit.tsx";
import { mcpRoutes } from "./mcp/route.ts";
import { requireAuth } from "./auth/bearer.ts";
import { requireAllowedOAuthClient } from "./api/oauth_access.ts";
import { endStreamsOnShutdown } from "./events/end_on_shutdown.ts";
import { relayRoutes } from "./api/relay.ts";
import { modelSettingsRoutes } from "./pages/model_settings.tsx";
import { conversationRoutes } from "./api/conversations.ts";
import { toolApprovalRoutes } from "./api/tool_approvals.ts";
import { mentionsRoutes } from "./api/mentions.ts";
import { conversationExtraRoutes } from "./api/conversation_extras.ts";
import { spaceSyncRoutes } from "./api/space_sync.ts";
import { dataSourceViewRoutes } from "./api/data_source_views.ts";
import {
  allowedMethodsLookup,
  enforceAllowedMethods,
  methodNotAllowed,
} from "./api/allowed_methods.ts";
import { UPLOAD_BODY_MAX } from "./core/files.ts";
import { documentUploadRoutes } from "./api/document_upload.ts";
import { assetRoutes } from "./pages/assets.ts";
import { errorAsPage, notFoundPage, wantsPage } from "./pages/error_pages.tsx";
import { consoleRoutes } from "./pages/console_routes.ts";
import { knowledgeRoutes } from "./pages/knowledge.tsx";
import { agentPageRoutes } from "./pages/agents.tsx";
import { conversationPageRoutes } from "./pages/conversations.tsx";

/**
 * Body-size limits: uploads and relay results are larger than ordinary JSON. The upload cap
 * is enforced while the body streams to disk (capUploadBody), not by bodyLimit.
 */
export const BODY_LIMITS = {
  default: 2 * 1024 * 1024,
  fileUpload: UPLOAD_BODY_MAX,
  relayResults: 16 * 1024 * 1024,
} as const;

/** `POST` here is an upload; the other methods on the path carry no body. */
const FILE_PATH = /^\/api\/v1\/w\/[^/]+\/files\/[^/]+$/;
/** A document upload (src/api/document_upload.ts), capped the same way. */
const DOCUMENT_UPLOAD_PATH = /^\/api\/v1\/w\/[^/]+\/spaces\/[^/]+\/data_sources\/[^/]+\/upload$/;
/** The console's document upload form (src/pages/knowledge.tsx), capped the same way. */
const CONSOLE_UPLOAD_PATH = /^\/w\/[^/]+\/knowledge\/[^/]+\/[^/]+\/upload$/;

function bodyLimitFor(path: string): number {
  if (/^\/api\/v1\/w\/[^/]+\/mcp\/results$/.test(path)) return BODY_LIMITS.relayResults;
  return BODY_LIMITS.default;
}

/**
 * 413 in the shape of the surface the request went to: MCP clients parse JSON-RPC and OAuth
 * clients RFC 6749 errors, so a REST envelope would be unreadable to them.
 */
function payloadTooLarge(path: string, limit: number, requestId: string): Response {
  const message = `Request body is larger than ${limit} bytes.`;
  if (path === "/mcp" || path.startsWith("/mcp/")) {
    const rpc = { jsonrpc: "2.0", id: null, error: { code: -32600, message } };
    return Response.json(rpc, { status: 413, headers: { "X-Request-Id": requestId } });
  }
  if (path === "/token" || path === "/register" || path === "/revoke") {
    return oauthErrorResponse(new OAuthError("invalid_request", message, 413), requestId);
  }
  throw new AppError(413, "payload_too_large", message);
}

/** Render a Zod error as one readable line naming the fields and reasons. */
export function describeZodError(e: ZodError): string {
  return e.issues.slice(0, 5).map((i) => {
    const path = i.path.length ? i.path.join(".") : "body";
    return `${path}: ${i.message}`;
  }).join("; ");
}

export function createApp(deps: Deps): Hono<AppEnv> {
  // The trie router directly: Hono's default first tries to compile every route into one
  // RegExp, fails on these routes and falls back to this one (~7 ms on the first request).
  const app = new Hono<AppEnv>({ router: new TrieRouter() });

  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && /^[\w-]{1,64}$/.test(incoming) ? incoming : randomString(16);
    c.set("requestId", requestId);
    c.set("deps", deps);
    const started = performance.now();
    c.set("startedAt", started);
    await next();
    // Mutate the headers (as secureHeaders does): c.header() on a finalised response copies it
    // through its body stream, which costs Deno.serve's fast path for fixed bodies.
    c.res.headers.set("X-Request-Id", requestId);
    // The access log's fields (URL parsing, redaction) only when it is written.
    if (deps.log.enabled?.("info") === false) return;
    deps.log.info("request", {
      requestId,
      method: c.req.method,
      path: redactUrl(new URL(c.req.url)),
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });

  app.use(
    "*",
    secureHeaders({
      xFrameOptions: "DENY",
      referrerPolicy: "no-referrer",
      crossOriginResourcePolicy: false,
      crossOriginOpenerPolicy: false,
    }),
  );

  app.use("*", async (c, next) => {
    // An upload is capped while it streams to disk (capUploadBody, src/core/files.ts):
    // bodyLimit would hold a body sent without Content-Length whole in memory first.
    if (
      c.req.method === "POST" &&
      (FILE_PATH.test(c.req.path) || DOCUMENT_UPLOAD_PATH.test(c.req.path) ||
        CONSOLE_UPLOAD_PATH.test(c.req.path))
    ) return await next();
    const limit = bodyLimitFor(c.req.path);
    // A declared length within the limit needs no counting: the HTTP server enforces the
    // framing, so the body cannot be longer. Counting costs ~5 µs per request (BENCHMARKS.md).
    const declared = c.req.header("content-length");
    if (declared !== undefined && /^\d{1,12}$/.test(declared) && Number(declared) <= limit) {
      return await next();
    }
    return await bodyLimit({
      maxSize: limit,
      onError: (c) => payloadTooLarge(c.req.path, limit, c.get("requestId")),
    })(c, next);
  });

  // Event streams end when the server stops, so shutdown never waits on an open SSE client.
  app.use("*", endStreamsOnShutdown(deps.shutdown));

  const ping = deps.db.prepare("SELECT 1");
  app.get("/healthz", async (c) => {
    await ping.get(); // throws when the database is closed or unusable: 500, not "ok"
    return c.json({ status: "ok", region: deps.config.regionId, version: VERSION });
  });

  // Every workspace route of the REST API authenticates the same way (src/auth/bearer.ts), and
  // OAuth access tokens obey the workspace's OAuth settings on every request.
  app.use("/api/v1/w/:wId/*", requireAuth(), requireAllowedOAuthClient());
  // Then, on every REST path: OPTIONS and methods the path does not serve, from the route table.
  const allowedMethods = allowedMethodsLookup(() => app.routes);
  const restRoutes = () =>
    app.routes.filter((r) => r.path.startsWith("/api/v1/") || r.path === "*");
  app.use("/api/v1/*", enforceAllowedMethods(allowedMethodsLookup(restRoutes)));

  app.route("/", setupRoutes());
  app.route("/", oauthRoutes(deps));
  app.route("/", meRoutes());
  app.route("/", referenceRoutes());
  app.route("/api/v1/w/:wId", agentsRoutes());
  app.route("/api/v1/w/:wId", spacesRoutes());
  app.route("/api/v1/w/:wId", podsRoutes());
  app.route("/api/v1/w/:wId", apiKeysRoutes());
  app.route("/api/v1/w/:wId", personalTokensRoutes());
  app.route("/api/v1/w/:wId", workspaceExistsRoutes());
  app.route("/api/v1/w/:wId", groupsRoutes());
  app.route("/api/v1/w/:wId", filesRoutes());
  app.route("/api/v1/w/:wId", dataSourcesRoutes());
  app.route("/api/v1/w/:wId", documentUploadRoutes());
  app.route("/api/v1/w/:wId", searchRoutes());
  app.route("/api/v1/w/:wId", auditRoutes());
  app.route("/api/v1/w/:wId", storageRoutes());
  app.route("/api/v1/w/:wId", workspaceDirectoryRoutes());
  app.route("/api/v1/w/:wId", tokenizeRoutes());
  app.route("/api/v1/w/:wId", dustAppsRoutes());
  app.route("/api/v1/w/:wId", mentionsRoutes());
  app.route("/api/v1/w/:wId", spaceSyncRoutes());
  app.route("/api/v1/w/:wId", dataSourceViewRoutes());
  app.route("/", auditPageRoutes());
  app.route("/", mcpRoutes(deps));
  app.route("/", relayRoutes());
  app.route("/", modelSettingsRoutes());
  app.route("/", conversationRoutes());
  app.route("/", toolApprovalRoutes());
  app.route("/", conversationExtraRoutes());
  app.route("/", assetRoutes());
  app.route("/", consoleRoutes());
  // The console's knowledge, agents and conversations pages.
  app.route("/", knowledgeRoutes());
  app.route("/", agentPageRoutes());
  app.route("/", conversationPageRoutes());

  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed?.length) return methodNotAllowed(c, allowed);
    if (wantsPage(c)) return notFoundPage(c);
    return c.json(
      { error: { type: "not_found", message: `No route for ${c.req.method} ${c.req.path}.` } },
      404,
    );
  });

  app.onError((err, c) => {
    // A browser on a page gets a page; everything else the REST envelope (one renderer each).
    if (wantsPage(c)) {
      if (!(err instanceof AppError || err instanceof ZodError || err instanceof HTTPException)) {
        logUnhandled(err, c.get("requestId"), deps);
      }
      const page = errorAsPage(c, err, c.get("requestId"));
      if (page) return page;
    }
    return renderError(err, c.get("requestId"), deps);
  });

  return app;
}

function logUnhandled(err: unknown, requestId: string | undefined, deps: Deps): void {
  deps.log.error("unhandled error", {
    requestId,
    error: err instanceof Error ? err.message : String(err),
    stack: err instanceof Error ? err.stack : undefined,
  });
}

/** The one place that turns a thrown error into a REST response. */
export function renderError(err: unknown, requestId: string | undefined, deps: Deps): Response {
  const headers = new Headers({ "Content-Type": "application/json; charset=UTF-8" });
  if (requestId) headers.set("X-Request-Id", requestId);
  if (err instanceof AppError) {
    const retry = err.extra?.retryAfter;
    if (typeof retry === "number") headers.set("Retry-After", String(Math.ceil(retry)));
    return new Response(JSON.stringify(err.toJSON()), { status: err.status, headers });
  }
  if (err instanceof ZodError) {
    const body = { error: { type: "invalid_request_error", message: describeZodError(err) } };
    return new Response(JSON.stringify(body), { status: 400, headers });
  }
  if (err instanceof HTTPException) {
    const res = err.getResponse();
    const www = res.headers.get("WWW-Authenticate");
    if (www) headers.set("WWW-Authenticate", www);
    const type = err.status === 401
      ? "not_authenticated"
      : err.status === 413
      ? "payload_too_large"
      : "invalid_request_error";
    return new Response(
      JSON.stringify({ error: { type, message: err.message || "Request refused." } }),
      { status: err.status, headers },
    );
  }
  logUnhandled(err, requestId, deps);
  const body = {
    error: {
      type: "internal_server_error",
      message: `Internal server error (request id ${requestId ?? "unknown"}).`,
    },
  };
  return new Response(JSON.stringify(body), { status: 500, headers });
}
