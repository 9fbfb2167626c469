/**
 * A bounded, self-contained HTTP load generator for benchmarks: N concurrent connections issue
 * requests back to back for a fixed duration (and at most `maxRequests`), and report
 * throughput and latency percentiles. The default client is a minimal keep-alive HTTP/1.1
 * client (bench/raw_http.ts) so that the generator costs far less than the server it measures;
 * `client: "fetch"` uses Deno's fetch (any response framing). The loops run in a Worker thread, so the
 * generator does not share an event loop with the server it measures. Reusable by every
 * benchmark.
 * @module
 */

import process from "node:process";
import { RawHttpClient } from "./raw_http.ts";

/** A request described in plain data (it crosses into the Worker). */
export interface LoadTarget {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  target: LoadTarget;
  /** Concurrent workers (open connections). */
  concurrency: number;
  /** How long to measure. */
  durationMs: number;
  /** Unmeasured run before the measurement (JIT, connection pool). */
  warmupMs?: number;
  /** Hard cap on measured requests, so a very fast target still ends. */
  maxRequests?: number;
  /** A response with another status counts as an error. */
  expectStatus?: number;
  /** "raw" (default: Content-Length responses only) or "fetch". */
  client?: "raw" | "fetch";
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  /** Successful requests per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** The slowest request (a server stall shows here; it is too few samples to move p99). */
  maxMs: number;
  /** CPU the load generator's own thread used while measuring (set by the Worker). */
  generatorCpuMs?: number;
}

/** The q-quantile (0..1) of sorted values, nearest-rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Run the loops in this thread (the Worker calls this). */
export async function drive(
  options: LoadOptions,
  durationMs: number,
  maxRequests: number,
): Promise<{ latencies: number[]; errors: number; seconds: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const expect = options.expectStatus ?? 200;
  const started = performance.now();
  const deadline = started + durationMs;
  const { url, ...init } = options.target;
  const worker = async () => {
    const raw = options.client === "fetch" ? null : new RawHttpClient(options.target);
    try {
      while (performance.now() < deadline && issued < maxRequests) {
        issued++;
        const t0 = performance.now();
        try {
          let status: number;
          if (raw) status = await raw.send();
          else {
            const res = await fetch(url, init);
            await res.arrayBuffer();
            status = res.status;
          }
          if (status === expect) latencies.push(performance.now() - t0);
          else errors++;
        } catch {
          errors++;
        }
      }
    } finally {
      raw?.close();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

/**
 * CPU time (ms) used so far by the calling thread: called from the main thread, where
 * `Deno.serve` and the app run, it excludes the load generator's Worker thread.
 * Null when the runtime lacks `process.threadCpuUsage`.
 */
export function mainThreadCpuMs(): number | null {
  const usage = (process as { threadCpuUsage?: () => { user: number; system: number } })
    .threadCpuUsage?.();
  return usage ? (usage.user + usage.system) / 1000 : null;
}

/** A load result plus the main thread's CPU time spent during the measured phase. */
export interface ServedLoadResult extends LoadResult {
  /** Server-thread CPU µs per successful request (null when not measurable). */
  cpuUsPerRequest: number | null;
  /**
   * The whole process's CPU µs per successful request, less the load generator's thread:
   * the server's main thread plus its workers (search), GC and I/O threads.
   */
  processCpuUsPerRequest: number | null;
}

function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Warm up, then measure in a Worker; bounded by `durationMs` and `maxRequests`. The server
 * under test must run in this thread: its CPU time is sampled around the measured phase.
 */
export async function runLoad(options: LoadOptions): Promise<ServedLoadResult> {
  const worker = new Worker(new URL("./load_worker.ts", import.meta.url), { type: "module" });
  let cpuStart: number | null = null;
  let processStart = 0;
  try {
    const result = await new Promise<LoadResult>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
        if (e.data.phase === "measuring") {
          cpuStart = mainThreadCpuMs();
          processStart = processCpuMs();
        } else resolve(e.data.result);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`load worker failed: ${e.message}`));
      };
      worker.postMessage(options);
    });
    const cpuEnd = mainThreadCpuMs();
    const processEnd = processCpuMs();
    const ok = result.requests - result.errors;
    const cpuUsPerRequest = cpuStart !== null && cpuEnd !== null && ok > 0
      ? ((cpuEnd - cpuStart) * 1000) / ok
      : null;
    const processCpuUsPerRequest = result.generatorCpuMs !== undefined && ok > 0
      ? ((processEnd - processStart - result.generatorCpuMs) * 1000) / ok
      : null;
    return { ...result, cpuUsPerRequest, processCpuUsPerRequest };
  } finally {
    worker.terminate();
  }
}

/** Messages from the Worker: the measured phase starts, then the result. */
export type WorkerMessage = { phase: "measuring" } | { phase: "done"; result: LoadResult };

/** Warm up, then measure, in the calling thread; `onMeasuring` marks the measured phase. */
export async function measure(
  options: LoadOptions,
  onMeasuring: () => void = () => {},
): Promise<LoadResult> {
  const max = options.maxRequests ?? 5_000_000;
  if (options.warmupMs) await drive(options, options.warmupMs, max);
  onMeasuring();
  const { latencies, errors, seconds } = await drive(options, options.durationMs, max);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length + errors,
    errors,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

/** One line per result: `label  12345 req/s  p50 0.41 ms  p99 1.20 ms  errors 0`. */
export function formatLoad(label: string, r: ServedLoadResult): string {
  const cpu =
    (r.cpuUsPerRequest === null ? "" : `  server CPU ${r.cpuUsPerRequest.toFixed(1)} µs/req`) +
    (r.processCpuUsPerRequest === null
      ? ""
      : ` (all threads ${r.processCpuUsPerRequest.toFixed(1)})`);
  return `${label.padEnd(24)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${
    r.p50Ms.toFixed(2)
  } ms  p99 ${r.p99Ms.toFixed(2)} ms  max ${
    r.maxMs.toFixed(0)
  } ms${cpu}  errors ${r.errors}/${r.requests}`;
}
