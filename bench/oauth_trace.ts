/**
 * What the OAuth trace costs `/mcp` (issue 16: "must not slow /mcp calls measurably"): the
 * per-request work it adds to an OAuth-authenticated call — one in-memory lookup of the grant
 * (its first call, traced once, does one indexed read and one insert; the arrival time comes
 * from the request log's own clock reading) — timed in a tight loop, as a fraction of the server CPU one authenticated
 * `tools/call identity` costs, both measured in this run. Also checks that a burst of calls
 * on one grant wrote exactly one `mcp` trace row.
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createUser } from "../src/core/users.ts";
import { createWorkspace } from "../src/core/workspaces.ts";
import { registerDynamicClient } from "../src/core/oauth_clients.ts";
import { insertGrant } from "../src/core/oauth_grants.ts";
import { issueAccessToken } from "../src/auth/jwt.ts";
import { FirstCallGate, recordTrace } from "../src/core/oauth_traces.ts";
import { formatLoad, runLoad } from "./load.ts";
import type { BenchResult } from "./result.ts";

const LOOKUPS = 2_000_000;

/** Nanoseconds per hook on a grant already seen (the steady state of every later call). */
function hookNs(): number {
  const gate = new FirstCallGate();
  const keys = Array.from({ length: 1000 }, (_, i) => `grant_${i}`);
  for (const k of keys) gate.first(k);
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < LOOKUPS; i++) {
    sink += gate.first(keys[i % keys.length]) ? 1 : 0;
  }
  const ns = (performance.now() - t0) * 1e6 / LOOKUPS;
  if (sink !== 0) throw new Error("a seen grant was taken for a first call");
  return ns;
}

export async function run(): Promise<BenchResult> {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-trace-" });
  const config = resolveConfig({
    port: "0",
    host: "127.0.0.1",
    "data-dir": dataDir,
    "log-level": "warn",
    "mcp-rate-user": "100000000",
    "mcp-rate-client": "100000000",
    "mcp-rate-requests": "100000000",
  }, {});
  const server = await startServer(config);
  try {
    const db = server.deps.db;
    const user = await createUser(db, { email: "bench@example.com", name: "B", password: null });
    const ws = await createWorkspace(db, { name: "Bench", adminUserId: user.id });
    const { client } = await registerDynamicClient(db, {
      client_name: "bench",
      redirect_uris: ["http://127.0.0.1:1/cb"],
      token_endpoint_auth_method: "none",
    });
    const mcp = `${server.deps.config.publicUrl}/mcp`;
    const grant = await insertGrant(db, {
      clientId: client.clientId,
      userId: user.id,
      workspaceId: ws.id,
      scope: "read write",
      resource: mcp,
      redirectUri: "http://127.0.0.1:1/cb",
    }, Date.now());
    // The grant's token step is in the trace: its first /mcp call is traced, once.
    await recordTrace(db, {
      step: "token",
      clientId: client.clientId,
      clientKind: "dcr",
      workspaceId: ws.id,
      grantSId: grant.sId,
      ok: true,
      status: 200,
      durationMs: 1,
    });
    const token = await issueAccessToken(server.deps.keys, {
      issuer: server.deps.config.publicUrl,
      userSId: user.sId,
      workspaceSId: ws.sId,
      audience: mcp,
      scopes: ["read", "write"],
      clientId: client.clientId,
      grantSId: grant.sId,
      region: config.regionId,
      ttlSeconds: 3600,
    });
    const target = {
      url: `${server.url}/mcp`,
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
        Authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "identity", arguments: {} },
      }),
    };
    const probe = await fetch(target.url, target);
    const probeText = await probe.text();
    if (probe.status !== 200 || !probeText.includes("Bench")) {
      throw new Error(`bench target answered ${probe.status}: ${probeText.slice(0, 300)}`);
    }
    const load = await runLoad({
      concurrency: 8,
      durationMs: (Number.isFinite(seconds) && seconds > 0 ? seconds : 3) * 1000,
      warmupMs: 1000,
      maxRequests: 1_000_000,
      target: {
        url: `${server.url}/mcp`,
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          "MCP-Protocol-Version": "2025-06-18",
          Authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "identity", arguments: {} },
        }),
      },
    });
    const rows = Number(
      (await db.get(
        "SELECT COUNT(*) AS n FROM oauth_traces WHERE grant_s_id = ? AND step = 'mcp'",
        grant.sId,
      ) as { n: number | string }).n,
    );
    const ns = hookNs();
    const cpuUs = load.cpuUsPerRequest ?? 1e6 / load.rps;
    const ratio = ns / (cpuUs * 1000);
    const failures: string[] = [];
    if (rows !== 1) failures.push(`${rows} mcp trace rows for one grant (expected 1)`);
    if (load.errors > 0) failures.push(`${load.errors} errors`);
    if (ratio > 0.01) failures.push(`the hook costs ${(ratio * 100).toFixed(2)} % of a call`);
    return {
      name: "oauth_trace",
      ratio,
      ratioLabel:
        "trace hook ns per /mcp call ÷ server CPU ns per OAuth tools/call (lower is better)",
      lines: [
        formatLoad("OAuth identity c8", load),
        `trace hook on a seen grant: ${ns.toFixed(1)} ns per request`,
        `= ${
          (ratio * 100).toFixed(3)
        } % of one call's server CPU; ${rows} mcp trace row(s) for ${load.requests} calls`,
      ],
      failures,
      figures: { hookNs: ns, cpuUsPerRequest: cpuUs, rps: load.rps, traceRows: rows },
    };
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}
