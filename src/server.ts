/**
 * `startServer(config)`: opens the database, migrates, loads keys, builds the app and serves
 * it. The returned handle stops everything cleanly (stop accepting, end open streams, close
 * the database) and is `AsyncDisposable` for tests.
 * @module
 */
import { pruneTraces, TRACE_PRUNE_INTERVAL_MS } from "./core/oauth_traces.ts";
import { join, resolve } from "node:path";
import { type Config, StartError } from "./config.ts";
import { openDatabase } from "./db/open.ts";
import type { Db } from "./db/db.ts";
import type { BlobStore } from "./storage/blob_store.ts";
import { LocalFiles } from "./storage/local_files.ts";
import { BLOB_SWEEP_INTERVAL_MS, ORPHAN_MARGIN_MS, sweepOrphanBlobs } from "./core/blob_sweep.ts";
import { clearReservations } from "./core/storage_quota.ts";
import { createLogger, type Logger, type LogSink } from "./util/log.ts";
import { createEventBus, type EventBus } from "./events/bus.ts";
import { loadKeyRing, watchKeyRing } from "./core/signing_keys.ts";
import { VerifiedTokenCache } from "./auth/jwt.ts";
import { onRevoked } from "./auth/revocations.ts";
import { issueSetupToken } from "./core/setup.ts";
import { createApp } from "./app.ts";
import { flushAuditLog, pruneAuditLog } from "./core/audit.ts";
import { EVENT_PRUNE_INTERVAL_MS, pruneExpiredEvents } from "./core/conversation_events.ts";
import { Cluster } from "./core/cluster.ts";
import { forgetOtherInstances, releaseDeadInstanceWork } from "./core/instances.ts";
import { randomString } from "./util/ids.ts";
import type { Deps } from "./deps.ts";
import type { CimdHooks } from "./oauth/cimd.ts";
import { SearchWorkerPool } from "./core/search_worker.ts";
import { ExtractPool } from "./extract/pool.ts";
import { runFullTextJob } from "./db/fulltext_postgres.ts";
import { searchInline } from "./core/search_inline.ts";
import { syncSearchIndex } from "./core/search_index.ts";
import { RelayHub } from "./relay/hub.ts";
import { StreamBudget } from "./events/stream_budget.ts";
import { SlowReaderCut } from "./events/log_stream.ts";
import { AgentRunner } from "./agents/runner.ts";
import { startApprovalSweeper } from "./agents/approval_sweeper.ts";
import { type BackupSchedule, startBackupSchedule } from "./core/backup_schedule.ts";

export interface ServerHandle extends AsyncDisposable {
  /** Base URL the server listens on (http://host:port). */
  url: string;
  port: number;
  deps: Deps;
  /** The one-time setup link printed at start, when no user existed. */
  setupUrl: string | null;
  stop(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

export interface StartOptions {
  logSink?: LogSink;
  /** Called once the port is known (the CLI prints the banner here). */
  onListen?: (handle: { url: string; port: number }) => void;
  /**
   * TEST HOOK: replace DNS resolution and the HTTP call of CIMD document fetches, so tests can
   * serve metadata documents from 127.0.0.1 under a public name. The SSRF address check still
   * runs on the addresses `resolveHost` returns. Never set in production (the CLI cannot).
   */
  cimdFetch?: CimdHooks;
}

/** How long stop() waits for in-flight responses before closing the database anyway. */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * `server.shutdown()` waits for every open response. Event streams end on `deps.shutdown`;
 * this bound keeps a stuck response (a client that stopped reading) from blocking exit.
 */
export async function shutdownWithin(
  server: Deno.HttpServer,
  ms: number,
  log: Logger,
): Promise<void> {
  let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
  const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms)));
  const gaveUp = await Promise.race([server.shutdown().then(() => false), timedOut]);
  clearTimeout(timer);
  if (gaveUp) log.warn("shutdown grace period over; open responses abandoned", { ms });
}

/**
 * Errors reaching `Deno.serve` (the app renders its own, so these are response bodies that
 * failed): a slow event-stream reader cut on purpose is routine; anything else is reported as
 * Deno's default handler does.
 */
function onServeError(e: unknown, log: Logger): Response {
  if (e instanceof SlowReaderCut) log.debug("event stream response aborted", { reason: e.message });
  else console.error(e);
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * The configuration with the port the server listens on in its public URL, when it was asked
 * for port 0 and its public URL names port 0 (the default `http://localhost:<port>`).
 */
export function withListeningPort(config: Config, port: number): Config {
  if (config.port !== 0) return config;
  const url = new URL(config.publicUrl);
  if (url.port !== "0") return config;
  url.port = String(port);
  return Object.freeze({ ...config, port, publicUrl: url.origin });
}

/** Paths inside the data directory. */
export function dataPaths(dataDir: string) {
  const root = resolve(dataDir);
  return { root, db: join(root, "dust-mcp.db"), files: join(root, "files") };
}

/**
 * Open the configured database — SQLite in the data directory, or `--database-url` — (used by
 * the server and by operator commands) and, unless told not to (the `migrate` command reports
 * what it applies), migrate it.
 */
export async function openConfiguredDatabase(
  config: Pick<Config, "dataDir" | "databaseUrl">,
  options: { migrate?: boolean } = {},
): Promise<Db> {
  return await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    migrate: options.migrate,
  });
}

