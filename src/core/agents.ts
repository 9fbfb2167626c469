/**
 * Agent configurations: the global `dust` agent every workspace has, and workspace agents that
 * builders create. One row per agent (the version counter moves in place). Public JSON is the
 * SDK's `LightAgentConfiguration`.
 *
 * Views (`GET assistant/agent_configurations?view=`), following Dust (dust.md §4.6):
 * - `all` (API keys' default): every active agent except private ones;
 * - `list` (users' default; users only): global, workspace and published agents, the
 *   caller's own private agents, and hidden agents they favourited;
 * - `workspace` (scope workspace/visible), `published` (published/hidden), `global`;
 * - `all_unrestricted`: every active agent including others' private ones — admins only,
 *   403 `app_auth_error` for anyone else.
 * - `favorites`: the caller's favourites (users only; set with `setAgentFavorite`).
 * Reading one agent: a private agent exists only for its author.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { isAdmin } from "./access.ts";
import { mapSeries } from "../util/async.ts";

export const AGENT_VIEWS = [
  "all",
  "list",
  "workspace",
  "published",
  "global",
  "favorites",
  "all_unrestricted",
] as const;
export type AgentView = (typeof AGENT_VIEWS)[number];

export type AgentScope = "global" | "workspace" | "published" | "private" | "hidden" | "visible";

export interface AgentRow {
  id: number;
  sId: string;
  version: number;
  name: string;
  description: string;
  instructions: string | null;
  pictureUrl: string;
  providerId: string;
  modelId: string;
  temperature: number;
  scope: AgentScope;
  status: string;
  maxStepsPerRun: number;
  tools: string[];
  /** Space sIds the agent's `search` is limited to; empty = every space the asker reads. */
  spaceIds: string[];
  authorUserId: number | null;
  createdAt: number;
  updatedAt: number;
}

/** The SDK's `LightAgentConfiguration`. */
export interface LightAgentConfiguration {
  id: number;
  sId: string;
  version: number;
  versionCreatedAt: string | null;
  versionAuthorId: number | null;
  name: string;
  description: string;
  instructions: string | null;
  pictureUrl: string;
  status: string;
  scope: AgentScope;
  userFavorite: boolean;
  model: { providerId: string; modelId: string; temperature: number };
  maxStepsPerRun: number;
  visualizationEnabled: boolean;
  templateId: string | null;
  groupIds: string[];
  requestedGroupIds: string[][];
  requestedSpaceIds: string[];
}

