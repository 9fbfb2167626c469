/**
 * Pod tasks (Dust's `ProjectTaskResource`): text, status `todo` | `in_progress` | `done`,
 * assignee, `doneAt` (set when a task becomes done, cleared when it leaves done), linked
 * conversation, created-by user. Every update and the (soft) delete first snapshot the previous
 * state into `pod_task_versions`. The public JSON is Dust's `PodTaskType` (dust.md §1.4).
 *
 * Who: the Pod's members and editors read and write its tasks (API keys never see Pods).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { newResourceId } from "../util/ids.ts";
import { requireReadablePod, requireScope, requireUser } from "./access.ts";
import type { SpaceRow } from "./space_rows.ts";
import { requireReadableConversation } from "./conversation_views.ts";

export type TaskStatus = "todo" | "in_progress" | "done";
export const TASK_STATUSES: readonly TaskStatus[] = ["todo", "in_progress", "done"];

/** Dust's `PodTaskType`. */
export interface PodTaskJson {
  id: number;
  sId: string;
  text: string;
  status: TaskStatus;
  doneAt: number | null;
  user: { sId: string; fullName: string; image: string | null } | null;
  conversationId: string | null;
  agentInstructions: string | null;
  actorRationale: string | null;
  createdByType: "user" | "agent";
  createdByUserId: string | null;
  createdByAgentConfigurationId: string | null;
  markedAsDoneByType: "user" | "agent" | null;
  markedAsDoneByUserId: string | null;
  markedAsDoneByAgentConfigurationId: string | null;
  agentSuggestionStatus: "pending" | "approved" | "rejected" | null;
  agentSuggestionReviewedAt: number | null;
  sources: { sourceType: string; sourceId: string; sourceTitle: string; sourceUrl: string }[];
  createdAt: number;
  updatedAt: number;
}

/** Largest page of tasks one call returns. */
export const MAX_TASKS_PAGE = 500;

const SELECT = `SELECT t.*, a.s_id AS a_sid, a.first_name AS a_first, a.last_name AS a_last,
  a.image_url AS a_image, c.s_id AS c_sid, cu.s_id AS cu_sid, ca.s_id AS ca_sid,
  du.s_id AS du_sid, da.s_id AS da_sid
  FROM pod_tasks t
  LEFT JOIN users a ON a.id = t.assignee_user_id
  LEFT JOIN conversations c ON c.id = t.conversation_id
  LEFT JOIN users cu ON cu.id = t.created_by_user_id
  LEFT JOIN agent_configurations ca ON ca.id = t.created_by_agent_id
  LEFT JOIN users du ON du.id = t.marked_done_by_user_id
  LEFT JOIN agent_configurations da ON da.id = t.marked_done_by_agent_id`;

