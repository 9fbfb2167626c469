/**
 * RFC 6749 errors raised by the OAuth core (`error` + `error_description`). The OAuth sub-app
 * renders them as JSON (token, register, revoke) or as an HTML page (the browser flow); they
 * never reach the REST renderer.
 * @module
 */

export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "invalid_target"
  | "unsupported_token_type"
  | "invalid_redirect_uri"
  | "invalid_client_metadata"
  | "access_denied"
  | "unsupported_response_type"
  | "server_error"
  | "temporarily_unavailable"
  | "slow_down";

export class OAuthError extends Error {
  override name = "OAuthError";
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    /** Extra response headers (e.g. `WWW-Authenticate: Basic` on a failed Basic login). */
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }

  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}
