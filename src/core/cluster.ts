/**
 * This instance among the others sharing its database (`deps.cluster`). Every third of the
 * work lease (`--work-lease-seconds`, 30 s by default) one tick, never two at once:
 *
 * 1. the heartbeat: this instance's `instances` row is renewed, and the number of live
 *    instances read (per-instance budgets divide by it: {@link Cluster.share});
 * 2. the hooks: the agent runner renews its runs' leases and takes over expired ones;
 * 3. the periodic jobs: leases of the jobs running here are renewed, and due jobs are claimed
 *    (one instance wins each) and started in the background.
 *
 * On SQLite there is one instance and all of this is cheap bookkeeping on the same code path.
 * A tick that fails (the database unreachable) is logged and the next one tries again.
 * @module
 */
import type { Deps } from "../deps.ts";
import { now } from "../db/db.ts";
import { countLiveInstances, heartbeatInstance, removeInstance } from "./instances.ts";
import {
  claimJob,
  dueJobs,
  finishJob,
  makeJobDue,
  type PeriodicJob,
  registerJob,
  renewJobs,
} from "./periodic_jobs.ts";

export type ClusterHook = () => Promise<void>;

export class Cluster {
  /** Instances alive at the last heartbeat (at least 1). */
  liveInstances = 1;
  readonly startedAt = now();
  readonly leaseMs: number;
  readonly #jobs = new Map<string, PeriodicJob>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #hooks: ClusterHook[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<void> | null = null;
  #stopped = false;

  constructor(
    private readonly deps: Pick<Deps, "db" | "log" | "config">,
    readonly instanceId: string,
  ) {
    this.leaseMs = deps.config.workLeaseSeconds * 1000;
  }

  /** How often the tick runs. */
  get tickMs(): number {
    return Math.max(500, Math.floor(this.leaseMs / 3));
  }

  /** The lease end of work renewed now. */
  leaseUntil(at = now()): number {
    return at + this.leaseMs;
  }

  /** This instance's part of a budget meant for all instances together (at least 1). */
  share(limit: number): number {
    return Math.max(1, Math.ceil(limit / this.liveInstances));
  }

  /** Run `hook` on every tick (after the heartbeat, before the jobs). */
  onTick(hook: ClusterHook): void {
    this.#hooks.push(hook);
  }

  /** Add a periodic job (before `start`). */
  addJob(job: PeriodicJob): void {
    this.#jobs.set(job.name, job);
  }

  /** The first heartbeat and the job rows; then a first tick (in the background) and the timer. */
  async start(): Promise<void> {
    await this.#heartbeat();
    for (const job of this.#jobs.values()) {
      await registerJob(this.deps.db, job.name);
      if (job.runAtStart) await makeJobDue(this.deps.db, job.name);
    }
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.tickMs);
  }

  /** One tick now (tests call it to skip the wait); resolves when it ended. */
  tick(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#ticking ??= this.#tickOnce().catch((e) =>
      this.deps.log.warn("cluster tick failed", { error: String(e) })
    ).finally(() => (this.#ticking = null));
    return this.#ticking;
  }

  /** Resolves when every job started so far has ended (tests). */
  async idle(): Promise<void> {
    await this.#ticking;
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  /** Stop ticking, wait for the jobs running here, and leave the instance list. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#ticking;
    await Promise.allSettled([...this.#running.values()]);
    await removeInstance(this.deps.db, this.instanceId).catch((e) =>
      this.deps.log.warn("instance row not removed at stop", { error: String(e) })
    );
  }

  async #heartbeat(): Promise<void> {
    const at = now();
    await heartbeatInstance(this.deps.db, {
      id: this.instanceId,
      startedAt: this.startedAt,
      at,
      leaseUntil: this.leaseUntil(at),
    });
    this.liveInstances = await countLiveInstances(this.deps.db, at);
  }

  async #tickOnce(): Promise<void> {
    await this.#heartbeat();
    for (const hook of this.#hooks) {
      if (this.#stopped) return;
      await hook().catch((e) => this.deps.log.warn("cluster hook failed", { error: String(e) }));
    }
    await renewJobs(this.deps.db, this.instanceId, this.leaseUntil());
    const at = now();
    for (const name of await dueJobs(this.deps.db, at)) {
      const job = this.#jobs.get(name);
      if (!job || this.#running.has(name) || this.#stopped) continue;
      const claimed = await claimJob(this.deps.db, {
        name,
        instanceId: this.instanceId,
        at,
        leaseUntil: this.leaseUntil(at),
      });
      if (claimed) this.#launch(job);
    }
  }

  #launch(job: PeriodicJob): void {
    const p = (async () => {
      try {
        await job.run();
      } catch (e) {
        this.deps.log.warn("periodic job failed", { job: job.name, error: String(e) });
      }
      const at = now();
      await finishJob(this.deps.db, {
        name: job.name,
        instanceId: this.instanceId,
        at,
        nextRunAt: at + job.intervalMs,
      }).catch((e) => this.deps.log.warn("periodic job not released", { error: String(e) }));
    })().finally(() => this.#running.delete(job.name));
    this.#running.set(job.name, p);
  }
}
