/**
 * RFC 6749 errors raised by the OAuth core (`error` + `error_description`). The OAuth sub-app
 * renders them as JSON (token, register, revoke) or as an HTML page (the browser flow); they
 * never reach the REST renderer.
 * @module
 */
import { boundErrorMessage } from "../errors.ts";

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
  /** The `error_description`, bounded: some quote a client's (possibly huge) value. */
  readonly description: string;
  constructor(
    readonly code: OAuthErrorCode,
    description: string,
    readonly status = 400,
    /** Extra response headers (e.g. `WWW-Authenticate: Basic` on a failed Basic login). */
    readonly headers: Record<string, string> = {},
  ) {
    const bounded = boundErrorMessage(description);
    super(bounded);
    this.description = bounded;
  }

  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}
