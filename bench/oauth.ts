/**
 * Authorization-server costs, as ratios against a bare `Deno.serve` handler measured in the
 * same run with the same client:
 * - token endpoint (refresh_token grant, with rotation: every request uses the refresh token
 *   the previous one returned) throughput ÷ a bare Deno.serve form-POST JSON handler;
 * - bearer verification: `verifyAccessToken` cold (signature check) and memoised, each as a
 *   fraction of one bare request's latency.
 * Bounded: fixed duration per phase and a hard cap on requests.
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";

import { createUser } from "../src/core/users.ts";
import { createWorkspace } from "../src/core/workspaces.ts";
import { registerDynamicClient } from "../src/core/oauth_clients.ts";
import { insertGrant, insertRefreshToken } from "../src/core/oauth_grants.ts";
import { issueAccessToken, VerifiedTokenCache, verifyAccessToken } from "../src/auth/jwt.ts";
import { quantile } from "./load.ts";
import type { BenchResult } from "./result.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
const CONCURRENCY = Number(Deno.env.get("BENCH_CONCURRENCY") ?? 8);
const MAX_REQUESTS = 200_000;

interface LoopResult {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** `workers` loops for `ms`; each loop's `step(state)` returns its next state or throws. */
async function loop<S>(
  states: S[],
  ms: number,
  step: (s: S) => Promise<S>,
): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0, issued = 0;
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(states.map(async (initial) => {
    let s = initial;
    while (performance.now() < deadline && issued < MAX_REQUESTS) {
      issued++;
      const t0 = performance.now();
      try {
        s = await step(s);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    rps: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
}

function fmt(label: string, r: LoopResult): string {
  return `${label.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${
    r.p50Ms.toFixed(2)
  } ms  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}`;
}

async function postForm(url: string, body: string): Promise<Record<string, string>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(JSON.stringify(json));
  return json;
}

/** Microseconds per call of `fn`, over at most `ms` and `max` calls. */
async function perCallUs(fn: () => Promise<unknown>, ms: number, max: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (n < max && performance.now() - t0 < ms) {
    await fn();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n;
}

export async function run(): Promise<BenchResult> {
  const ms = (Number.isFinite(SECONDS) && SECONDS > 0 ? SECONDS : 3) * 1000;
  const workers = Number.isInteger(CONCURRENCY) && CONCURRENCY > 0 ? CONCURRENCY : 8;
  const bare = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.text();
    return Response.json({ access_token: "x", token_type: "Bearer", refresh_token: "y" }, {
      headers: { "cache-control": "no-store" },
    });
  });
  const bareUrl = `http://127.0.0.1:${bare.addr.port}/token`;
  const base = await loop(Array(workers).fill(0), ms, async (s) => {
    await postForm(bareUrl, "grant_type=refresh_token&refresh_token=y&client_id=c");
    return s;
  });
  const bareSerial = await loop([0], Math.min(ms, 2000), async (s) => {
    await postForm(bareUrl, "grant_type=refresh_token&refresh_token=y&client_id=c");
    return s;
  });
  await bare.shutdown();

  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-oauth-" });
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "warn" },
    {},
  );
  const server = await startServer(config);
  try {
    const db = server.deps.db;
    const user = await createUser(db, {
      email: "bench@example.com",
      name: "Bench",
      password: null,
    });
    const ws = await createWorkspace(db, { name: "Bench", adminUserId: user.id });
    const { client } = await registerDynamicClient(db, {
      client_name: "bench",
      redirect_uris: ["http://127.0.0.1:1/cb"],
      token_endpoint_auth_method: "none",
    });
    const mcp = `${config.publicUrl}/mcp`;
    const tokens: string[] = [];
    for (let i = 0; i < workers; i++) {
      tokens.push(
        await db.tx(async () => {
          const at = Date.now();
          const g = await insertGrant(db, {
            clientId: client.clientId,
            userId: user.id,
            workspaceId: ws.id,
            scope: "read write",
            resource: mcp,
            redirectUri: "http://127.0.0.1:1/cb",
          }, at);
          return await insertRefreshToken(db, g.id, "read write", g.expiresAt, at);
        }),
      );
    }
    const tokenUrl = `${server.url}/token`;
    const refresh = await loop(tokens, ms, async (rt) => {
      const r = await postForm(
        tokenUrl,
        new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: rt,
          client_id: client.clientId,
        })
          .toString(),
      );
      return r.refresh_token;
    });

    const expected = { issuer: config.publicUrl, audience: mcp };
    const access = await issueAccessToken(server.deps.keys, {
      issuer: config.publicUrl,
      userSId: user.sId,
      workspaceSId: ws.sId,
      audience: mcp,
      scopes: ["read", "write"],
      clientId: client.clientId,
      region: config.regionId,
      ttlSeconds: 3600,
    });
    const cold = await perCallUs(
      async () => {
        const c = new VerifiedTokenCache();
        if (!await verifyAccessToken(server.deps.keys, c, access, expected)) throw new Error("bad");
      },
      1500,
      20_000,
    );
    const memo = new VerifiedTokenCache();
    const warm = await perCallUs(
      async () => {
        if (!await verifyAccessToken(server.deps.keys, memo, access, expected)) {
          throw new Error("bad");
        }
      },
      1000,
      200_000,
    );
    const bareUs = bareSerial.p50Ms * 1000;
    const ratio = refresh.rps / base.rps;
    return {
      name: "oauth",
      ratio,
      ratioLabel: "POST /token refresh_token (rotating) req/s ÷ bare Deno.serve form POST req/s",
      lines: [
        `${workers} concurrent loops (fetch), ${ms / 1000} s each`,
        fmt("bare Deno.serve form POST", base),
        fmt("dust-mcp POST /token (refresh)", refresh),
        `verifyAccessToken cold (EdDSA): ${cold.toFixed(1)} µs = ${
          (cold / bareUs).toFixed(3)
        } × a bare request (${bareUs.toFixed(0)} µs p50, serial)`,
        `verifyAccessToken memoised:     ${warm.toFixed(2)} µs = ${
          (warm / bareUs).toFixed(4)
        } × a bare request`,
        `memoised ÷ cold: ${(warm / cold).toFixed(4)}`,
      ],
      figures: { base, bareSerial, refresh, coldUs: cold, memoUs: warm, bareUs, ratio },
    };
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}
