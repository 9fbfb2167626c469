/**
 * The authorization server, assembled: discovery, registration, authorize + consent, token,
 * revocation, and the sign-in pages. One CIMD resolver (with its cache) per app instance.
 * @module
 */
import { Hono } from "hono";
import type { AppEnv, Deps } from "../deps.ts";
import { CimdResolver } from "./cimd.ts";
import { FetchBudget } from "./cimd_budget.ts";
import { OAuthTracer } from "./trace.ts";
import { metadataRoutes } from "./metadata.ts";
import { registerRoutes } from "./register.ts";
import { tokenRoutes } from "./token.ts";
import { revokeRoutes } from "./revoke.ts";
import { authorizeRoutes } from "./authorize.tsx";
import { loginRoutes } from "../pages/login.tsx";
import { accountRoutes } from "../pages/account.tsx";
import { integrationsRoutes } from "../pages/integrations.tsx";
import { workspaceSettingsRoutes } from "../pages/workspace_settings.tsx";
import { connectedAccessRoutes } from "../pages/connected_access.tsx";

/** Every OAuth route and every signed-in page, mounted at the origin root. */
export function oauthRoutes(deps: Deps): Hono<AppEnv> {
  const cimd = new CimdResolver(
    deps.db,
    deps.cimdHooks ?? {},
    new FetchBudget({
      perAddress: deps.config.cimdFetchesPerIp,
      total: deps.config.cimdFetchesTotal,
    }),
  );
  const tracer = new OAuthTracer(deps);
  const app = new Hono<AppEnv>();
  app.route("/", metadataRoutes());
  app.route("/", registerRoutes(tracer));
  app.route("/", tokenRoutes(cimd, tracer));
  app.route("/", revokeRoutes(cimd));
  app.route("/", authorizeRoutes(cimd, tracer));
  app.route("/", loginRoutes());
  app.route("/", accountRoutes());
  app.route("/", integrationsRoutes());
  app.route("/", workspaceSettingsRoutes());
  app.route("/", connectedAccessRoutes());
  return app;
}
