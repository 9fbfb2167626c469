/**
 * The `instances` table: one row per running instance, its lease renewed by a heartbeat
 * (src/core/cluster.ts). An instance whose lease passed is dead: its upload reservations are
 * released, and the live count divides per-instance budgets (src/core/rate_limits.ts).
 * @module
 */
import type { Db } from "../db/db.ts";

/** Dead instances' rows are kept this long (for the operator's eyes), then removed. */
const DEAD_ROWS_KEPT_MS = 24 * 3600_000;

/** Record (or renew) this instance's lease. */
export async function heartbeatInstance(
  db: Db,
  input: { id: string; startedAt: number; at: number; leaseUntil: number },
): Promise<void> {
  await db.run(
    `INSERT INTO instances (id, started_at, heartbeat_at, lease_until) VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
       lease_until = excluded.lease_until`,
    input.id,
    input.startedAt,
    input.at,
    input.leaseUntil,
  );
}

/** Instances whose lease has not passed (at least 1: the caller). */
export async function countLiveInstances(db: Db, at: number): Promise<number> {
  const r = await db.get("SELECT count(*) AS n FROM instances WHERE lease_until > ?", at) as {
    n: number;
  };
  return Math.max(1, Number(r.n));
}

/** A clean stop: the instance is gone at once, not after its lease. */
export async function removeInstance(db: Db, id: string): Promise<void> {
  await db.run("DELETE FROM instances WHERE id = ?", id);
}

/**
 * SQLite at start: the database has one instance, this one, so every other row is a previous
 * process's.
 */
export async function forgetOtherInstances(db: Db, id: string): Promise<void> {
  await db.run("DELETE FROM instances WHERE id <> ?", id);
}

/** Upload reservations whose instance is dead (or unknown), and old rows of dead instances. */
export async function releaseDeadInstanceWork(db: Db, at: number): Promise<number> {
  const r = await db.run(
    `DELETE FROM storage_reservations WHERE instance_id IS NULL
       OR instance_id NOT IN (SELECT id FROM instances WHERE lease_until > ?)`,
    at,
  );
  await db.run("DELETE FROM instances WHERE lease_until < ?", at - DEAD_ROWS_KEPT_MS);
  return Number(r.changes);
}
