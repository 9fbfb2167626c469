/**
 * The dependencies every handler and core function receives: a plain object built once by
 * `startServer()` (or by an operator command), no container, no globals.
 * @module
 */
import type { Config } from "./config.ts";
import type { Db } from "./db/db.ts";
import type { BlobStore } from "./storage/blob_store.ts";
import type { Logger } from "./util/log.ts";
import type { EventBus } from "./events/bus.ts";
import type { KeyRing } from "./core/signing_keys.ts";
import type { VerifiedTokenCache } from "./auth/jwt.ts";
import type { Actor } from "./auth/actor.ts";
import type { SearchWorkerPool } from "./core/search_worker.ts";
import type { ExtractPool } from "./extract/pool.ts";
import type { RelayHub } from "./relay/hub.ts";
import type { StreamBudget } from "./events/stream_budget.ts";
import type { AgentRunner } from "./agents/runner.ts";
import type { CimdHooks } from "./oauth/cimd.ts";
import type { Cluster } from "./core/cluster.ts";

export interface Deps {
  config: Config;
  /** This instance's id (random at each start): owner of its leases and upload reservations. */
  instanceId: string;
  db: Db;
  /** File bytes: the data directory's `files/` or an S3-compatible bucket (`--files-url`). */
  files: BlobStore;
  log: Logger;
  events: EventBus;
  keys: KeyRing;
  tokenCache: VerifiedTokenCache;
  /** Client-side MCP relay state: open request streams, register rate limit, timings. */
  relay: RelayHub;
  /** Open event streams per owner and in total, per-stream buffer, large-frame cache. */
  streams: StreamBudget;
  /** Runs agent messages (started by `startServer`); `cancel(messageSId)` stops one. */
  agents: AgentRunner;
  /** The instances sharing the database: heartbeat, live count, leases, periodic jobs. */
  cluster: Cluster;
  /** FTS5 searches and regex greps off the main event loop (terminated on stop). */
  searchWorkers: SearchWorkerPool;
  /** Text extraction of uploaded documents, one killable process each (stopped on stop). */
  extractor: ExtractPool;
  /** Aborted when the server stops: open streams end, background work stops. */
  shutdown: AbortSignal;
  /** TEST HOOK ONLY (StartOptions.cimdFetch): CIMD name resolution + HTTP replacement. */
  cimdHooks?: CimdHooks;
}

/** Hono environment: per-request variables. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** `performance.now()` when the request arrived (the request log's and the OAuth trace's). */
    startedAt: number;
    deps: Deps;
    actor: Actor;
  };
}
