/// <reference lib="deno.worker" />
/**
 * The flooding member of bench/search_fairness.ts, in its own thread: `concurrency` keep-alive
 * connections each send the same search back to back until told to stop (at most
 * `durationMs`). `politeMs` > 0: a connection refused with 429 waits that long (its
 * Retry-After) before the next search; 0: it retries at once, as an attacker would.
 * @module
 */
import { RawHttpClient } from "./raw_http.ts";
import type { LoadTarget } from "./load.ts";

export interface FloodOptions {
  target: LoadTarget;
  concurrency: number;
  durationMs: number;
  politeMs: number;
}

export interface FloodResult {
  served: number;
  refused: number;
  errors: number;
  seconds: number;
}

let stopped = false;

self.onmessage = async (e: MessageEvent<FloodOptions | "stop">) => {
  if (e.data === "stop") {
    stopped = true;
    return;
  }
  const o = e.data;
  const counts = { served: 0, refused: 0, errors: 0 };
  const started = performance.now();
  const deadline = started + o.durationMs;
  const loop = async () => {
    const client = new RawHttpClient(o.target);
    try {
      while (!stopped && performance.now() < deadline) {
        const status = await client.send().catch(() => 0);
        if (status === 200) counts.served++;
        else if (status === 429) {
          counts.refused++;
          if (o.politeMs > 0) await new Promise((r) => setTimeout(r, o.politeMs));
        } else counts.errors++;
      }
    } finally {
      client.close();
    }
  };
  self.postMessage({ phase: "flooding" });
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  const result: FloodResult = { ...counts, seconds: (performance.now() - started) / 1000 };
  self.postMessage({ phase: "done", result });
  self.close();
};
