/**
 * Several instances on one database (issue 11): the rows that say which instance does what.
 *
 * - `instances`: one row per running instance, its lease renewed by a heartbeat; an instance
 *   whose lease passed is dead (its work is taken over, its upload reservations released).
 * - `agent_runs`: the lease of each unfinished agent message — the instance running it and until
 *   when; another instance takes an expired one over. Messages unfinished before this
 *   migration get an expired lease (the next start or takeover ends them).
 * - `periodic_jobs`: one row per housekeeping job (orphan-blob sweep, audit and event-log
 *   prunes, reservation cleanup): when it is due next and which instance holds it now.
 * - `relay_results`: client-side MCP results wait here for the run that asked (possibly on
 *   another instance); notifications carry only their ids.
 * - `storage_reservations.instance_id`: the instance whose upload holds the bytes.
 */
export const name = "instances_and_leases";

export const sql = `
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_runs (
  message_id INTEGER PRIMARY KEY REFERENCES agent_messages(message_id) ON DELETE CASCADE,
  instance_id TEXT,
  lease_until INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX agent_runs_lease ON agent_runs(lease_until);
CREATE INDEX agent_runs_instance ON agent_runs(instance_id);
INSERT INTO agent_runs (message_id, instance_id, lease_until, attempts, created_at)
  SELECT message_id, NULL, 0, 0, 0 FROM agent_messages WHERE status = 'created';

CREATE TABLE periodic_jobs (
  name TEXT PRIMARY KEY,
  next_run_at INTEGER NOT NULL DEFAULT 0,
  instance_id TEXT,
  lease_until INTEGER NOT NULL DEFAULT 0,
  last_run_at INTEGER
) STRICT;

CREATE TABLE relay_results (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id TEXT NOT NULL,
  request_id TEXT,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX relay_results_server ON relay_results(server_id, request_id);

ALTER TABLE storage_reservations ADD COLUMN instance_id TEXT;
`;
