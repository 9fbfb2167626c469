/**
 * Changing agent configurations: builders create workspace agents (this server's own route;
 * Dust builds agents in its UI) and users mark favourites. Reading lives in `agents.ts`.
 * @module
 */
import type { Deps } from "../deps.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { newSId } from "../util/ids.ts";
import { requireScope, requireUser, requireWorkspaceRole } from "./access.ts";
import { type AgentRow, findAgentBySId, getAgentConfiguration } from "./agents.ts";

export interface CreateAgentInput {
  name: string;
  description: string;
  instructions: string;
  model?: { providerId: string; modelId: string; temperature?: number };
  scope?: "workspace" | "published" | "private";
  pictureUrl?: string;
  maxStepsPerRun?: number;
}

/** Agent names: letters, digits, `_`, `-`, `.` (so `@name` mentions stay unambiguous). */
export const AGENT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Builders and admins create a workspace agent (our own route; Dust builds agents in its UI). */
export async function createAgent(
  deps: Deps,
  actor: Actor,
  input: CreateAgentInput,
): Promise<AgentRow> {
  requireUser(actor, "Creating agents needs a user token.");
  requireScope(actor, "write");
  const user = requireWorkspaceRole(
    actor,
    ["admin", "builder"],
    "Only builders can create agents.",
  );
  if (!AGENT_NAME.test(input.name)) {
    throw invalid("name: 1 to 64 letters, digits, '_', '-' or '.' (no spaces)");
  }
  return await deps.db.tx(async () => {
    const taken = await deps.db.get(
      `SELECT 1 FROM agent_configurations WHERE workspace_id = ? AND lower(name) = lower(?)
       AND status = 'active'`,
      actor.workspace.id,
      input.name,
    );
    if (taken) {
      throw new AppError(
        400,
        "assistant_saving_error",
        `An agent named "${input.name}" already exists.`,
      );
    }
    const t = now();
    const r = await deps.db.get(
      `INSERT INTO agent_configurations (s_id, workspace_id, version, name, description, instructions,
         picture_url, provider_id, model_id, temperature, scope, status, max_steps_per_run, tools,
         author_user_id, created_at, updated_at)
       VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, '["search","files"]', ?, ?, ?) RETURNING s_id`,
      newSId(),
      actor.workspace.id,
      input.name,
      input.description,
      input.instructions,
      input.pictureUrl ?? "",
      input.model?.providerId ?? "openai",
      input.model?.modelId ?? "gpt-4o",
      input.model?.temperature ?? 0.7,
      input.scope ?? "workspace",
      input.maxStepsPerRun ?? 8,
      user.user.id,
      t,
      t,
    );
    return (await findAgentBySId(deps.db, actor.workspace.id, (r as { s_id: string }).s_id))!;
  });
}

/** A user marks an agent they can read as a favourite (or not); Dust's PATCH `{userFavorite}`. */
export async function setAgentFavorite(
  deps: Deps,
  actor: Actor,
  input: { agentId: string; userFavorite: boolean },
): Promise<AgentRow> {
  const user = requireUser(actor, "Favourites belong to a user; API keys have none.");
  requireScope(actor, "write");
  const a = await getAgentConfiguration(deps, actor, { agentId: input.agentId });
  if (input.userFavorite) {
    await deps.db.run(
      "INSERT INTO agent_favorites (user_id, agent_configuration_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      user.user.id,
      a.id,
      now(),
    );
  } else {
    await deps.db.run(
      "DELETE FROM agent_favorites WHERE user_id = ? AND agent_configuration_id = ?",
      user.user.id,
      a.id,
    );
  }
  return a;
}
