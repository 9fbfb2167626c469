/**
 * Discovery documents (checklist A4–A6, B1–B9): RFC 9728 protected-resource metadata for
 * `/mcp` (path-inserted and root) and for `/api/v1`, RFC 8414 authorization-server metadata,
 * and the JWKS. Every URL is built from `config.publicUrl`, never from `Host` or forwarded
 * headers (K1), so the issuer is byte-identical everywhere. CORS `*` for browser clients.
 * @module
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../deps.ts";
import { apiResourceUrl, type Config, mcpResourceUrl } from "../config.ts";
import { AUTH_METHODS } from "../core/oauth_clients.ts";

/** Scopes a client needs for everything (PRM baseline; never `offline_access`, A6). */
export const BASELINE_SCOPES = ["read", "write"] as const;

/** CORS for metadata and the token, registration and revocation endpoints (B9, G5). */
export const oauthCors = cors({
  origin: "*",
  allowMethods: ["GET", "POST", "OPTIONS"],
  allowHeaders: ["Authorization", "Content-Type", "MCP-Protocol-Version"],
  exposeHeaders: ["WWW-Authenticate", "Retry-After"],
  maxAge: 86400,
});

/** RFC 9728 metadata for one of this server's resources. */
export function protectedResourceMetadata(config: Config, resource: string) {
  return {
    resource,
    authorization_servers: [config.publicUrl],
    scopes_supported: [...BASELINE_SCOPES],
    bearer_methods_supported: ["header"],
    resource_name: resource === mcpResourceUrl(config) ? "dust-mcp MCP server" : "dust-mcp API",
  };
}

/** RFC 8414 metadata: only what is implemented (B7). */
export function authorizationServerMetadata(config: Config) {
  const base = config.publicUrl;
  return {
    issuer: base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    revocation_endpoint: `${base}/revoke`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: [...AUTH_METHODS],
    revocation_endpoint_auth_methods_supported: [...AUTH_METHODS],
    scopes_supported: [...BASELINE_SCOPES, "offline_access"],
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
    service_documentation: `${base}/integrations`,
  };
}

/** Routes: `/.well-known/*` documents. */
export function metadataRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/.well-known/*", oauthCors);
  const prm = (pick: (config: Config) => string) => (c: import("hono").Context<AppEnv>) => {
    const config = c.get("deps").config;
    return c.json(protectedResourceMetadata(config, pick(config)));
  };
  app.get("/.well-known/oauth-protected-resource", prm(mcpResourceUrl));
  app.get("/.well-known/oauth-protected-resource/mcp", prm(mcpResourceUrl));
  app.get("/.well-known/oauth-protected-resource/api/v1", prm(apiResourceUrl));
  app.get(
    "/.well-known/oauth-authorization-server",
    (c) => c.json(authorizationServerMetadata(c.get("deps").config)),
  );
  app.get("/.well-known/jwks.json", (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.json(c.get("deps").keys.jwks);
  });
  return app;
}
