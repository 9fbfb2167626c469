/**
 * A small pool of search workers (`search_worker_main.ts`), each with its own read-only
 * SQLite connection (WAL lets readers run beside the writer). A common-term FTS5 query ranks
 * every match (~19 ms for 24k matches, perf.md); on the main thread that time would stall
 * every other request. Here it stalls only its worker.
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
import { AppError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import type { GrepRequest, GrepResult, SearchHit, SearchRequest } from "./search_query.ts";
import type { DocumentHit, NodeQueryRequest } from "./node_query.ts";

export interface SearchWorkerPoolOptions {
  dbPath: string;
  /** Number of workers (default 2: this runs on 2-core machines beside the main loop). */
  size?: number;
  /** Jobs waiting beyond this are refused with 503 rather than queued without bound. */
  maxQueue?: number;
  log?: Logger;
}

/** A job ran past its time limit (its worker was terminated). */
class JobTimeout extends Error {
  override name = "JobTimeout";
}

type Job =
  | { kind: "search"; request: SearchRequest }
  | { kind: "grep"; request: GrepRequest }
  | { kind: "nodes"; request: NodeQueryRequest };

interface Pending {
  id: number;
  job: Job;
  timeoutMs: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The search worker pool kept in `deps.searchWorkers`. */
export class SearchWorkerPool {
  readonly #dbPath: string;
  readonly #size: number;
  readonly #maxQueue: number;
  readonly #log?: Logger;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: SearchWorkerPoolOptions) {
    this.#dbPath = options.dbPath;
    this.#size = Math.max(1, options.size ?? 2);
    this.#maxQueue = options.maxQueue ?? 256;
    this.#log = options.log;
  }

  /** Workers currently alive (for tests and the benchmark). */
  get workerCount(): number {
    return this.#slots.length;
  }

  /** Run an FTS query on a worker; 503 when it exceeds `timeoutMs` or the pool is saturated. */
  async search(request: SearchRequest, timeoutMs = 10_000): Promise<SearchHit[]> {
    return await this.#submitSearch({ kind: "search", request }, timeoutMs) as SearchHit[];
  }

  /** Run a node (title) search on a worker; 503 past `timeoutMs` or when saturated. */
  async nodes(request: NodeQueryRequest, timeoutMs = 10_000): Promise<DocumentHit[]> {
    return await this.#submitSearch({ kind: "nodes", request }, timeoutMs) as DocumentHit[];
  }

  /** A search-like job: a timeout is the server's limit, answered as 503 to the caller. */
  async #submitSearch(job: Job, timeoutMs: number): Promise<unknown> {
    try {
      return await this.#submit(job, timeoutMs);
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
  async grep(request: GrepRequest, timeoutMs = 2_000): Promise<GrepResult> {
    try {
      return await this.#submit({ kind: "grep", request }, timeoutMs) as GrepResult;
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
    const stopped = new AppError(503, "service_unavailable", "The server is stopping.");
    for (const slot of this.#slots.splice(0)) {
      clearTimeout(slot.timer);
      slot.worker.terminate();
      slot.busy?.reject(stopped);
    }
    for (const p of this.#queue.splice(0)) p.reject(stopped);
  }

  #submit(job: Job, timeoutMs: number): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new AppError(503, "service_unavailable", "The server is stopping."));
    }
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(
        new AppError(503, "service_unavailable", "Too many searches in progress; retry shortly."),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, job, timeoutMs, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.busy === null);
      if (!slot && this.#slots.length < this.#size) slot = this.#spawn();
      if (!slot) return;
      this.#start(slot, this.#queue.shift()!);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./search_worker_main.ts", import.meta.url).href, {
      type: "module",
    });
    const slot: Slot = { worker, busy: null, timer: undefined };
    worker.onmessage = (
      e: MessageEvent<{ id: number; ok: boolean; result?: unknown; error?: string }>,
    ) => this.#settle(slot, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#log?.error("search worker crashed", { error: e.message });
      this.#retire(slot, new AppError(500, "internal_server_error", "The search worker failed."));
    };
    worker.postMessage({ id: 0, kind: "init", dbPath: this.#dbPath });
    this.#slots.push(slot);
    return slot;
  }

  #start(slot: Slot, p: Pending): void {
    slot.busy = p;
    slot.timer = setTimeout(() => {
      this.#log?.warn("search worker job timed out", { kind: p.job.kind, ms: p.timeoutMs });
      this.#retire(slot, new JobTimeout(`${p.job.kind} over ${p.timeoutMs} ms`));
    }, p.timeoutMs);
    slot.worker.postMessage({ id: p.id, kind: p.job.kind, request: p.job.request });
  }

  #settle(slot: Slot, msg: { id: number; ok: boolean; result?: unknown; error?: string }): void {
    const p = slot.busy;
    if (!p || p.id !== msg.id) return;
    clearTimeout(slot.timer);
    slot.busy = null;
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
    slot.worker.terminate();
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
    slot.busy?.reject(error);
    slot.busy = null;
    this.#dispatch();
  }
}
