/**
 * The queries the agent runner needs that are not one agent message's business: the leases of
 * agent runs, which agent messages are still `created` (to fail them after a crash or restart),
 * and the run-time identity of the message's poster.
 *
 * Leases (`agent_runs`, one row per unfinished agent message): the post that creates an agent
 * message gives its run to the instance that served it (`instance_id`, `lease_until`); that
 * instance renews the leases of all its runs on every cluster tick and deletes a run's row when
 * the run ends. A lease that passed belongs to a dead (or stalled) instance: another instance
 * claims it with `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each other's rows, so each
 * run is taken over once) and ends the message.
 *
 * Messages parked on tool approvals (a checkpoint, tool_approvals.ts) are not unfinished in
 * that sense: nothing runs them, they wait in the database and resume after a restart.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Db } from "../db/db.ts";

/** A `created` agent message, as the runner re-reads it. */
export interface UnfinishedAgentMessage {
  messageSId: string;
  agentSId: string;
  conversationSId: string;
  workspaceId: number;
  workspaceSId: string;
}

/** Agent messages still `created` (oldest first, bounded by `limit`; one sId when given). */
export async function listUnfinishedAgentMessages(
  deps: Pick<Deps, "db">,
  limit = 1000,
  onlySId: string | null = null,
): Promise<UnfinishedAgentMessage[]> {
  const rows = await deps.db.all(
    `SELECT m.s_id, am.agent_s_id, c.s_id AS c_s_id, w.id AS w_id, w.s_id AS w_s_id
     FROM agent_messages am JOIN messages m ON m.id = am.message_id
     JOIN conversations c ON c.id = m.conversation_id JOIN workspaces w ON w.id = m.workspace_id
     WHERE am.status = 'created' AND (CAST(? AS TEXT) IS NULL OR m.s_id = ?)
       AND NOT EXISTS (SELECT 1 FROM agent_run_checkpoints k WHERE k.agent_message_id = am.message_id)
     ORDER BY m.id LIMIT ?`,
    onlySId,
    onlySId,
    limit,
  ) as {
    s_id: string;
    agent_s_id: string;
    c_s_id: string;
    w_id: number;
    w_s_id: string;
  }[];
  return rows.map((r) => ({
    messageSId: r.s_id,
    agentSId: r.agent_s_id,
    conversationSId: r.c_s_id,
    workspaceId: r.w_id,
    workspaceSId: r.w_s_id,
  }));
}

/** The sId of a user by row id (the poster of a message), or null when gone. */
export async function findUserSId(deps: Deps, userId: number): Promise<string | null> {
  const r = await deps.db.get("SELECT s_id FROM users WHERE id = ?", userId) as
    | { s_id: string }
    | undefined;
  return r?.s_id ?? null;
}

/** The sId of a space by row id (a conversation's Pod), when it is a Pod. */
export async function findPodSId(deps: Deps, spaceId: number | null): Promise<string | null> {
  if (spaceId === null) return null;
  const r = await deps.db.get(
    "SELECT s_id FROM spaces WHERE id = ? AND kind = 'project'",
    spaceId,
  ) as { s_id: string } | undefined;
  return r?.s_id ?? null;
}

/** Give a new agent message's run to `instanceId` (inside the post's transaction). */
export async function insertAgentRun(
  db: Db,
  input: { messageId: number; instanceId: string; at: number; leaseUntil: number },
): Promise<void> {
  await db.run(
    `INSERT INTO agent_runs (message_id, instance_id, lease_until, attempts, created_at)
     VALUES (?, ?, ?, 1, ?)`,
    input.messageId,
    input.instanceId,
    input.leaseUntil,
    input.at,
  );
}

/**
 * Take the run of a message that has none (a run resumed after tool approvals): true when this
 * instance now holds it (or already did), false when another instance does (it runs it).
 */
