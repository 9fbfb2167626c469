/**
 * The console's own pages, mounted at the root by app.ts: home and the workspace picker,
 * invitations, members and groups, spaces and Pods, credentials, the connection doctor. (Sign-in, consent, account,
 * integrations, connected access and settings are mounted with the OAuth routes; audit and
 * model by app.ts.)
 * @module
 */
import { Hono } from "hono";
import type { AppEnv } from "../deps.ts";
import { homeRoutes } from "./home.tsx";
import { inviteRoutes } from "./invite.tsx";
import { membersRoutes } from "./members.tsx";
import { spacesRoutes } from "./spaces.tsx";
import { podsPageRoutes } from "./pods.tsx";
import { credentialsRoutes } from "./credentials.tsx";
import { doctorPageRoutes } from "./doctor.tsx";

export function consoleRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route("/", homeRoutes());
  app.route("/", inviteRoutes());
  app.route("/", membersRoutes());
  app.route("/", spacesRoutes());
  app.route("/", podsPageRoutes());
  app.route("/", credentialsRoutes());
  app.route("/", doctorPageRoutes());
  return app;
}
