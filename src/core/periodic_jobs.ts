/**
 * Housekeeping that one instance at a time does (orphan-blob sweep, audit and event-log
 * prunes, release of dead instances' reservations): one `periodic_jobs` row per job says when
 * it is due and which instance holds it. An instance claims a due job with one conditional
 * UPDATE (the row lock makes it one winner), renews its lease while the job runs, and sets the
 * next due time when it ends; a job whose holder died is claimed again once its lease passed.
 * @module
 */
import type { Db } from "../db/db.ts";

/** One job: its name (the row), how often it runs, and the work. */
export interface PeriodicJob {
  name: string;
  intervalMs: number;
  /** Also due whenever an instance starts (still one run at a time). */
  runAtStart?: boolean;
  run(): Promise<unknown>;
}

/** Make a job due now (an instance starting, for a job that runs at every start). */
export async function makeJobDue(db: Db, name: string): Promise<void> {
  await db.run("UPDATE periodic_jobs SET next_run_at = 0 WHERE name = ?", name);
}

/** Make sure the job has its row (due at once when new). */
export async function registerJob(db: Db, name: string): Promise<void> {
  await db.run(
    "INSERT INTO periodic_jobs (name, next_run_at, lease_until) VALUES (?, 0, 0) ON CONFLICT (name) DO NOTHING",
    name,
  );
}

/** Names of the jobs due at `at` that nobody holds. */
export async function dueJobs(db: Db, at: number): Promise<string[]> {
  const rows = await db.all(
    "SELECT name FROM periodic_jobs WHERE next_run_at <= ? AND lease_until <= ?",
    at,
    at,
  ) as { name: string }[];
  return rows.map((r) => r.name);
}

/** Take a due job for `instanceId`; false when another instance took it first or it is not due. */
export async function claimJob(
  db: Db,
  input: { name: string; instanceId: string; at: number; leaseUntil: number },
): Promise<boolean> {
  const r = await db.run(
    `UPDATE periodic_jobs SET instance_id = ?, lease_until = ?
     WHERE name = ? AND next_run_at <= ? AND lease_until <= ?`,
    input.instanceId,
    input.leaseUntil,
    input.name,
    input.at,
    input.at,
  );
  return r.changes === 1;
}

/** Push the leases of the jobs this instance runs. */
export async function renewJobs(db: Db, instanceId: string, leaseUntil: number): Promise<void> {
  await db.run(
    "UPDATE periodic_jobs SET lease_until = ? WHERE instance_id = ? AND lease_until > 0",
    leaseUntil,
    instanceId,
  );
}

/** The job ended (well or not): release it and set when it is due next. */
export async function finishJob(
  db: Db,
  input: { name: string; instanceId: string; at: number; nextRunAt: number },
): Promise<void> {
  await db.run(
    `UPDATE periodic_jobs SET instance_id = NULL, lease_until = 0, next_run_at = ?, last_run_at = ?
     WHERE name = ? AND instance_id = ?`,
    input.nextRunAt,
    input.at,
    input.name,
    input.instanceId,
  );
}

/** When each job last ran and is due next (tests, the operator). */
export async function listJobs(
  db: Db,
): Promise<{ name: string; nextRunAt: number; lastRunAt: number | null; holder: string | null }[]> {
  const rows = await db.all(
    "SELECT name, next_run_at, last_run_at, instance_id FROM periodic_jobs ORDER BY name",
  ) as {
    name: string;
    next_run_at: number;
    last_run_at: number | null;
    instance_id: string | null;
  }[];
  return rows.map((r) => ({
    name: r.name,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
    holder: r.instance_id,
  }));
}
