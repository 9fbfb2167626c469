/**
 * Rendering of OAuth errors. JSON endpoints (token, register, revoke) answer RFC 6749
 * `{error, error_description}` with `Cache-Control: no-store`; the browser flow renders an
 * HTML page instead (never a redirect to an unvalidated redirect_uri).
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../deps.ts";
import { OAuthError } from "../core/oauth_error.ts";
import { AppError } from "../errors.ts";

/** The JSON response for an OAuth error. */
export function oauthErrorResponse(err: OAuthError, requestId?: string): Response {
  const headers = new Headers({
    "Content-Type": "application/json; charset=UTF-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    ...err.headers,
  });
  if (requestId) headers.set("X-Request-Id", requestId);
  return new Response(JSON.stringify(err.toJSON()), { status: err.status, headers });
}

/** `onError` of the OAuth JSON endpoints: never the REST envelope, never a stack. */
export function onOAuthJsonError(err: Error, c: Context<AppEnv>): Response {
  const requestId = c.get("requestId");
  if (err instanceof OAuthError) return oauthErrorResponse(err, requestId);
  if (err instanceof AppError && err.status < 500) {
    // A refusal from the core (bad input it caught), in this surface's shape.
    return oauthErrorResponse(
      new OAuthError("invalid_request", err.message, err.status),
      requestId,
    );
  }
  if (err instanceof HTTPException && err.status < 500) {
    const code = err.status === 413 ? "invalid_request" : "invalid_request";
    return oauthErrorResponse(
      new OAuthError(code, err.message || "The request was refused.", err.status),
      requestId,
    );
  }
  c.get("deps").log.error("oauth endpoint failed", {
    requestId,
    error: err.message,
    stack: err.stack,
  });
  return oauthErrorResponse(
    new OAuthError("server_error", `Internal error (request id ${requestId}).`, 500),
    requestId,
  );
}
