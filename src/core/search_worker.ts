/**
 * A small pool of search workers (`search_worker_main.ts`), each with its own read-only
 * SQLite connection (WAL lets readers run beside the writer). A common-term FTS5 query ranks
 * every match (~19 ms for 24k matches, perf.md); on the main thread that time would stall
 * every other request. Here it stalls only its worker.
 *
 * Fair by construction (issue 10, finding 8: 64 concurrent searches by one member moved
 * another workspace's 1 ms search to ~4 s). Every job names its owner (workspace + member):
 * - a member runs at most `memberConcurrency` jobs at once (default 1, below the pool size,
 *   so one member never holds every worker) and waits with at most `memberQueue` more; past
 *   that the job is refused with 429 `rate_limit_error` (REST envelope, MCP `isError`),
 *   answered after `refusalDelayMs` (its Retry-After): a client that retries a refusal at once
 *   would otherwise turn 64 connections into thousands of refusals a second, which cost the
 *   main thread what the queue saved (measured: another workspace's p50 ×15 against ×1.7);
 * - a free worker takes the next job round-robin across workspaces, then across members
 *   within the workspace (the least recently served first) — never first-come-first-served,
 *   so a flood queues behind itself.
 *
 * Jobs carry ids; each has a timeout, after which its worker is terminated (the only way to
 * stop a runaway regex or query) and replaced on demand. Workers start lazily, so a server
 * that never searches never spawns one; `close()` terminates them all (called on server stop).
 *
 * `deno compile`: Deno's docs say worker code is not embedded by default; the `compile` task
 * passes `--include src/core/search_worker_main.ts`, and the module is referenced statically
 * (`new URL("./search_worker_main.ts", import.meta.url)`) so the embedded copy resolves.
 * @module
 */
import type { Actor } from "../auth/actor.ts";
import { AppError, rateLimited } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import type { SearchHit, SearchRequest } from "./search_query.ts";
import type { GrepRequest, GrepResult } from "./grep_query.ts";
import type { DocumentHit, NodeQueryRequest } from "./node_query.ts";

export interface SearchWorkerPoolOptions {
  /** The SQLite file the workers read (their own read-only connections). */
  dbPath: string | null;
  /**
   * Runs search and node jobs in this process instead (PostgreSQL: the query runs in the
   * database's processes, nothing blocks this loop). Greps always run on workers. The pool's
   * budgets, fairness and timeouts apply alike; a timed-out query's result is dropped.
   */
  direct?: (job: Exclude<Job, { kind: "grep" }>) => Promise<unknown>;
  /**
   * SQLite: answers a search on the main thread when it is small enough (bounded cost: no
   * worker round trip, which costs more than a small query), or null to use a worker.
   */
  inline?: (request: SearchRequest) => Promise<SearchHit[] | null>;
  /** Number of workers (default 2: this runs on 2-core machines beside the main loop). */
  size?: number;
  /** Jobs waiting (all owners) beyond this are refused with 503 rather than queued. */
  maxQueue?: number;
  /** Jobs one member runs at once (default 1). */
  memberConcurrency?: number;
  /** Jobs one member may have waiting beyond those (default 8); past it, 429. */
  memberQueue?: number;
  /** How long a refusal (429) is held before it is answered (default 1,000 ms; 0: at once). */
  refusalDelayMs?: number;
  log?: Logger;
}

/** Who a job is for: its workspace and member (a user, or an API key), for fair scheduling. */
export interface SearchOwner {
  workspaceId: number;
  /** Unique across the instance: `user:<id>` or `key:<credential id>`. */
  member: string;
}

/** Refusals held at once at most; past it they are answered at once (memory stays bounded). */
const HELD_REFUSALS_MAX = 10_000;

/** Jobs the server runs for itself (and tests of the pool alone). */
export const UNATTRIBUTED: SearchOwner = { workspaceId: 0, member: "server" };

/** The owner of the jobs an actor submits. */
export function searchOwnerOf(actor: Actor): SearchOwner {
  return {
    workspaceId: actor.workspace.id,
    member: actor.kind === "user" ? `user:${actor.user.id}` : `key:${actor.credential.id}`,
  };
}

/** How a job is submitted: for whom, and how long it may run. */
export interface JobOptions {
  owner?: SearchOwner;
  timeoutMs?: number;
}

/** A job ran past its time limit (its worker was terminated). */
class JobTimeout extends Error {
  override name = "JobTimeout";
}

export type Job =
  | { kind: "search"; request: SearchRequest }
  | { kind: "grep"; request: GrepRequest }
  | { kind: "nodes"; request: NodeQueryRequest };

