/**
 * RFC 8707 `resource` handling (checklist F4, A14). The server has two resources: the MCP
 * endpoint (`<publicUrl>/mcp`) and the REST API (`<publicUrl>/api/v1`). A requested resource is
 * compared canonically: scheme and host case-insensitive, default port dropped, one trailing
 * slash tolerated; the bare origin names the MCP resource (some clients send the server origin).
 * @module
 */
import { apiResourceUrl, type Config, mcpResourceUrl } from "../config.ts";
import { OAuthError } from "../core/oauth_error.ts";

/** The canonical resource a raw value names, or null when it names none of ours. */
export function canonicaliseResource(config: Config, raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (u.hash || raw.includes("#") || u.search || u.username || u.password) return null;
  const path = u.pathname.replace(/\/$/, "");
  const canonical = `${u.origin}${path}`;
  const mcp = mcpResourceUrl(config);
  if (canonical === config.publicUrl || canonical === mcp) return mcp;
  if (canonical === apiResourceUrl(config)) return apiResourceUrl(config);
  return null;
}

/**
 * Parse the optional `resource` parameter: null when absent; the canonical resource when it
 * is one of ours; otherwise `invalid_target`.
 */
export function parseResourceParam(config: Config, raw: string | undefined | null): string | null {
  if (raw === undefined || raw === null || raw === "") return null;
  const canonical = canonicaliseResource(config, raw);
  if (!canonical) {
    throw new OAuthError(
      "invalid_target",
      `resource must be ${mcpResourceUrl(config)} or ${apiResourceUrl(config)}.`,
    );
  }
  return canonical;
}
