/**
 * A counter that moves whenever something a credential's per-request check reads may have
 * changed: tokens and grants (revocation, expiry), memberships (removal, role), users (a
 * deletion cascades to memberships) and workspaces (the MCP switches). `/mcp` keeps the result
 * of that check (src/core/mcp_credentials.ts) only while the counter has not moved, so a
 * revocation still refuses the very next request, without one query per request.
 *
 * It moves on:
 * - every statement this process runs that writes one of those tables (its SQL names one of
 *   them), right after the statement and again after the transaction that ran it commits;
 * - SQLite: a commit by another connection to the database file (`PRAGMA data_version`,
 *   read at most every {@link PROBE_INTERVAL_MS}): operator commands in another process;
 * - PostgreSQL: the committed counter the database's triggers add one to in every transaction
 *   that changes one of those tables (migration 0020), whichever instance or process wrote. It is
 *   read once per request, but one read serves every request that arrived before it was sent:
 *   a revocation acknowledged to its client is seen by the next request on any instance (a note
 *   on the bus can arrive after that request; it is not waited for).
 * @module
 */

import { FreshReads } from "../util/fresh_reads.ts";

const TABLES = /\b(mcp_tokens|oauth_grants|memberships|users|workspaces)\b/i;
const WRITES = /\b(insert|update|delete|replace|alter|drop)\b/i;
/** The per-minute `last_used_at` stamps change nothing the check reads. */
const LAST_USED =
  /^\s*UPDATE\s+(mcp_tokens|oauth_grants)\s+SET\s+last_used_at\s*=\s*\?\s+WHERE\s+id\s*=\s*\?\s*$/i;

const known = new Map<string, boolean>();

/** True when `sql` may write what a credential check reads (over-approximated, cached). */
export function touchesCredentials(sql: string): boolean {
  let hit = known.get(sql);
  if (hit === undefined) {
    hit = TABLES.test(sql) && WRITES.test(sql) && !LAST_USED.test(sql);
    if (known.size < 4096) known.set(sql, hit);
  }
  return hit;
}

/**
 * How stale the probe may be: a commit by ANOTHER process (an operator command) or another
 * instance's bus gap is seen within this long. This process's own writes move the epoch
 * synchronously, whatever this interval.
 */
export const PROBE_INTERVAL_MS = 1;

export class CredentialEpoch {
  #n = 0;
  #writes = 0;
  #external: number | undefined;
  #probe: (() => number) | undefined;
  #probedAt = -Infinity;
  #read: (() => Promise<number>) | undefined;
  /** Reads of the database's counter, each started after its callers asked, shared. */
  #reads = new FreshReads<number>();

  /**
   * `probe`: a counter read on every {@link value} that moves when others may have written
   * (SQLite's `PRAGMA data_version`, cheap and synchronous). `read`: the committed counter of
   * a database several instances share (PostgreSQL), read for each {@link value} (coalesced).
   */
  constructor(probe?: () => number, read?: () => Promise<number>) {
    this.#probe = probe;
    this.#read = read;
  }

  /**
   * The current epoch: equal values mean nothing a credential check reads has changed. A
   * promise when the epoch lives in the database: it resolves to a value read after the call.
   */
  value(): number | Promise<number> {
    if (this.#read) return this.#fresh();
    // The probe costs about what the credential query does (SQLite takes its read lock for
    // data_version), so it runs at most once per PROBE_INTERVAL_MS.
    const t = performance.now();
    if (this.#probe && t - this.#probedAt >= PROBE_INTERVAL_MS) {
      this.#probedAt = t;
      const v = this.#probe();
      if (v !== this.#external) {
        this.#external = v;
        this.#n++;
      }
    }
    return this.#n;
  }

  #fresh(): Promise<number> {
    return this.#reads.read("", async () => (await this.#read!()) + this.#n);
  }

  /** Something changed (a transaction that wrote one of the tables committed). */
  bump(): void {
    this.#n++;
  }

  /** Called by the engine before and after it runs `sql`. */
  noteStatement(sql: string): void {
    if (touchesCredentials(sql)) {
      this.#writes++;
      this.#n++;
    }
  }

  /** Statements noted so far: a transaction compares it before and after to bump on commit. */
  get writes(): number {
    return this.#writes;
  }
}
