/**
 * Changing agent configurations: builders create, edit and archive workspace agents (this
 * server's own routes and the console; Dust builds agents in its UI) and users mark
 * favourites. Reading lives in `agents.ts`, who may edit in `canEditAgent` there.
 * @module
 */
import type { Deps } from "../deps.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { newSId } from "../util/ids.ts";
import { readableSpaceIds, requireScope, requireUser, requireWorkspaceRole } from "./access.ts";
import {
  type AgentRow,
  type AgentScope,
  canEditAgent,
  findAgentBySId,
  getAgentConfiguration,
} from "./agents.ts";
import { listWorkspaceSpaces } from "./space_rows.ts";
import type { Db } from "../db/db.ts";

export interface CreateAgentInput {
  name: string;
  description: string;
  instructions: string;
  model?: { providerId: string; modelId: string; temperature?: number };
  scope?: (typeof EDITABLE_SCOPES)[number];
  pictureUrl?: string;
  maxStepsPerRun?: number;
  /** Internal tools (`search`, `files`); default both. */
  tools?: string[];
  /** Space sIds `search` is limited to (spaces the creator reads); default none = all. */
  spaceIds?: string[];
}

/** The internal tools an agent may be given (src/agents/tools.ts). */
export const AGENT_TOOLS = ["search", "files"] as const;

/** Scopes an edited agent may take (`global` is the built-in agents' only). */
export const EDITABLE_SCOPES = ["workspace", "published", "hidden", "private"] as const;

function validateTools(tools: readonly string[]): string[] {
  const bad = tools.find((t) => !(AGENT_TOOLS as readonly string[]).includes(t));
  if (bad !== undefined) throw invalid(`tools: unknown tool "${bad}" (${AGENT_TOOLS.join(", ")})`);
  return [...new Set(tools)];
}

/** The given space sIds, each a space of the workspace the editor reads (400 otherwise). */
async function validateSpaceIds(db: Db, actor: Actor, sIds: readonly string[]) {
  if (sIds.length > 100) throw invalid("spaceIds: at most 100 spaces");
  if (sIds.length === 0) return [];
  const readable = await readableSpaceIds(db, actor);
  const bySId = new Map((await listWorkspaceSpaces(db, actor.workspace.id)).map((s) => [s.sId, s]));
  for (const sId of sIds) {
    const s = bySId.get(sId);
    if (!s || !readable.has(s.id) || s.kind === "conversations") {
      throw invalid(`spaceIds: "${sId}" is not a space you can read`);
    }
  }
  return [...new Set(sIds)];
}

function validateText(input: { description?: string; instructions?: string }): void {
  if (input.description !== undefined && input.description.length > 1024) {
    throw invalid("description: at most 1024 characters");
  }
  if (
    input.instructions !== undefined &&
    (input.instructions.trim() === "" || input.instructions.length > 100_000)
  ) {
    throw invalid("instructions: 1 to 100,000 characters");
  }
}

function validateModel(m: { providerId: string; modelId: string; temperature?: number }): void {
  if (!/^[\w.:/-]{1,64}$/.test(m.providerId)) throw invalid("model.providerId: 1 to 64 characters");
  if (m.modelId.trim() === "" || m.modelId.length > 128) {
    throw invalid("model.modelId: 1 to 128 characters");
  }
  const t = m.temperature;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0 && t <= 2)) {
    throw invalid("model.temperature: a number from 0 to 2");
  }
}

function validateScope(scope: string | undefined): void {
  if (scope !== undefined && !(EDITABLE_SCOPES as readonly string[]).includes(scope)) {
    throw invalid(`scope: one of ${EDITABLE_SCOPES.join(", ")}`);
  }
}

async function assertNameFree(db: Db, actor: Actor, name: string, exceptId: number | null) {
  const taken = await db.get(
    `SELECT 1 FROM agent_configurations WHERE workspace_id = ? AND lower(name) = lower(?)
     AND status = 'active' AND id <> ?`,
    actor.workspace.id,
    name,
    exceptId ?? -1,
  );
  if (taken) {
    throw new AppError(400, "assistant_saving_error", `An agent named "${name}" already exists.`);
  }
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
  validateText(input);
  if (input.model) validateModel(input.model);
  validateScope(input.scope);
  const tools = validateTools(input.tools ?? AGENT_TOOLS);
  const spaceIds = await validateSpaceIds(deps.db, actor, input.spaceIds ?? []);
  return await deps.db.tx(async () => {
    await assertNameFree(deps.db, actor, input.name, null);
    const t = now();
    const r = await deps.db.get(
      `INSERT INTO agent_configurations (s_id, workspace_id, version, name, description, instructions,
         picture_url, provider_id, model_id, temperature, scope, status, max_steps_per_run, tools,
         space_ids, author_user_id, created_at, updated_at)
       VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?) RETURNING s_id`,
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
      JSON.stringify(tools),
      JSON.stringify(spaceIds),
      user.user.id,
      t,
      t,
    );
    return (await findAgentBySId(deps.db, actor.workspace.id, (r as { s_id: string }).s_id))!;
  });
}