interface Pending {
  id: number;
  job: Job;
  owner: SearchOwner;
  timeoutMs: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** A refusal waiting to be answered. */
interface HeldRefusal {
  timer: Awaited<ReturnType<typeof setTimeout>>;
  answer: () => void;
}

interface Slot {
  /** Null for a slot that runs jobs with `direct` (no thread). */
  worker: Worker | null;
  /** The worker has loaded its modules (its job's time limit runs from then). */
  ready: boolean;
  busy: Pending | null;
  timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
}

/** The search worker pool kept in `deps.searchWorkers`. */
export class SearchWorkerPool {
  readonly #dbPath: string | null;
  readonly #direct: SearchWorkerPoolOptions["direct"];
  readonly #inline: SearchWorkerPoolOptions["inline"];
  /** Searches answered inline so far (tests and the benchmark). */
  inlineCount = 0;
  readonly #size: number;
  readonly #maxQueue: number;
  readonly #memberConcurrency: number;
  readonly #memberQueue: number;
  readonly #refusalDelayMs: number;
  readonly #heldRefusals = new Set<HeldRefusal>();
  readonly #log?: Logger;
  readonly #slots: Slot[] = [];
  /** Waiting jobs: workspace → member → FIFO. */
  readonly #waiting = new Map<number, Map<string, Pending[]>>();
  readonly #waitingPerMember = new Map<string, number>();
  readonly #runningPerMember = new Map<string, number>();
  readonly #runningPerWorkspace = new Map<number, number>();
  /** When each workspace and member with jobs waiting or running last had one started. */
  readonly #servedWorkspace = new Map<number, number>();
  readonly #servedMember = new Map<string, number>();
  #tick = 0;
  #waitingCount = 0;
  #nextId = 1;
  #closed = false;

  constructor(options: SearchWorkerPoolOptions) {
    this.#dbPath = options.dbPath;
    this.#direct = options.direct;
    this.#inline = options.inline;
    this.#size = Math.max(1, options.size ?? 2);
    this.#maxQueue = options.maxQueue ?? 256;
    this.#memberConcurrency = Math.max(1, options.memberConcurrency ?? 1);
    this.#memberQueue = Math.max(0, options.memberQueue ?? 8);
    this.#refusalDelayMs = Math.max(0, options.refusalDelayMs ?? 1000);
    this.#log = options.log;
  }

  /** Workers currently alive (for tests and the benchmark). */
  get workerCount(): number {
    return this.#slots.length;
  }

  /** Run an FTS query on a worker; 503 when it exceeds `timeoutMs` or the pool is saturated. */
  async search(request: SearchRequest, options: JobOptions = {}): Promise<SearchHit[]> {
    // Inline only for a member with nothing in the pool: one who already waits for a worker
    // keeps the pool's budget and order (429 past it), as before.
    const member = (options.owner ?? UNATTRIBUTED).member;
    if (this.#inline && !this.#closed && this.#inFlight(member) === 0) {
      const hits = await this.#inline(request);
      if (hits) {
        this.inlineCount++;
        return hits;
      }
    }
    return await this.#submitSearch({ kind: "search", request }, options) as SearchHit[];
  }

  /** Run a node (title) search on a worker; 503 past `timeoutMs` or when saturated. */
  async nodes(request: NodeQueryRequest, options: JobOptions = {}): Promise<DocumentHit[]> {
    return await this.#submitSearch({ kind: "nodes", request }, options) as DocumentHit[];
  }