export async function leaseAgentRunHere(
  deps: Pick<Deps, "db" | "instanceId" | "config">,
  messageSId: string,
): Promise<boolean> {
  const at = Date.now();
  await deps.db.run(
    `INSERT INTO agent_runs (message_id, instance_id, lease_until, attempts, created_at)
     SELECT id, ?, ?, 1, ? FROM messages WHERE s_id = ?
     ON CONFLICT (message_id) DO NOTHING`,
    deps.instanceId,
    at + deps.config.workLeaseSeconds * 1000,
    at,
    messageSId,
  );
  const holder = await deps.db.get(
    `SELECT r.instance_id FROM agent_runs r JOIN messages m ON m.id = r.message_id
     WHERE m.s_id = ?`,
    messageSId,
  ) as { instance_id: string | null } | undefined;
  return holder?.instance_id === deps.instanceId;
}

/**
 * Renew the leases of every run `instanceId` holds; returns the sIds of the messages it still
 * holds (a run missing from it was taken over while this instance stalled: it must stop).
 */
export async function renewAgentRuns(
  deps: Pick<Deps, "db">,
  instanceId: string,
  leaseUntil: number,
): Promise<Set<string>> {
  await deps.db.run(
    "UPDATE agent_runs SET lease_until = ? WHERE instance_id = ?",
    leaseUntil,
    instanceId,
  );
  const rows = await deps.db.all(
    `SELECT m.s_id FROM agent_runs r JOIN messages m ON m.id = r.message_id
     WHERE r.instance_id = ?`,
    instanceId,
  ) as { s_id: string }[];
  return new Set(rows.map((r) => r.s_id));
}

/** A run taken over from a dead instance: its message, as the runner ends it. */
export interface TakenOverRun extends UnfinishedAgentMessage {
  status: string;
  attempts: number;
}

/**
 * Claim up to `limit` runs whose lease passed, held by another instance (or by nobody), for
 * `instanceId`. Each is claimed by one instance only, whoever else scans at the same moment.
 */
export async function claimExpiredAgentRuns(
  deps: Pick<Deps, "db">,
  input: { instanceId: string; at: number; leaseUntil: number; limit: number },
): Promise<TakenOverRun[]> {
  const claimed = await deps.db.all(
    `UPDATE agent_runs SET instance_id = ?, lease_until = ?, attempts = attempts + 1
     WHERE message_id IN (
       SELECT message_id FROM agent_runs
       WHERE lease_until < ? AND (instance_id IS NULL OR instance_id <> ?)
       ORDER BY message_id LIMIT ? FOR UPDATE SKIP LOCKED)
     RETURNING message_id, attempts`,
    input.instanceId,
    input.leaseUntil,
    input.at,
    input.instanceId,
    input.limit,
  ) as { message_id: number; attempts: number }[];
  if (claimed.length === 0) return [];
  const attempts = new Map(claimed.map((r) => [Number(r.message_id), Number(r.attempts)]));
  const rows = await deps.db.all(
    `SELECT m.id, m.s_id, am.agent_s_id, am.status, c.s_id AS c_s_id, w.id AS w_id,
       w.s_id AS w_s_id
     FROM agent_messages am JOIN messages m ON m.id = am.message_id
     JOIN conversations c ON c.id = m.conversation_id JOIN workspaces w ON w.id = m.workspace_id
     WHERE am.message_id IN (SELECT value FROM json_each(?))`,
    [...attempts.keys()],
  ) as {
    id: number;
    s_id: string;
    agent_s_id: string;
    status: string;
    c_s_id: string;
    w_id: number;
    w_s_id: string;
  }[];
  return rows.map((r) => ({
    messageSId: r.s_id,
    agentSId: r.agent_s_id,
    conversationSId: r.c_s_id,
    workspaceId: r.w_id,
    workspaceSId: r.w_s_id,
    status: r.status,
    attempts: attempts.get(Number(r.id)) ?? 1,
  }));
}

/** The run of a message ended here: forget its lease (no-op when another instance holds it). */
export async function endAgentRun(
  deps: Pick<Deps, "db">,
  messageSId: string,
  instanceId: string,
): Promise<void> {
  await deps.db.run(
    `DELETE FROM agent_runs WHERE instance_id = ?
       AND message_id = (SELECT id FROM messages WHERE s_id = ?)`,
    instanceId,
    messageSId,
  );
}

/** SQLite at start (one instance): every lease is a previous process's. */
export async function forgetAllAgentRuns(deps: Pick<Deps, "db">): Promise<void> {
  await deps.db.run("DELETE FROM agent_runs");
}