/**
 * The blob store `--files-url` names (unset: the data directory's `files/`), ready to serve.
 * An S3 store that does not answer, or whose bucket is missing or refuses these credentials,
 * is a StartError naming the setting (the CLI prints one line and exits 1).
 */
export async function openBlobStore(config: Config): Promise<BlobStore> {
  if (!config.filesUrl) {
    const local = new LocalFiles(config.dataDir);
    await local.init({ shared: config.databaseUrl !== null });
    return local;
  }
  // Loaded only when configured: local files pay nothing for the S3 client at start.
  const { S3Files } = await import("./storage/s3_files.ts");
  const store = new S3Files(config.filesUrl, {
    credentials: {
      accessKeyId: config.awsAccessKeyId ?? "",
      secretAccessKey: config.awsSecretAccessKey ?? "",
      sessionToken: config.awsSessionToken ?? undefined,
    },
  });
  try {
    await store.init();
  } catch (e) {
    await store.close();
    throw new StartError(`--files-url: ${(e as Error).message}`);
  }
  return store;
}

/**
 * The orphan-blob sweep. Local files on SQLite: one sweep of every blob now, before anything
 * can write one (agent runs resume and requests arrive later), as before. A store other
 * instances may write to: a periodic job (one instance at a time, hourly) that sweeps with the
 * margin. Housekeeping: a sweep that fails leaves orphans for the next one.
 */
async function sweepBlobsAtStart(
  deps: Pick<Deps, "db" | "files">,
  log: Logger,
): Promise<boolean> {
  if (deps.files.kind === "s3" || deps.db.engine !== "sqlite") return false;
  await sweepOrphanBlobs(deps).then(
    (sweep) => log.info("orphan blobs swept", { ...sweep }),
    (e) => log.warn("orphan blob sweep failed", { error: String(e) }),
  );
  return true;
}

/** The bus: in-process on SQLite (one instance), LISTEN/NOTIFY on PostgreSQL. */
async function openEventBus(db: Db, instanceId: string, log: Logger): Promise<EventBus> {
  const onError = (e: unknown) => log.error("event listener failed", { error: String(e) });
  if (db.engine !== "postgres") return createEventBus(onError);
  // Loaded only then, as the driver itself.
  const { PostgresDb } = await import("./db/postgres.ts");
  const { PgEventBus } = await import("./events/pg_bus.ts");
  const pg = db as InstanceType<typeof PostgresDb>;
  const bus = new PgEventBus(pg.url, pg.sql, instanceId, log);
  try {
    await bus.start();
  } catch (e) {
    throw new StartError(`--database-url: cannot LISTEN: ${(e as Error).message}`);
  }
  return bus;
}

/** The housekeeping every instance offers and one at a time does. */
function addPeriodicJobs(deps: Deps, sweptAtStart: boolean): void {
  const { cluster, db, log } = deps;
  cluster.addJob({
    name: "event-log-prune",
    intervalMs: EVENT_PRUNE_INTERVAL_MS,
    run: async () => await pruneExpiredEvents(deps),
  });
  cluster.addJob({
    name: "audit-prune",
    intervalMs: 3600_000,
    run: async () => await pruneAuditLog(db, Date.now(), deps.config.auditMaxEntries),
  });
  cluster.addJob({
    name: "oauth-trace-prune",
    intervalMs: TRACE_PRUNE_INTERVAL_MS,
    run: async () => void await pruneTraces(db, Date.now()),
  });
  cluster.addJob({
    name: "dead-instance-work",
    intervalMs: cluster.leaseMs,
    run: async () => {
      const released = await releaseDeadInstanceWork(db, Date.now());
      if (released > 0) log.info("storage reservations released", { released, dead: true });
    },
  });
  if (!sweptAtStart) {
    cluster.addJob({
      name: "blob-sweep",
      intervalMs: BLOB_SWEEP_INTERVAL_MS,
      runAtStart: true,
      run: async () => {
        const sweep = await sweepOrphanBlobs(deps, { olderThanMs: ORPHAN_MARGIN_MS });
        log.info("orphan blobs swept", { ...sweep });
      },
    });
  }
}

