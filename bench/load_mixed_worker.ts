/// <reference lib="deno.worker" />
/**
 * The load generators of bench/load_mixed.ts, one role per Worker thread (so that no single
 * client event loop drives everything):
 * - `mcp`: N keep-alive clients, each cycling through its prebuilt `tools/call` requests back
 *   to back; latency per tool; a non-200, a JSON-RPC error or an `isError` result is an error;
 * - `streams`: opens relay request streams and conversation event streams, keeps reading them,
 *   counts frames and measures write → event delivery latency (the message content carries
 *   its send time); a stream that fails to open or ends early is an error;
 * - `writes`: steady REST writes at a fixed rate (open loop, bounded in flight), latency per
 *   kind; a non-200 is an error.
 * Every loop is bounded by time and by a count.
 * @module
 */
import { quantile } from "./load.ts";
import { encodeRequest, RawHttpClient } from "./raw_http.ts";

export interface Req {
  kind: string;
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export type Job =
  | { role: "mcp"; clients: Req[][]; durationMs: number; warmupMs: number }
  | { role: "streams"; streams: (Req & { kind: "relay" | "events" })[] }
  | {
    role: "writes";
    /** One list of requests per kind; `ratePerSec` per kind; the body's `{{t}}` is the send time. */
    kinds: { kind: string; ratePerSec: number; requests: Req[] }[];
    durationMs: number;
  };

export interface KindStats {
  ok: number;
  errors: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

export type WorkerReply =
  | { type: "ready"; opened: number; errors: string[]; openMs: number }
  | { type: "mcp"; kinds: Record<string, KindStats>; seconds: number; errors: string[] }
  | {
    type: "writes";
    kinds: Record<string, KindStats>;
    seconds: number;
    errors: string[];
    /** Successful writes per URL (to tell how many events each conversation should see). */
    okByUrl: Record<string, number>;
  }
  | {
    type: "streams";
    frames: number;
    events: number;
    endedEarly: number;
    delivery: { n: number; p50Ms: number; p99Ms: number };
    errors: string[];
  };

const MAX_ERROR_SAMPLES = 5;
const MAX_SAMPLES_PER_KIND = 2_000_000;

/** Wall-clock ms with sub-ms precision, comparable across Workers of one process. */
export const clock = () => performance.timeOrigin + performance.now();

class Recorder {
  readonly latencies = new Map<string, number[]>();
  readonly failures = new Map<string, number>();
  readonly samples: string[] = [];
  ok(kind: string, ms: number) {
    let l = this.latencies.get(kind);
    if (!l) this.latencies.set(kind, l = []);
    if (l.length < MAX_SAMPLES_PER_KIND) l.push(ms);
  }
  fail(kind: string, why: string) {
    this.failures.set(kind, (this.failures.get(kind) ?? 0) + 1);
    if (this.samples.length < MAX_ERROR_SAMPLES) this.samples.push(`${kind}: ${why}`);
  }
  summary(seconds: number, kinds: string[]): Record<string, KindStats> {
    const out: Record<string, KindStats> = {};
    for (const k of kinds) {
      const l = (this.latencies.get(k) ?? []).sort((a, b) => a - b);
      out[k] = {
        ok: l.length,
        errors: this.failures.get(k) ?? 0,
        perSec: l.length / seconds,
        p50Ms: quantile(l, 0.5),
        p99Ms: quantile(l, 0.99),
      };
    }
    return out;
  }
}

/** Closed-loop MCP clients; a warm-up pass first, not recorded. */
async function runMcp(job: Extract<Job, { role: "mcp" }>) {
  const loop = async (reqs: Req[], untilMs: number, rec: Recorder | null) => {
    const client = new RawHttpClient(reqs[0]);
    const encoded = reqs.map((r) => encodeRequest(r));
    try {
      for (let i = 0; i < 10_000_000 && performance.now() < untilMs; i++) {
        const n = i % reqs.length;
        const t0 = performance.now();
        try {
          const status = await client.send(encoded[n]);
          const body = client.lastBody();
          if (status !== 200) rec?.fail(reqs[n].kind, `HTTP ${status} ${body.slice(0, 200)}`);
          else if (!body.includes('"result"') || body.includes('"isError":true')) {
            rec?.fail(reqs[n].kind, body.slice(0, 200));
          } else rec?.ok(reqs[n].kind, performance.now() - t0);
        } catch (e) {
          rec?.fail(reqs[n].kind, String(e));
        }
      }
    } finally {
      client.close();
    }
  };
  await Promise.all(job.clients.map((c) => loop(c, performance.now() + job.warmupMs, null)));
  const rec = new Recorder();
  const t0 = performance.now();
  await Promise.all(job.clients.map((c) => loop(c, t0 + job.durationMs, rec)));
  const seconds = (performance.now() - t0) / 1000;
  const kinds = [...new Set(job.clients.flat().map((r) => r.kind))];
  return { kinds: rec.summary(seconds, kinds), seconds, errors: rec.samples };
}

/** Open-loop writers: each kind fires at its rate; at most 64 requests in flight per kind. */
async function runWrites(job: Extract<Job, { role: "writes" }>) {
  const rec = new Recorder();
  const okByUrl: Record<string, number> = {};
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  const one = async (r: Req) => {
    const started = performance.now();
    try {
      const res = await fetch(r.url, {
        method: r.method ?? "POST",
        headers: r.headers,
        body: r.body?.replace("{{t}}", clock().toFixed(3)),
      });
      const text = await res.text();
      if (res.status !== 200) rec.fail(r.kind, `HTTP ${res.status} ${text.slice(0, 200)}`);
      else {
        rec.ok(r.kind, performance.now() - started);
        okByUrl[r.url] = (okByUrl[r.url] ?? 0) + 1;
      }
    } catch (e) {
      rec.fail(r.kind, String(e));
    }
  };
  await Promise.all(job.kinds.map(async ({ kind, ratePerSec, requests }) => {
    let busy = 0;
    const total = Math.floor((ratePerSec * job.durationMs) / 1000);
    for (let n = 0; n < total; n++) {
      const due = t0 + (n * 1000) / ratePerSec;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (busy >= 64) {
        rec.fail(kind, "64 requests in flight: the server fell behind the write rate");
        continue;
      }
      busy++;
      inflight.push(one(requests[n % requests.length]).finally(() => busy--));
    }
  }));
  await Promise.all(inflight);
  const seconds = (performance.now() - t0) / 1000;
  return {
    kinds: rec.summary(seconds, job.kinds.map((k) => k.kind)),
    seconds,
    errors: rec.samples,
    okByUrl,
  };
}

interface StreamState {
  frames: number;
  events: number;
  endedEarly: number;
  delivery: number[];
  errors: string[];
  stopping: boolean;
}

const SENT_AT = /bench-sent:(\d+\.\d+)/;

/** Read one SSE body until it ends or is cancelled; parse `data:` frames of event streams. */
async function readStream(
  reader: ReadableStreamDefaultReader<string>,
  kind: "relay" | "events",
  st: StreamState,
): Promise<void> {
  let buf = "";
  for (let i = 0; i < 10_000_000; i++) {
    const { value, done } = await reader.read().catch(() => ({ value: "", done: true }));
    if (done) {
      if (!st.stopping) {
        st.endedEarly++;
        if (st.errors.length < MAX_ERROR_SAMPLES) st.errors.push(`${kind} stream ended early`);
      }
      return;
    }
    buf += value;
    for (let at = buf.indexOf("\n\n"); at >= 0; at = buf.indexOf("\n\n")) {
      const frame = buf.slice(0, at);
      buf = buf.slice(at + 2);
      st.frames++;
      if (kind !== "events" || !frame.startsWith("data: {")) continue;
      st.events++;
      const sent = SENT_AT.exec(frame);
      if (sent) st.delivery.push(clock() - Number(sent[1]));
    }
  }
}

/** Open every stream (50 at a time), report ready, then read until told to stop. */
async function runStreams(job: Extract<Job, { role: "streams" }>) {
  const st: StreamState = {
    frames: 0,
    events: 0,
    endedEarly: 0,
    delivery: [],
    errors: [],
    stopping: false,
  };
  const readers: ReadableStreamDefaultReader<string>[] = [];
  const reading: Promise<void>[] = [];
  const t0 = performance.now();
  let failedToOpen = 0;
  for (let i = 0; i < job.streams.length; i += 50) {
    await Promise.all(
      job.streams.slice(i, i + 50).map(async (s) => {
        try {
          const res = await fetch(s.url, { headers: s.headers });
          if (res.status !== 200 || !res.body) {
            failedToOpen++;
            st.errors.push(`${s.kind} stream: HTTP ${res.status} ${await res.text()}`);
            return;
          }
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          readers.push(reader);
          reading.push(readStream(reader, s.kind, st));
        } catch (e) {
          failedToOpen++;
          if (st.errors.length < MAX_ERROR_SAMPLES) st.errors.push(`${s.kind} stream: ${e}`);
        }
      }),
    );
  }
  self.postMessage(
    {
      type: "ready",
      opened: readers.length,
      errors: st.errors.slice(0, MAX_ERROR_SAMPLES),
      openMs: performance.now() - t0,
    } satisfies WorkerReply,
  );
  await new Promise<void>((resolve) => {
    self.onmessage = () => resolve();
  });
  st.stopping = true;
  await Promise.all(readers.map((r) => r.cancel().catch(() => {})));
  await Promise.all(reading);
  const d = st.delivery.sort((a, b) => a - b);
  return {
    frames: st.frames,
    events: st.events,
    endedEarly: st.endedEarly + failedToOpen,
    delivery: { n: d.length, p50Ms: quantile(d, 0.5), p99Ms: quantile(d, 0.99) },
    errors: st.errors.slice(0, MAX_ERROR_SAMPLES),
  };
}

self.onmessage = async (e: MessageEvent<Job>) => {
  const job = e.data;
  let reply: WorkerReply;
  if (job.role === "mcp") reply = { type: "mcp", ...await runMcp(job) };
  else if (job.role === "writes") reply = { type: "writes", ...await runWrites(job) };
  else reply = { type: "streams", ...await runStreams(job) };
  self.postMessage(reply);
  self.close();
};
