/**
 * Dust's workspace facts for its system key, answered to workspace admins and API keys here:
 * `GET members/emails` (`getActiveMemberEmailsInWorkspace`), `GET verified_domains`
 * (`getWorkspaceVerifiedDomains`), `GET feature_flags` (`getWorkspaceFeatureFlags`).
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import {
  listActiveMemberEmails,
  listFeatureFlags,
  listVerifiedDomains,
  MEMBER_EMAILS_MAX,
} from "../core/workspace_directory.ts";
import { documentRoute } from "./openapi.ts";
import { parseQuery } from "./validate.ts";

const W = "/api/v1/w/:wId";
const WHO = "Workspace admins and API keys (Dust: its system key); anyone else: 404 " +
  "workspace_not_found, as Dust answers.";

const EmailsQuery = z.object({
  activeOnly: z.enum(["true", "false"]).optional().describe(
    "Accepted; every membership of this server is active",
  ),
});

/** Mounted at `/api/v1/w/:wId`. */
export function workspaceDirectoryRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  documentRoute({
    method: "get",
    path: `${W}/members/emails`,
    summary: "Emails of the workspace's members",
    description: `${WHO} At most ${MEMBER_EMAILS_MAX}, oldest membership first.`,
    tags: ["Workspace"],
    query: EmailsQuery,
    response: z.object({ emails: z.array(z.string()) }),
  });
  app.get("/members/emails", async (c) => {
    parseQuery(c, EmailsQuery);
    return c.json(await listActiveMemberEmails(c.var.deps, getActor(c)));
  });

  documentRoute({
    method: "get",
    path: `${W}/verified_domains`,
    summary: "Verified email domains of the workspace (none: this server verifies no domains)",
    description: WHO,
    tags: ["Workspace"],
    response: z.object({
      verified_domains: z.array(
        z.object({ domain: z.string(), domainAutoJoinEnabled: z.boolean() }),
      ),
    }),
  });
  app.get("/verified_domains", (c) => c.json(listVerifiedDomains(c.var.deps, getActor(c))));

  documentRoute({
    method: "get",
    path: `${W}/feature_flags`,
    summary: "Dust feature flags of the workspace (none: they name Dust's own features)",
    description: WHO,
    tags: ["Workspace"],
    response: z.object({ feature_flags: z.array(z.string()) }),
  });
  app.get("/feature_flags", (c) => c.json(listFeatureFlags(c.var.deps, getActor(c))));

  return app;
}