// deno-lint-ignore no-explicit-any
function toTaskJson(r: any): PodTaskJson {
  return {
    id: r.id,
    sId: r.s_id,
    text: r.text,
    status: r.status,
    doneAt: r.done_at,
    user: r.a_sid
      ? {
        sId: r.a_sid,
        fullName: [r.a_first, r.a_last].filter(Boolean).join(" "),
        image: r.a_image,
      }
      : null,
    conversationId: r.c_sid ?? null,
    agentInstructions: r.agent_instructions,
    actorRationale: null,
    createdByType: r.created_by_type,
    createdByUserId: r.cu_sid ?? null,
    createdByAgentConfigurationId: r.ca_sid ?? null,
    markedAsDoneByType: r.marked_done_by_type,
    markedAsDoneByUserId: r.du_sid ?? null,
    markedAsDoneByAgentConfigurationId: r.da_sid ?? null,
    agentSuggestionStatus: null,
    agentSuggestionReviewedAt: null,
    sources: [],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

async function findTask(db: Db, space: SpaceRow, taskSId: string): Promise<PodTaskJson> {
  const r = await db.get(
    `${SELECT} WHERE t.s_id = ? AND t.space_id = ? AND t.deleted_at IS NULL`,
    taskSId,
    space.id,
  );
  if (!r) throw new AppError(404, "task_not_found", "Task not found.");
  return toTaskJson(r);
}

/** Assignees must be members or editors of the Pod; returns the user row id. */
async function requirePodMember(db: Db, space: SpaceRow, userSId: string): Promise<number> {
  const r = await db.get(
    `SELECT u.id FROM users u JOIN space_members sm ON sm.user_id = u.id
     WHERE u.s_id = ? AND sm.space_id = ?`,
    userSId,
    space.id,
  ) as { id: number } | undefined;
  if (!r) throw invalid(`assigneeId: user ${userSId} is not a member of this Pod`);
  return r.id;
}

export interface CreateTaskInput {
  podId: string;
  text: string;
  status?: TaskStatus;
  assigneeId?: string | null;
  agentInstructions?: string | null;
}

/** A Pod member creates a task (created by `user`). */
export async function createTask(
  deps: Deps,
  actor: Actor,
  input: CreateTaskInput,
): Promise<PodTaskJson> {
  requireScope(actor, "write");
  const user = requireUser(actor);
  const space = await requireReadablePod(deps.db, actor, input.podId);
  const assignee = input.assigneeId
    ? await requirePodMember(deps.db, space, input.assigneeId)
    : null;
  const status = input.status ?? "todo";
  const t = now();
  const sId = newResourceId("tsk");
  await deps.db.run(
    `INSERT INTO pod_tasks (s_id, workspace_id, space_id, text, status, assignee_user_id, done_at,
       agent_instructions, created_by_type, created_by_user_id, marked_done_by_type,
       marked_done_by_user_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'user', ?, ?, ?, ?, ?)`,
    sId,
    actor.workspace.id,
    space.id,
    input.text,
    status,
    assignee,
    status === "done" ? t : null,
    input.agentInstructions ?? null,
    user.user.id,
    status === "done" ? "user" : null,
    status === "done" ? user.user.id : null,
    t,
    t,
  );
  return await findTask(deps.db, space, sId);
}

export interface UpdateTaskInput {
  podId: string;
  taskId: string;
  text?: string;
  status?: TaskStatus;
  assigneeId?: string | null;
  agentInstructions?: string | null;
  conversationId?: string | null;
}

/** Snapshot the current row into `pod_task_versions` (call inside the write transaction). */
async function snapshotTask(db: Db, taskRowId: number): Promise<void> {
  const row = await db.get("SELECT * FROM pod_tasks WHERE id = ?", taskRowId);
  const next = await db.get(
    "SELECT coalesce(max(version), 0) + 1 AS v FROM pod_task_versions WHERE task_id = ?",
    taskRowId,
  ) as { v: number };
  await db.run(
    "INSERT INTO pod_task_versions (task_id, version, snapshot, created_at) VALUES (?, ?, ?, ?)",
    taskRowId,
    next.v,
    JSON.stringify(row),
    now(),
  );
}

/** A Pod member updates a task; the previous state is kept as a version row. */
export async function updateTask(
  deps: Deps,
  actor: Actor,
  input: UpdateTaskInput,
): Promise<PodTaskJson> {
  requireScope(actor, "write");
  const user = requireUser(actor);
  const space = await requireReadablePod(deps.db, actor, input.podId);
  const current = await findTask(deps.db, space, input.taskId);
  const assignee = input.assigneeId === undefined
    ? undefined
    : input.assigneeId === null
    ? null
    : await requirePodMember(deps.db, space, input.assigneeId);
  const conversation = input.conversationId === undefined
    ? undefined
    : input.conversationId === null
    ? null
    : (await requireReadableConversation(deps, actor, input.conversationId)).id;
  const status = input.status ?? current.status;
  const becameDone = status === "done" && current.status !== "done";
  const leftDone = status !== "done" && current.status === "done";
  await deps.db.tx(async () => {
    await snapshotTask(deps.db, current.id);
    const t = now();
    await deps.db.run(
      `UPDATE pod_tasks SET text = coalesce(?, text), status = ?,
         assignee_user_id = CASE WHEN ? = 1 THEN ? ELSE assignee_user_id END,
         conversation_id = CASE WHEN ? = 1 THEN ? ELSE conversation_id END,
         agent_instructions = CASE WHEN ? = 1 THEN ? ELSE agent_instructions END,
         done_at = CASE WHEN ? = 1 THEN ? WHEN ? = 1 THEN NULL ELSE done_at END,
         marked_done_by_type = CASE WHEN ? = 1 THEN 'user' WHEN ? = 1 THEN NULL ELSE marked_done_by_type END,
         marked_done_by_user_id = CASE WHEN ? = 1 THEN ? WHEN ? = 1 THEN NULL ELSE marked_done_by_user_id END,
         updated_at = ?
       WHERE id = ?`,
      input.text ?? null,
      status,
      assignee !== undefined ? 1 : 0,
      assignee ?? null,
      conversation !== undefined ? 1 : 0,
      conversation ?? null,
      input.agentInstructions !== undefined ? 1 : 0,
      input.agentInstructions ?? null,
      becameDone ? 1 : 0,
      t,
      leftDone ? 1 : 0,
      becameDone ? 1 : 0,
      leftDone ? 1 : 0,
      becameDone ? 1 : 0,
      user.user.id,
      leftDone ? 1 : 0,
      t,
      current.id,
    );
  });
  return await findTask(deps.db, space, input.taskId);
}

/** A Pod member deletes a task: soft delete, previous state kept as a version row. */
export async function deleteTask(
  deps: Deps,
  actor: Actor,
  input: { podId: string; taskId: string },
): Promise<{ success: true }> {
  requireScope(actor, "write");
  requireUser(actor);
  const space = await requireReadablePod(deps.db, actor, input.podId);
  const task = await findTask(deps.db, space, input.taskId);
  await deps.db.tx(async () => {
    await snapshotTask(deps.db, task.id);
    const t = now();
    await deps.db.run(
      "UPDATE pod_tasks SET deleted_at = ?, updated_at = ? WHERE id = ?",
      t,
      t,
      task.id,
    );
  });
  return { success: true };
}

/** Number of version rows of a task (its update history length). */
export async function countTaskVersions(db: Db, taskSId: string): Promise<number> {
  return (await db.get(
    "SELECT count(*) AS n FROM pod_task_versions v JOIN pod_tasks t ON t.id = v.task_id WHERE t.s_id = ?",
    taskSId,
  ) as { n: number }).n;
}

export interface ListTasksInput {
  podId: string;
  status?: TaskStatus;
  /** Only tasks assigned to this user sId. */
  assigneeId?: string;
  limit: number;
  /** The sId of the last task of the previous page. */
  cursor?: string;
}

/** REST listing: a Pod's live tasks in creation order, paged by task sId. */
export async function listTasks(
  deps: Deps,
  actor: Actor,
  input: ListTasksInput,
): Promise<{ tasks: PodTaskJson[]; nextCursor: string | null }> {
  const space = await requireReadablePod(deps.db, actor, input.podId);
  const limit = Math.min(Math.max(1, input.limit), MAX_TASKS_PAGE);
  let afterId = 0;
  if (input.cursor) {
    const r = await deps.db.get(
      "SELECT id FROM pod_tasks WHERE s_id = ? AND space_id = ?",
      input.cursor,
      space.id,
    ) as { id: number } | undefined;
    if (!r) throw invalid("cursor: unknown cursor");
    afterId = r.id;
  }
  const rows = await deps.db.all(
    `${SELECT} WHERE t.space_id = ? AND t.deleted_at IS NULL AND t.id > ?
     AND (CAST(? AS TEXT) IS NULL OR t.status = ?) AND (CAST(? AS TEXT) IS NULL OR a.s_id = ?)
     ORDER BY t.id LIMIT ?`,
    space.id,
    afterId,
    input.status ?? null,
    input.status ?? null,
    input.assigneeId ?? null,
    input.assigneeId ?? null,
    limit + 1,
  );
  const tasks = rows.slice(0, limit).map(toTaskJson);
  return { tasks, nextCursor: rows.length > limit ? tasks[tasks.length - 1].sId : null };
}

export interface GetPodTasksInput {
  podId: string;
  assigneeFilter?: "mine" | "all";
  statusFilter?: "open" | "done" | "all";
  /** 1–90: how far back completed tasks are included. */
  daysAgo?: number;
}

/**
 * MCP `get_pod_tasks` (dust.md §1.3): `open` = not done (oldest first), `done` = completed in
 * the last `daysAgo` days (latest first), `all` = open then recently done. At most
 * {@link MAX_TASKS_PAGE} of each.
 */
export async function getPodTasks(deps: Deps, actor: Actor, input: GetPodTasksInput) {
  const space = await requireReadablePod(deps.db, actor, input.podId, { activeOnly: true });
  const assigneeFilter = input.assigneeFilter ?? "all";
  const statusFilter = input.statusFilter ?? "open";
  const daysAgo = input.daysAgo ?? 7;
  if (!Number.isInteger(daysAgo) || daysAgo < 1 || daysAgo > 90) {
    throw invalid("daysAgo: must be a whole number from 1 to 90");
  }
  const mine = assigneeFilter === "mine" ? requireUser(actor).user.id : null;
  const base = `${SELECT} WHERE t.space_id = ? AND t.deleted_at IS NULL
    AND (CAST(? AS BIGINT) IS NULL OR t.assignee_user_id = ?)`;
  const open = statusFilter === "done" ? [] : await deps.db.all(
    `${base} AND t.status != 'done' ORDER BY t.created_at, t.id LIMIT ?`,
    space.id,
    mine,
    mine,
    MAX_TASKS_PAGE,
  );
  const done = statusFilter === "open" ? [] : await deps.db.all(
    `${base} AND t.status = 'done' AND t.done_at >= ? ORDER BY t.done_at DESC, t.id DESC LIMIT ?`,
    space.id,
    mine,
    mine,
    now() - daysAgo * 86_400_000,
    MAX_TASKS_PAGE,
  );
  const tasks = [...open, ...done].map(toTaskJson);
  return {
    count: tasks.length,
    podId: space.sId,
    podName: space.name,
    assigneeFilter,
    statusFilter,
    daysAgo,
    tasks,
  };
}

/** A task assigned to the caller, with its Pod, for the console's home page. */
export interface AssignedTask {
  sId: string;
  text: string;
  status: TaskStatus;
  podId: string;
  podName: string;
  updatedAt: number;
}

/**
 * The caller's open tasks (not done) in Pods they still read and that are not archived, most
 * recently updated first, at most `limit`.
 */
export async function listAssignedTasks(
  deps: Deps,
  actor: Actor,
  input: { limit: number },
): Promise<AssignedTask[]> {
  const user = requireUser(actor);
  const rows = await deps.db.all(
    `SELECT t.s_id, t.text, t.status, t.updated_at, s.s_id AS pod_s_id, s.name AS pod_name
     FROM pod_tasks t JOIN spaces s ON s.id = t.space_id
     JOIN space_members sm ON sm.space_id = s.id AND sm.user_id = ?
     WHERE t.workspace_id = ? AND t.assignee_user_id = ? AND t.deleted_at IS NULL
       AND t.status != 'done' AND s.archived_at IS NULL
     ORDER BY t.updated_at DESC, t.id DESC LIMIT ?`,
    user.user.id,
    actor.workspace.id,
    user.user.id,
    Math.min(Math.max(input.limit, 1), MAX_TASKS_PAGE),
  ) as Record<string, unknown>[];
  return rows.map((r) => ({
    sId: r.s_id as string,
    text: r.text as string,
    status: r.status as TaskStatus,
    podId: r.pod_s_id as string,
    podName: r.pod_name as string,
    updatedAt: Number(r.updated_at),
  }));
}
