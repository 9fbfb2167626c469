/**
 * What a workspace admin has set up yet (the console home's "Getting started"): a model for
 * agents, teammates, a space or Pod, knowledge, a connected AI client. Admins only.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { requireWorkspaceAdmin } from "./access.ts";
import { describeModelSettings } from "./model_settings.ts";

export interface SetupProgress {
  model: boolean;
  teammates: boolean;
  spaces: boolean;
  knowledge: boolean;
  clients: boolean;
}

export async function getSetupProgress(deps: Deps, actor: Actor): Promise<SetupProgress> {
  requireWorkspaceAdmin(actor, "Only workspace admins see the setup progress.");
  const ws = actor.workspace.id;
  const exists = async (sql: string, n = 1) =>
    !!await deps.db.get(sql, ...new Array<number>(n).fill(ws));
  return {
    model: (await describeModelSettings(deps)).source !== "none",
    teammates: await exists(
      "SELECT 1 FROM memberships WHERE workspace_id = ? GROUP BY workspace_id HAVING count(*) > 1",
    ),
    spaces: await exists(
      "SELECT 1 FROM spaces WHERE workspace_id = ? AND kind IN ('regular', 'project') LIMIT 1",
    ),
    knowledge: await exists("SELECT 1 FROM documents WHERE workspace_id = ? LIMIT 1"),
    clients: await exists(
      `SELECT 1 FROM oauth_grants WHERE workspace_id = ? AND revoked_at IS NULL
       UNION ALL SELECT 1 FROM mcp_tokens WHERE workspace_id = ? AND revoked_at IS NULL`,
      2,
    ),
  };
}
