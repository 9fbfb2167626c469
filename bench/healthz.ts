/**
 * `/healthz` throughput of the real server (all global middleware, a database round trip)
 * against a bare `Deno.serve` JSON handler, measured in the same run by the same load
 * generator. The ratio is the cost of the stack on the cheapest real route.
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { VERSION } from "../src/version.ts";
import { formatLoad, type LoadOptions, runLoad } from "./load.ts";
import type { BenchResult } from "./result.ts";

/** Measurement settings; `BENCH_SECONDS` and `BENCH_CONCURRENCY` override them. */
function loadSettings(): Omit<LoadOptions, "target"> {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
  const concurrency = Number(Deno.env.get("BENCH_CONCURRENCY") ?? 32);
  return {
    concurrency: Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 32,
    durationMs: (Number.isFinite(seconds) && seconds > 0 ? seconds : 3) * 1000,
    warmupMs: 1000,
  };
}

/** A bare Deno.serve answering the same JSON body as /healthz. */
function startBaseline(): Deno.HttpServer<Deno.NetAddr> {
  const body = { status: "ok", region: "us-central1", version: VERSION };
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json(body),
  );
}

export async function run(): Promise<BenchResult> {
  const settings = loadSettings();
  const baseline = startBaseline();
  const baseUrl = `http://127.0.0.1:${baseline.addr.port}/healthz`;
  const base = await runLoad({ ...settings, target: { url: baseUrl } });
  await baseline.shutdown();

  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-" });
  try {
    const config = resolveConfig(
      { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "warn" },
      {},
    );
    const server = await startServer(config);
    try {
      const url = `${server.url}/healthz`;
      const real = await runLoad({ ...settings, target: { url } });
      // Throughput is capped by the load generator on small machines (both sides near the same
      // req/s); the server thread's CPU per request is not, so it is the headline ratio.
      const cpuRatio = base.cpuUsPerRequest && real.cpuUsPerRequest
        ? base.cpuUsPerRequest / real.cpuUsPerRequest
        : null;
      const rpsRatio = real.rps / base.rps;
      return {
        name: "healthz",
        ratio: cpuRatio ?? rpsRatio,
        ratioLabel: cpuRatio === null
          ? "dust-mcp /healthz req/s ÷ bare Deno.serve JSON req/s"
          : "bare Deno.serve CPU µs/req ÷ dust-mcp /healthz CPU µs/req (per-core throughput)",
        lines: [
          `${settings.concurrency} keep-alive connections, ${settings.durationMs / 1000} s each`,
          formatLoad("bare Deno.serve JSON", base),
          formatLoad("dust-mcp GET /healthz", real),
          `req/s ratio (load-generator bound): ${rpsRatio.toFixed(3)}`,
        ],
        figures: { settings, baseline: base, healthz: real, cpuRatio, rpsRatio },
      };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}