/** Input of {@link updateAgent}: the fields to change (absent = unchanged). */
export interface UpdateAgentInput {
  agentId: string;
  name?: string;
  description?: string;
  instructions?: string;
  model?: { providerId: string; modelId: string; temperature?: number };
  scope?: (typeof EDITABLE_SCOPES)[number];
  tools?: string[];
  spaceIds?: string[];
  maxStepsPerRun?: number;
}

/** The agent the actor may edit: 404 when unreadable, 403 when read-only to them. */
async function requireEditableAgent(deps: Deps, actor: Actor, agentId: string) {
  requireUser(actor, "Editing agents needs a user token.");
  requireScope(actor, "write");
  const a = await getAgentConfiguration(deps, actor, { agentId });
  if (!canEditAgent(actor, a)) {
    throw new AppError(403, "workspace_auth_error", "You cannot edit this agent.");
  }
  return a;
}

/** Edit an agent (its version goes up by one); archived agents are edited as they are. */
export async function updateAgent(
  deps: Deps,
  actor: Actor,
  input: UpdateAgentInput,
): Promise<AgentRow> {
  const a = await requireEditableAgent(deps, actor, input.agentId);
  if (input.name !== undefined && !AGENT_NAME.test(input.name)) {
    throw invalid("name: 1 to 64 letters, digits, '_', '-' or '.' (no spaces)");
  }
  validateText(input);
  if (input.model) validateModel(input.model);
  validateScope(input.scope);
  const steps = input.maxStepsPerRun;
  if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1 && steps <= 32)) {
    throw invalid("maxStepsPerRun: an integer from 1 to 32");
  }
  const tools = input.tools === undefined ? a.tools : validateTools(input.tools);
  const spaceIds = input.spaceIds === undefined
    ? a.spaceIds
    : await validateSpaceIds(deps.db, actor, input.spaceIds);
  const next = {
    name: input.name ?? a.name,
    description: input.description ?? a.description,
    instructions: input.instructions ?? a.instructions,
    providerId: input.model?.providerId ?? a.providerId,
    modelId: input.model?.modelId.trim() ?? a.modelId,
    temperature: input.model?.temperature ?? a.temperature,
    scope: (input.scope ?? a.scope) as AgentScope,
    maxStepsPerRun: steps ?? a.maxStepsPerRun,
  };
  await deps.db.tx(async () => {
    if (a.status === "active") await assertNameFree(deps.db, actor, next.name, a.id);
    await deps.db.run(
      `UPDATE agent_configurations SET version = version + 1, name = ?, description = ?,
         instructions = ?, provider_id = ?, model_id = ?, temperature = ?, scope = ?,
         max_steps_per_run = ?, tools = ?, space_ids = ?, updated_at = ? WHERE id = ?`,
      next.name,
      next.description,
      next.instructions,
      next.providerId,
      next.modelId,
      next.temperature,
      next.scope,
      next.maxStepsPerRun,
      JSON.stringify(tools),
      JSON.stringify(spaceIds),
      now(),
      a.id,
    );
  });
  return (await findAgentBySId(deps.db, actor.workspace.id, a.sId))!;
}

/**
 * Archive an agent: it leaves every list and can no longer be mentioned (messages it wrote
 * stay readable). Archiving an archived agent changes nothing.
 */
export async function archiveAgent(
  deps: Deps,
  actor: Actor,
  input: { agentId: string },
): Promise<AgentRow> {
  const a = await requireEditableAgent(deps, actor, input.agentId);
  if (a.status !== "archived") {
    await deps.db.run(
      "UPDATE agent_configurations SET status = 'archived', version = version + 1, updated_at = ? WHERE id = ?",
      now(),
      a.id,
    );
  }
  return (await findAgentBySId(deps.db, actor.workspace.id, a.sId))!;
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