  /** A search-like job: a timeout is the server's limit, answered as 503 to the caller. */
  async #submitSearch(job: Job, options: JobOptions): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    try {
      return await this.#submit(job, options.owner ?? UNATTRIBUTED, timeoutMs);
    } catch (e) {
      if (!(e instanceof JobTimeout)) throw e;
      throw new AppError(
        503,
        "service_unavailable",
        `The search took longer than ${timeoutMs} ms and was stopped. Try a more specific query.`,
      );
    }
  }

  /** Run a grep on a worker; a timeout answers `{error}` (the pattern is at fault, not us). */
  async grep(request: GrepRequest, options: JobOptions = {}): Promise<GrepResult> {
    const timeoutMs = options.timeoutMs ?? 2_000;
    try {
      return await this.#submit(
        { kind: "grep", request },
        options.owner ?? UNATTRIBUTED,
        timeoutMs,
      ) as GrepResult;
    } catch (e) {
      if (!(e instanceof JobTimeout)) throw e;
      return {
        matches: [],
        capped: false,
        error: `The pattern took longer than ${
          timeoutMs / 1000
        } s to evaluate and was stopped. Simplify the regular expression.`,
      };
    }
  }

  /** Terminate every worker and fail whatever is queued or running. */
  close(): void {
    this.#closed = true;
    for (const held of [...this.#heldRefusals]) held.answer();
    const stopped = new AppError(503, "service_unavailable", "The server is stopping.");
    for (const slot of this.#slots.splice(0)) {
      clearTimeout(slot.timer);
      slot.worker?.terminate();
      slot.busy?.reject(stopped);
    }
    for (const members of this.#waiting.values()) {
      for (const jobs of members.values()) for (const p of jobs) p.reject(stopped);
    }
    this.#waiting.clear();
    this.#waitingPerMember.clear();
    this.#runningPerMember.clear();
    this.#runningPerWorkspace.clear();
    this.#servedWorkspace.clear();
    this.#servedMember.clear();
    this.#waitingCount = 0;
  }

  #submit(job: Job, owner: SearchOwner, timeoutMs: number): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new AppError(503, "service_unavailable", "The server is stopping."));
    }
    const inFlight = this.#inFlight(owner.member);
    if (inFlight >= this.#memberConcurrency + this.#memberQueue) {
      return this.#refuseLater(rateLimited(
        `Too many searches in progress: at most ${this.#memberConcurrency} running and ` +
          `${this.#memberQueue} waiting per member. Retry when one has finished.`,
        Math.max(1, Math.ceil(this.#refusalDelayMs / 1000)),
      ));
    }
    if (this.#waitingCount >= this.#maxQueue) {
      return Promise.reject(
        new AppError(503, "service_unavailable", "Too many searches in progress; retry shortly."),
      );
    }
    return new Promise((resolve, reject) => {
      this.#enqueue({ id: this.#nextId++, job, owner, timeoutMs, resolve, reject });
      this.#dispatch();
    });
  }

  /** The member's jobs running or waiting in the pool. */
  #inFlight(member: string): number {
    return (this.#waitingPerMember.get(member) ?? 0) + (this.#runningPerMember.get(member) ?? 0);
  }

  /** A refusal answered after the delay (at once when the delay is 0 or too many are held). */
  #refuseLater(error: AppError): Promise<never> {
    if (this.#refusalDelayMs === 0 || this.#heldRefusals.size >= HELD_REFUSALS_MAX) {
      return Promise.reject(error);
    }
    return new Promise((_, reject) => {
      const held: HeldRefusal = {
        timer: setTimeout(() => held.answer(), this.#refusalDelayMs),
        answer: () => {
          clearTimeout(held.timer);
          this.#heldRefusals.delete(held);
          reject(error);
        },
      };
      this.#heldRefusals.add(held);
    });
  }

  #enqueue(p: Pending): void {
    let members = this.#waiting.get(p.owner.workspaceId);
    if (!members) this.#waiting.set(p.owner.workspaceId, members = new Map());
    const jobs = members.get(p.owner.member);
    if (jobs) jobs.push(p);
    else members.set(p.owner.member, [p]);
    this.#count(this.#waitingPerMember, p.owner.member, 1);
    this.#waitingCount++;
  }

  /**
   * The next job to run: the least recently served workspace with a member below its
   * concurrency, then that workspace's least recently served such member (its oldest job).
   */
  #takeNext(): Pending | null {
    let best: { workspaceId: number; member: string; jobs: Pending[]; stamp: number } | null = null;
    for (const [workspaceId, members] of this.#waiting) {
      const stamp = this.#servedWorkspace.get(workspaceId) ?? -1;
      if (best && stamp >= best.stamp) continue;
      let pick: { member: string; jobs: Pending[]; stamp: number } | null = null;
      for (const [member, jobs] of members) {
        if ((this.#runningPerMember.get(member) ?? 0) >= this.#memberConcurrency) continue;
        const m = this.#servedMember.get(member) ?? -1;
        if (!pick || m < pick.stamp) pick = { member, jobs, stamp: m };
      }
      if (pick) best = { workspaceId, member: pick.member, jobs: pick.jobs, stamp };
    }
    if (!best) return null;
    const p = best.jobs.shift()!;
    const members = this.#waiting.get(best.workspaceId)!;
    if (best.jobs.length === 0) members.delete(best.member);
    if (members.size === 0) this.#waiting.delete(best.workspaceId);
    this.#count(this.#waitingPerMember, best.member, -1);
    this.#waitingCount--;
    this.#tick++;
    this.#servedWorkspace.set(best.workspaceId, this.#tick);
    this.#servedMember.set(best.member, this.#tick);
    return p;
  }

  /** A job left its worker: count it, and forget owners with nothing left waiting or running. */
  #finished(p: Pending): void {
    const { workspaceId, member } = p.owner;
    this.#count(this.#runningPerMember, member, -1);
    const n = (this.#runningPerWorkspace.get(workspaceId) ?? 0) - 1;
    if (n > 0) this.#runningPerWorkspace.set(workspaceId, n);
    else this.#runningPerWorkspace.delete(workspaceId);
    if (!this.#runningPerMember.has(member) && !this.#waitingPerMember.has(member)) {
      this.#servedMember.delete(member);
    }
    if (!this.#runningPerWorkspace.has(workspaceId) && !this.#waiting.has(workspaceId)) {
      this.#servedWorkspace.delete(workspaceId);
    }
  }

  #count(counts: Map<string, number>, member: string, delta: number): void {
    const n = (counts.get(member) ?? 0) + delta;
    if (n > 0) counts.set(member, n);
    else counts.delete(member);
  }

  #dispatch(): void {
    while (this.#waitingCount > 0) {
      let slot = this.#slots.find((s) => s.busy === null);
      if (!slot && this.#slots.length >= this.#size) return;
      const p = this.#takeNext();
      if (!p) return;
      slot ??= this.#spawn();
      this.#start(slot, p);
    }
  }

  #spawn(): Slot {
    const slot: Slot = { worker: null, ready: false, busy: null, timer: undefined };
    if (!this.#direct) this.#spawnWorker(slot);
    this.#slots.push(slot);
    return slot;
  }

  /** Start the slot's worker thread (with `direct`, only when a grep first needs one). */
  #spawnWorker(slot: Slot): Worker {
    const worker = new Worker(new URL("./search_worker_main.ts", import.meta.url).href, {
      type: "module",
    });
    slot.worker = worker;
    worker.onmessage = (
      e: MessageEvent<
        { id: number; ok: boolean; ready?: boolean; result?: unknown; error?: string }
      >,
    ) => {
      if (e.data.ready) {
        slot.ready = true;
        if (slot.busy && slot.timer === undefined) this.#arm(slot, slot.busy);
      } else this.#settle(slot, e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#log?.error("search worker crashed", { error: e.message });
      this.#retire(slot, new AppError(500, "internal_server_error", "The search worker failed."));
    };
    worker.postMessage({ id: 0, kind: "init", dbPath: this.#dbPath });
    return worker;
  }

  #start(slot: Slot, p: Pending): void {
    slot.busy = p;
    this.#count(this.#runningPerMember, p.owner.member, 1);
    const ws = p.owner.workspaceId;
    this.#runningPerWorkspace.set(ws, (this.#runningPerWorkspace.get(ws) ?? 0) + 1);
    const job = p.job;
    const onThread = !this.#direct || job.kind === "grep";
    // A worker still loading its modules arms the limit when it says it is ready.
    if (!onThread || slot.ready) this.#arm(slot, p);
    if (!onThread) {
      this.#direct(job).then(
        (result) => this.#settle(slot, { id: p.id, ok: true, result }),
        (e) => this.#settle(slot, { id: p.id, ok: false, error: String(e) }),
      );
      return;
    }
    (slot.worker ?? this.#spawnWorker(slot)).postMessage({
      id: p.id,
      kind: job.kind,
      request: job.request,
    });
  }

  /** Start the running job's time limit. */
  #arm(slot: Slot, p: Pending): void {
    slot.timer = setTimeout(() => {
      this.#log?.warn("search worker job timed out", { kind: p.job.kind, ms: p.timeoutMs });
      this.#retire(slot, new JobTimeout(`${p.job.kind} over ${p.timeoutMs} ms`));
    }, p.timeoutMs);
  }

  #settle(slot: Slot, msg: { id: number; ok: boolean; result?: unknown; error?: string }): void {
    const p = slot.busy;
    if (!p || p.id !== msg.id) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.busy = null;
    this.#finished(p);
    if (msg.ok) p.resolve(msg.result);
    else {
      this.#log?.error("search worker job failed", { kind: p.job.kind, error: msg.error });
      p.reject(new AppError(500, "internal_server_error", "The search failed."));
    }
    this.#dispatch();
  }

  /** Kill a worker (timeout or crash), fail its job, and let the next job spawn a fresh one. */
  #retire(slot: Slot, error: Error): void {
    clearTimeout(slot.timer);
    slot.worker?.terminate();
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
    if (slot.busy) this.#finished(slot.busy);
    slot.busy?.reject(error);
    slot.busy = null;
    this.#dispatch();
  }
}