export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<ServerHandle> {
  const log: Logger = createLogger(config.logLevel, options.logSink);
  const files = await openBlobStore(config);
  const db = await openConfiguredDatabase(config).catch(async (e) => {
    await files.close();
    throw e;
  });
  const instanceId = `ins_${randomString(16)}`;
  const sweptAtStart = await sweepBlobsAtStart({ db, files }, log);
  // One instance (SQLite): no upload is in flight now, so a reservation left is a stopped
  // upload's. Several: only those of instances no longer alive (a periodic job does it later).
  if (db.engine === "sqlite") await forgetOtherInstances(db, instanceId);
  const released = db.engine === "sqlite"
    ? await clearReservations(db)
    : await releaseDeadInstanceWork(db, Date.now());
  if (released > 0) log.info("storage reservations released", { released });
  // Before searches run: index content from before partitions (migration 0005) and anything a
  // cascade or a space change left pending.
  const indexWork = await syncSearchIndex(db);
  if (Object.values(indexWork).some((n) => n > 0)) {
    log.info("search index updated", { ...indexWork });
  }
  const lifecycle = new AbortController();
  const events = await openEventBus(db, instanceId, log).catch(async (e) => {
    await db.close();
    await files.close();
    throw e;
  });
  const keys = await loadKeyRing(db);
  const tokenCache = new VerifiedTokenCache();
  const deps: Deps = {
    config,
    instanceId,
    db,
    files,
    log,
    events,
    keys,
    tokenCache,
    relay: new RelayHub(lifecycle.signal),
    streams: new StreamBudget({
      perOwner: config.streamsPerUser,
      total: config.streamsTotal,
      bufferBytes: config.streamBufferKib * 1024,
    }),
    agents: new AgentRunner(),
    cluster: new Cluster({ db, log, config }, instanceId),
    searchWorkers: new SearchWorkerPool({
      dbPath: db.engine === "sqlite" ? dataPaths(config.dataDir).db : null,
      direct: db.engine === "postgres" ? (job) => runFullTextJob(db, job) : undefined,
      inline: db.engine === "sqlite" && config.searchInlineMaxChunks > 0
        ? (request) => searchInline(db, request, config.searchInlineMaxChunks)
        : undefined,
      size: config.searchWorkers,
      memberConcurrency: config.searchMemberConcurrency,
      memberQueue: config.searchMemberQueue,
      refusalDelayMs: config.searchRefusalDelayMs,
      log,
    }),
    extractor: new ExtractPool({
      processes: config.extractProcesses,
      timeoutMs: config.extractTimeoutSeconds * 1000,
      memoryBytes: config.extractMemory,
      log,
    }),
    shutdown: lifecycle.signal,
    cimdHooks: options.cimdFetch,
  };
  watchKeyRing(deps);
  onRevoked(events, (note) => {
    if (note === null) tokenCache.clear();
    else if (note.kind === "oauth" && note.sId) tokenCache.drop({ grantSId: note.sId });
  });
  addPeriodicJobs(deps, sweptAtStart);
  const app = createApp(deps);
  await deps.agents.start(deps);
  const approvals = startApprovalSweeper(deps);
  // Scheduled backups (--backup-dir; SQLite only, enforced by the config).
  const backups: BackupSchedule | null = config.backupDir
    ? startBackupSchedule(deps, dataPaths(config.dataDir).db)
    : null;
  await deps.cluster.start();

  let resolveListening!: (v: { port: number }) => void;
  const listening = new Promise<{ port: number }>((r) => (resolveListening = r));
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port: config.port,
      hostname: config.host,
      onListen: (addr) => {
        const port = (addr as Deno.NetAddr).port;
        // `--port 0` with the default public URL: the URL names the port the system chose,
        // before any request is served (links, the OAuth issuer and the banner use it).
        deps.config = withListeningPort(config, port);
        resolveListening({ port });
      },
      onError: (e) => onServeError(e, log),
    }, app.fetch);
  } catch (e) {
    // Listening failed (port in use, bad host): release what was started so a caller that
    // reports or retries leaks neither the database nor timers and workers.
    lifecycle.abort();
    await approvals.stop();
    deps.searchWorkers.close();
    await deps.extractor.close();
    await backups?.stop();
    await deps.cluster.stop();
    await events.close();
    await db.close();
    await files.close();
    throw e;
  }
  const { port } = await listening;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;

  const setupToken = await issueSetupToken(db, instanceId);
  const publicUrl = deps.config.publicUrl;
  const setupUrl = setupToken ? `${publicUrl}/setup?token=${setupToken}` : null;
  log.info("listening", { url, publicUrl, region: config.regionId });
  options.onListen?.({ url, port });

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      lifecycle.abort();
      await approvals.stop();
      await deps.agents.stop();
      await shutdownWithin(server, SHUTDOWN_GRACE_MS, log);
      await flushAuditLog(db).catch((e) =>
        log.error("audit flush at stop failed", { error: String(e) })
      );
      deps.searchWorkers.close();
      await deps.extractor.close();
      await backups?.stop();
      await deps.cluster.stop();
      await events.close();
      await db.close();
      await files.close();
      log.info("stopped");
    })();
    return stopping;
  };

  return {
    url,
    port,
    deps,
    setupUrl,
    stop,
    finished: server.finished,
    [Symbol.asyncDispose]: stop,
  };
}
