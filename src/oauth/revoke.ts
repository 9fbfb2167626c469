/**
 * `POST /revoke` (RFC 7009; checklist H5). Revoking a refresh token or an access token revokes
 * its grant. A client may revoke only its own tokens; unknown tokens and other clients' tokens
 * are answered 200 like successes (RFC 7009 §2.2), so the endpoint reveals nothing.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { OAuthError } from "../core/oauth_error.ts";
import {
  REFRESH_TOKEN_PREFIX,
  revokeGrantForClient,
  revokeRefreshTokenForClient,
} from "../core/oauth_grants.ts";
import { verifyAccessToken } from "../auth/jwt.ts";
import { apiResourceUrl, mcpResourceUrl } from "../config.ts";
import { oauthCors } from "./metadata.ts";
import { onOAuthJsonError } from "./errors.ts";
import { authenticateClient } from "./client_auth.ts";
import { remoteIp } from "../auth/rate_limit.ts";
import type { CimdResolver } from "./cimd.ts";

export function revokeRoutes(cimd: CimdResolver): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/revoke", oauthCors);
  app.onError(onOAuthJsonError);
  app.post("/revoke", async (c) => {
    const deps = c.get("deps");
    if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header("content-type") ?? "")) {
      throw new OAuthError(
        "invalid_request",
        "The body must be application/x-www-form-urlencoded.",
      );
    }
    const form = Object.fromEntries(new URLSearchParams(await c.req.text()));
    const client = await authenticateClient(
      deps.db,
      cimd,
      c.req.header("authorization"),
      form,
      remoteIp(c.env),
    );
    const token = form.token;
    if (!token) throw new OAuthError("invalid_request", "token is required.");
    if (token.startsWith(REFRESH_TOKEN_PREFIX)) {
      await revokeRefreshTokenForClient(deps.db, client.clientId, token);
    } else {
      for (const audience of [mcpResourceUrl(deps.config), apiResourceUrl(deps.config)]) {
        const claims = await verifyAccessToken(deps.keys, deps.tokenCache, token, {
          issuer: deps.config.publicUrl,
          audience,
        });
        if (claims?.gid && claims.client_id === client.clientId) {
          await revokeGrantForClient(deps.db, client.clientId, claims.gid);
          break;
        }
      }
    }
    c.header("Cache-Control", "no-store");
    return c.body(null, 200);
  });
  return app;
}