// deno-lint-ignore no-explicit-any
function fromRow(r: any): AgentRow {
  return {
    id: r.id,
    sId: r.s_id,
    version: r.version,
    name: r.name,
    description: r.description,
    instructions: r.instructions,
    pictureUrl: r.picture_url,
    providerId: r.provider_id,
    modelId: r.model_id,
    temperature: r.temperature,
    scope: r.scope,
    status: r.status,
    maxStepsPerRun: r.max_steps_per_run,
    tools: JSON.parse(r.tools),
    spaceIds: JSON.parse(r.space_ids ?? "[]"),
    authorUserId: r.author_user_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Shape an agent row as Dust's light configuration (`userFavorite` for the caller). */
export function toLightAgentConfiguration(
  a: AgentRow,
  userFavorite = false,
): LightAgentConfiguration {
  return {
    id: a.id,
    sId: a.sId,
    version: a.version,
    versionCreatedAt: new Date(a.updatedAt).toISOString(),
    versionAuthorId: a.authorUserId,
    name: a.name,
    description: a.description,
    instructions: a.instructions,
    pictureUrl: a.pictureUrl,
    status: a.status,
    scope: a.scope,
    userFavorite,
    model: { providerId: a.providerId, modelId: a.modelId, temperature: a.temperature },
    maxStepsPerRun: a.maxStepsPerRun,
    visualizationEnabled: false,
    templateId: null,
    groupIds: [],
    requestedGroupIds: [],
    requestedSpaceIds: [],
  };
}

/**
 * Rule: a private agent exists only for its author; every other scope for the workspace. A
 * token narrowed on consent also does not see an agent whose knowledge (`spaceIds`) reaches
 * beyond its chosen spaces (Dust's rule for an agent's requested spaces).
 */
export function canReadAgent(actor: Actor, a: AgentRow): boolean {
  if (!agentWithinNarrowing(actor, a)) return false;
  if (a.scope !== "private") return true;
  return actor.kind === "user" && a.authorUserId === actor.user.id;
}

/** Rule: a narrowed token reaches an agent only when all of its knowledge is in its spaces. */
export function agentWithinNarrowing(actor: Actor, a: AgentRow): boolean {
  if (actor.kind !== "user" || !actor.narrowing) return true;
  const chosen = actor.narrowing.spaceSIds;
  return a.spaceIds.every((s) => chosen.has(s));
}

/**
 * Rule: who edits and archives an agent. Global agents (the built-in `dust`) are nobody's;
 * a private agent is its author's alone; builders and admins edit the workspace's other
 * agents. API keys never edit (editing needs a user, as creating does).
 */
export function canEditAgent(actor: Actor, a: AgentRow): boolean {
  if (actor.kind !== "user" || a.scope === "global") return false;
  if (actor.role !== "admin" && actor.role !== "builder") return false;
  return a.scope !== "private" || a.authorUserId === actor.user.id;
}

/** Rule: builders and admins (users) create agents. */
export function canCreateAgents(actor: Actor): boolean {
  return actor.kind === "user" && (actor.role === "admin" || actor.role === "builder");
}

/** An agent of the workspace by sId, whatever its status (null when absent). */
export async function findAgentBySId(
  db: Db,
  workspaceId: number,
  sId: string,
): Promise<AgentRow | null> {
  const r = await db.get(
    "SELECT * FROM agent_configurations WHERE workspace_id = ? AND s_id = ?",
    workspaceId,
    sId,
  );
  return r ? fromRow(r) : null;
}

/** Dust's ordering: the global `dust` agent first, then global agents, then by name. */
function compareAgents(a: AgentRow, b: AgentRow): number {
  const rank = (x: AgentRow) => (x.sId === "dust" ? 0 : x.scope === "global" ? 1 : 2);
  return rank(a) - rank(b) || a.name.localeCompare(b.name, "en", { sensitivity: "base" }) ||
    a.id - b.id;
}

function viewFilter(
  actor: Actor,
  view: AgentView,
  favorites: ReadonlySet<number>,
): (a: AgentRow) => boolean {
  const mine = (a: AgentRow) => actor.kind === "user" && a.authorUserId === actor.user.id;
  switch (view) {
    case "all":
      return (a) => a.scope !== "private";
    case "list":
      return (a) =>
        canReadAgent(actor, a) && (a.scope !== "hidden" || favorites.has(a.id) || mine(a));
    case "workspace":
      return (a) => a.scope === "workspace" || a.scope === "visible";
    case "published":
      return (a) => a.scope === "published" || a.scope === "hidden";
    case "global":
      return (a) => a.scope === "global";
    case "favorites":
      return (a) => favorites.has(a.id) && canReadAgent(actor, a);
    case "all_unrestricted":
      return () => true;
  }
}

/** Row ids of the caller's favourite agents (empty for API keys). */
export async function favoriteAgentIds(db: Db, actor: Actor): Promise<Set<number>> {
  if (actor.kind !== "user") return new Set();
  const rows = await db.all(
    `SELECT f.agent_configuration_id AS id FROM agent_favorites f
     JOIN agent_configurations a ON a.id = f.agent_configuration_id
     WHERE f.user_id = ? AND a.workspace_id = ?`,
    actor.user.id,
    actor.workspace.id,
  ) as { id: number }[];
  return new Set(rows.map((r) => r.id));
}

/** Check who may use a view (Dust's statuses) and return its default when none is given. */
function resolveView(actor: Actor, view: AgentView | undefined): AgentView {
  const v = view ?? (actor.kind === "user" ? "list" : "all");
  if ((v === "list" || v === "favorites") && actor.kind !== "user") {
    throw new AppError(
      401,
      "invalid_request_error",
      `The "${v}" view needs a user; API keys act as the workspace (use view=all).`,
    );
  }
  if (v === "all_unrestricted" && !isAdmin(actor)) {
    throw new AppError(
      403,
      "app_auth_error",
      'Only workspace admins can use view "all_unrestricted".',
    );
  }
  return v;
}

/** The active agents of a view, in Dust's order (workspaces hold at most a few hundred). */
export async function listAgentConfigurations(
  deps: Deps,
  actor: Actor,
  input: { view?: AgentView },
): Promise<AgentRow[]> {
  const view = resolveView(actor, input.view);
  const keep = viewFilter(actor, view, await favoriteAgentIds(deps.db, actor));
  return (await deps.db.all(
    "SELECT * FROM agent_configurations WHERE workspace_id = ? AND status = 'active' LIMIT 5000",
    actor.workspace.id,
  )).map(fromRow).filter((a) => keep(a) && agentWithinNarrowing(actor, a)).sort(compareAgents);
}

/** One agent by sId; unknown, another workspace's, or someone else's private → 404. */
export async function getAgentConfiguration(
  deps: Deps,
  actor: Actor,
  input: { agentId: string },
): Promise<AgentRow> {
  const a = await findAgentBySId(deps.db, actor.workspace.id, input.agentId);
  if (!a || !canReadAgent(actor, a)) {
    throw new AppError(
      404,
      "agent_configuration_not_found",
      "The agent configuration was not found.",
    );
  }
  return a;
}

/**
 * Fuzzy rank of `name` against `query` (lower is better), or null when it does not match:
 * exact, then prefix, then substring, then subsequence (characters in order).
 */
export function fuzzyRank(name: string, query: string): number | null {
  const n = name.toLowerCase();
  const q = query.trim().toLowerCase();
  if (q === "") return 0;
  if (n === q) return 0;
  if (n.startsWith(q)) return 1;
  if (n.includes(q)) return 2 + n.indexOf(q) / 1000;
  let i = 0;
  for (const ch of n) if (ch === q[i]) i++;
  return i === q.length ? 3 + (n.length - q.length) / 1000 : null;
}

/**
 * Dust's `GET assistant/agent_configurations/search?q=`: the agents of the caller's default
 * view (`list` for users, `all` for API keys) whose name matches `q`, best matches first.
 */
export async function searchAgentConfigurations(
  deps: Deps,
  actor: Actor,
  input: { q: string },
): Promise<AgentRow[]> {
  return rankByName(await listAgentConfigurations(deps, actor, {}), input.q);
}

/** Agents whose name matches `query`, best first (ties in Dust's order). */
function rankByName(agents: AgentRow[], query: string): AgentRow[] {
  return agents.map((a) => ({ a, r: fuzzyRank(a.name, query) }))
    .filter((x): x is { a: AgentRow; r: number } => x.r !== null)
    .sort((x, y) => x.r - y.r || compareAgents(x.a, y.a))
    .map((x) => x.a);
}

/** Page size of MCP `list_agents`. */
export const AGENTS_PAGE_SIZE = 25;

/**
 * MCP `list_agents`: the `list` view, optionally fuzzy-filtered and ranked by `name`, 25 per
 * page; `lastValue` is the sId of the previous page's last agent (unknown → empty page).
 */
export async function listAgents(
  deps: Deps,
  actor: Actor,
  input: { name?: string; lastValue?: string },
) {
  let agents = await listAgentConfigurations(deps, actor, { view: "list" });
  if (input.name && input.name.trim() !== "") {
    agents = rankByName(agents, input.name);
  }
  let start = 0;
  if (input.lastValue) {
    const i = agents.findIndex((a) => a.sId === input.lastValue);
    start = i < 0 ? agents.length : i + 1; // an unknown cursor yields an empty page, as Dust
  }
  const page = agents.slice(start, start + AGENTS_PAGE_SIZE);
  const hasMore = start + AGENTS_PAGE_SIZE < agents.length;
  return {
    agents: page.map((a) => ({
      id: a.sId,
      name: a.name,
      description: a.description,
      pictureUrl: a.pictureUrl,
      scope: a.scope,
    })),
    hasMore,
    lastValue: hasMore ? page[page.length - 1].sId : null,
  };
}

/**
 * The agent a user can mention by name (case-insensitive exact match in the `list` view;
 * API keys search the `all` view). Error text as Dust's MCP tools.
 */
export async function findAgentByName(
  deps: Deps,
  actor: Actor,
  input: { name: string },
): Promise<AgentRow> {
  const view: AgentView = actor.kind === "user" ? "list" : "all";
  const wanted = input.name.trim().toLowerCase();
  const hit = (await listAgentConfigurations(deps, actor, { view })).find((a) =>
    a.name.toLowerCase() === wanted
  );
  if (!hit) {
    throw new AppError(
      404,
      "agent_configuration_not_found",
      `No agent found matching name: "${input.name}"`,
    );
  }
  return hit;
}

/**
 * Light configurations for a response; with `withAuthors`, `lastAuthors` names the agent's
 * author (global agents have none).
 */
export async function withLastAuthors(
  deps: Deps,
  actor: Actor,
  rows: AgentRow[],
  withAuthors: boolean,
): Promise<(LightAgentConfiguration & { lastAuthors?: string[] })[]> {
  const favorites = await favoriteAgentIds(deps.db, actor);
  const light = (a: AgentRow) => toLightAgentConfiguration(a, favorites.has(a.id));
  if (!withAuthors) return rows.map(light);
  const nameOf = deps.db.prepare("SELECT first_name, last_name FROM users WHERE id = ?");
  return await mapSeries(rows, async (a) => {
    const u = a.authorUserId === null ? undefined : await nameOf.get(a.authorUserId) as
      | { first_name: string; last_name: string | null }
      | undefined;
    const lastAuthors = u ? [[u.first_name, u.last_name].filter(Boolean).join(" ")] : [];
    return { ...light(a), lastAuthors };
  });
}
