/**
 * What a rate-limit counter in the database would cost on the `/mcp` hot path (issue 11: keep
 * the counters in memory with each instance's share of the limit, or count in the database?).
 *
 * The same app (`createApp` over one server's deps) is served twice on the same database: as
 * it is (in-memory fixed windows), and behind a front that first does what a shared counter
 * needs on every request — three `INSERT … ON CONFLICT DO UPDATE … RETURNING` upserts (the
 * credential's request window, the user's and the client's tool-call windows), each its own
 * statement as the limiter would issue them. One MCP token drives all 32 clients, so the three
 * rows are the same hot rows every request updates (a busy connector: the case limits exist
 * for). The ratio is identity `tools/call` req/s with the counter ÷ without.
 *
 * `deno task bench` runs it on SQLite, then on PostgreSQL (a fresh database of its own,
 * bench/engine.ts: the bench migrates it and adds a scratch table).
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createApp } from "../src/app.ts";
import { createUser } from "../src/core/users.ts";
import { createWorkspace } from "../src/core/workspaces.ts";
import { issueMcpToken } from "../src/core/mcp_tokens.ts";
import { formatLoad, type LoadTarget, runLoad, type ServedLoadResult } from "./load.ts";
import type { BenchResult } from "./result.ts";
import { benchDatabase } from "./engine.ts";

const HEADERS = {
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  "MCP-Protocol-Version": "2025-06-18",
};
const COUNTER_TABLE = `CREATE TABLE IF NOT EXISTS bench_rate_counters (
  key TEXT NOT NULL, window_start BIGINT NOT NULL, count BIGINT NOT NULL,
  PRIMARY KEY (key, window_start))`;
const BUMP = `INSERT INTO bench_rate_counters (key, window_start, count) VALUES (?, ?, 1)
  ON CONFLICT (key, window_start) DO UPDATE SET count = bench_rate_counters.count + 1
  RETURNING count`;

function settings(concurrency: number) {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
  return {
    concurrency,
    durationMs: (Number.isFinite(seconds) && seconds > 0 ? seconds : 3) * 1000,
    warmupMs: 1000,
    maxRequests: 2_000_000,
  };
}

export async function run(): Promise<BenchResult> {
  const database = await benchDatabase();
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-rate-" });
  const lines: string[] = [];
  const results: Record<string, ServedLoadResult> = {};
  try {
    const config = resolveConfig({
      port: "0",
      host: "127.0.0.1",
      "data-dir": dataDir,
      "log-level": "warn",
      "mcp-rate-user": "100000000",
      "mcp-rate-client": "100000000",
      "mcp-rate-requests": "100000000",
      ...database.flags,
    }, {});
    const server = await startServer(config);
    const { db } = server.deps;
    await db.exec(COUNTER_TABLE);
    const user = await createUser(db, { email: "rate@example.com", name: "Rate", password: null });
    const ws = await createWorkspace(db, { name: "Rate", adminUserId: user.id });
    const token = (await issueMcpToken(db, { userId: user.id, workspaceId: ws.id })).token;
    const app = createApp(server.deps);
    const bump = db.prepare(BUMP);
    const plain = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req, info) => app.fetch(req, info),
    );
    const counted = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (req, info) => {
        const window = Math.floor(Date.now() / 60_000) * 60_000;
        for (const key of ["cred:bench", `user:${user.sId}`, "client:bench"]) {
          await bump.get(key, window);
        }
        return await app.fetch(req, info);
      },
    );
    try {
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "identity", arguments: {} },
      });
      const target = (port: number): LoadTarget => ({
        url: `http://127.0.0.1:${port}/mcp`,
        method: "POST",
        headers: { ...HEADERS, Authorization: `Bearer ${token}` },
        body,
      });
      const check = await fetch(target(counted.addr.port).url, {
        method: "POST",
        headers: target(counted.addr.port).headers,
        body,
      });
      const text = await check.text();
      if (check.status !== 200 || !text.includes("workspaceName")) {
        throw new Error(`bench target answered ${check.status}: ${text.slice(0, 200)}`);
      }
      for (const c of [1, 32]) {
        for (
          const [label, port] of [["in-memory", plain.addr.port], [
            "db counter",
            counted.addr.port,
          ]] as const
        ) {
          const r = await runLoad({ ...settings(c), target: target(port) });
          results[`${label} c${c}`] = r;
          lines.push(formatLoad(`${db.engine} identity, ${label}, c${c}`, r));
        }
      }
      const bumps = await db.get<{ n: number }>("SELECT max(count) AS n FROM bench_rate_counters");
      lines.push(`hot counter rows reached ${bumps?.n} (one window)`);
    } finally {
      await plain.shutdown();
      await counted.shutdown();
      await db.exec("DROP TABLE bench_rate_counters");
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await database.drop();
  }
  const ratio32 = results["db counter c32"].rps / results["in-memory c32"].rps;
  const ratio1 = results["db counter c1"].rps / results["in-memory c1"].rps;
  const extraP50 = results["db counter c1"].p50Ms - results["in-memory c1"].p50Ms;
  lines.push(
    `with a database counter: ${(ratio32 * 100).toFixed(1)} % of the in-memory req/s at c32, ` +
      `${(ratio1 * 100).toFixed(1)} % at c1 (+${extraP50.toFixed(2)} ms p50 per call)`,
  );
  return {
    name: "rate_counter",
    ratio: ratio32,
    ratioLabel:
      "identity req/s with 3 counter upserts per request ÷ in-memory limiter (32 clients)",
    lines,
    figures: { results, ratio32, ratio1 },
  };
}

/** `deno task bench` runs it once per engine. */
export const engines = ["sqlite", "postgres"];
