/**
 * Start-up time to the first served request, and idle RSS, of the real server:
 * `deno run -A main.ts` spawned on a fresh data directory (migrations, signing key generation)
 * and again on the same directory (a restart), timed from spawn until `GET /healthz` answers
 * 200; RSS (`ps`) after a short idle. Baseline, in the same run and spawned the same way: a
 * bare `Deno.serve` script answering JSON. Median of BENCH_STARTUP_RUNS (default 5) runs each;
 * modules are already in Deno's cache (a warm start, as on a server restart).
 *
 * Run: `deno task bench startup` (on SQLite, then on PostgreSQL: a fresh database per run).
 * @module
 */
import { rssKiB } from "./load_mixed_seed.ts";
import type { BenchResult } from "./result.ts";
import { benchDatabase, benchEngine } from "./engine.ts";

const RUNS = Math.max(1, Math.floor(Number(Deno.env.get("BENCH_STARTUP_RUNS") ?? 5)) || 5);
const IDLE_MS = 2000;
const POLL_MS = 2;
const START_TIMEOUT_MS = 30_000;

const BARE_SERVER = `
Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} },
  () => Response.json({ status: "ok" }));
`;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface Start {
  ms: number;
  idleKiB: number;
}

/** Spawn `args`, poll /healthz until 200 (bounded), then sample RSS after an idle pause. */
async function timeStart(args: string[], port: number): Promise<Start> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .spawn();
  try {
    const url = `http://127.0.0.1:${port}/healthz`;
    let ms = NaN;
    while (performance.now() - t0 < START_TIMEOUT_MS) {
      const ok = await fetch(url).then(async (r) => (await r.body?.cancel(), r.status === 200))
        .catch(() => false);
      if (ok) {
        ms = performance.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (Number.isNaN(ms)) throw new Error(`${args.join(" ")} did not answer within 30 s`);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { ms, idleKiB: await rssKiB(child.pid) };
  } finally {
    child.kill("SIGTERM");
    await child.stderr.cancel();
    await child.status;
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function summarise(starts: Start[]) {
  return {
    runs: starts.length,
    medianMs: median(starts.map((s) => s.ms)),
    minMs: Math.min(...starts.map((s) => s.ms)),
    maxMs: Math.max(...starts.map((s) => s.ms)),
    idleMB: median(starts.map((s) => s.idleKiB)) / 1024,
  };
}

function serverArgs(dataDir: string, port: number, flags: Record<string, string>): string[] {
  return [
    "run",
    "-A",
    new URL("../main.ts", import.meta.url).pathname,
    ...["--data-dir", dataDir, "--port", String(port), "--host", "127.0.0.1"],
    ...["--log-level", "error"],
    ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]),
  ];
}

export async function run(): Promise<BenchResult> {
  const tmp = await Deno.makeTempDir({ prefix: "dust-mcp-bench-startup-" });
  try {
    const bareFile = `${tmp}/bare.ts`;
    await Deno.writeTextFile(bareFile, BARE_SERVER);
    const bare: Start[] = [];
    const fresh: Start[] = [];
    const restart: Start[] = [];
    // Interleaved, so that background load on the machine hits every case alike.
    for (let i = 0; i < RUNS; i++) {
      let port = freePort();
      bare.push(await timeStart(["run", "-A", bareFile, String(port)], port));
      const dir = `${tmp}/data-${i}`;
      // PostgreSQL: a fresh database per run (the data directory then holds no database).
      const database = await benchDatabase();
      try {
        port = freePort();
        fresh.push(await timeStart(serverArgs(dir, port, database.flags), port));
        port = freePort();
        restart.push(await timeStart(serverArgs(dir, port, database.flags), port));
      } finally {
        await database.drop();
      }
    }
    const b = summarise(bare);
    const f = summarise(fresh);
    const r = summarise(restart);
    const line = (label: string, s: Awaited<ReturnType<typeof summarise>>) =>
      `${label.padEnd(34)} median ${s.medianMs.toFixed(0)} ms (min ${s.minMs.toFixed(0)}, max ${
        s.maxMs.toFixed(0)
      }), idle RSS ${s.idleMB.toFixed(1)} MB`;
    return {
      name: "startup",
      ratio: f.medianMs / b.medianMs,
      ratioLabel: "spawn → first /healthz 200: dust-mcp on a fresh data dir ÷ bare Deno.serve " +
        "(lower is better)",
      lines: [
        `[${benchEngine() === "postgres" ? "PostgreSQL" : "SQLite"}] ` +
        `${RUNS} runs each, spawn until the first 200, RSS after ${IDLE_MS / 1000} s idle`,
        line("bare Deno.serve script", b),
        line("dust-mcp, fresh data dir", f),
        line("dust-mcp, restart (same data dir)", r),
        `ratios vs bare: fresh ${(f.medianMs / b.medianMs).toFixed(2)}×, restart ${
          (r.medianMs / b.medianMs).toFixed(2)
        }×; idle RSS ${(f.idleMB / b.idleMB).toFixed(2)}×`,
        `issue 15 targets (restart on an existing data dir): first request ≤ 150 ms (${
          r.medianMs.toFixed(0)
        } ms, ${r.medianMs <= 150 ? "met" : "not met"}), idle RSS ≤ 80 MB (${
          r.idleMB.toFixed(1)
        } MB, ${r.idleMB <= 80 ? "met" : "not met"})`,
      ],
      figures: { bare: b, fresh: f, restart: r, samples: { bare, fresh, restart } },
    };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** `deno task bench` runs it once per engine. */
export const engines = ["sqlite", "postgres"];

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
}
