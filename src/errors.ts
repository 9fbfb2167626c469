/**
 * The one error type of the core. Core code throws; each surface renders it once:
 * REST in Dust's envelope `{"error":{"type","message"}}` (`app.onError`), OAuth in RFC 6749
 * shape (`oauth/errors.ts`), MCP tools as `isError` results.
 * @module
 */

/** Dust's error types (`APIErrorTypeSchema`), plus the few this server adds. */
export type ErrorType =
  | "invalid_request_error"
  | "not_authenticated"
  | "workspace_not_found"
  | "workspace_auth_error"
  | "workspace_in_different_region"
  | "user_not_found"
  | "app_auth_error"
  | "method_not_supported_error"
  | "rate_limit_error"
  | "internal_server_error"
  | "service_unavailable"
  | "conversation_not_found"
  | "message_not_found"
  | "agent_configuration_not_found"
  | "space_not_found"
  | "data_source_not_found"
  | "data_source_document_not_found"
  | "data_source_auth_error"
  | "data_source_quota_error"
  | "data_source_view_not_found"
  | "file_not_found"
  | "file_too_large"
  | "file_type_not_supported"
  | "file_processing_error"
  | "plan_message_limit_exceeded"
  | "mcp_auth_error"
  | "mcp_server_connection_not_found"
  | "mcp_server_view_not_found"
  | "api_key_not_found"
  | "key_not_found"
  | "task_not_found"
  | "not_found"
  | "payload_too_large"
  | "unsupported_media_type"
  | "conflict"
  | "invalid_api_key_error"
  | "workspace_user_not_found"
  | "assistant_saving_error"
  | "group_not_found"
  | "space_already_exists"
  | "app_not_found";

/** Longest error message ever sent back; messages quoting client input stay readable. */
export const MAX_ERROR_MESSAGE = 1_000;

/**
 * Bounds an error message: many name the offending value (an id, a grant type, a user id),
 * and a client may send a value of hundreds of kilobytes that must not come back whole.
 */
export function boundErrorMessage(message: string): string {
  return message.length <= MAX_ERROR_MESSAGE
    ? message
    : `${message.slice(0, MAX_ERROR_MESSAGE)}… (truncated)`;
}

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    /** Extra public fields merged into the error object (e.g. a region `redirect`). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(boundErrorMessage(message));
  }

  toJSON(): { error: Record<string, unknown> } {
    return { error: { type: this.type, message: this.message, ...this.extra } };
  }
}

export function invalid(message: string): AppError {
  return new AppError(400, "invalid_request_error", message);
}

export function notFound(type: ErrorType, message: string): AppError {
  return new AppError(404, type, message);
}

export function forbidden(type: ErrorType, message: string): AppError {
  return new AppError(403, type, message);
}

export function unauthenticated(
  message = "The request does not have valid authentication credentials.",
): AppError {
  return new AppError(401, "not_authenticated", message);
}

export function rateLimited(message: string, retryAfterSeconds: number): AppError {
  return new AppError(429, "rate_limit_error", message, { retryAfter: retryAfterSeconds });
}

export function tooLarge(type: ErrorType, message: string): AppError {
  return new AppError(413, type, message);
}
