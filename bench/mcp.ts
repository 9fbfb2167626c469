/**
 * Authenticated MCP `tools/call` throughput and latency on the real server (all global
 * middleware, MCP-token auth with its per-request revocation re-check, rate limits, audit),
 * for `identity` and `search`, at 1 and 32 concurrent clients, as ratios against (a) a bare
 * `Deno.serve` JSON handler and (b) the MCP SDK's own minimal Node server (Node 20 + Express +
 * a stateless StreamableHTTPServerTransport per request, bench/peers/node_sdk_server.mjs),
 * all measured in the same run by the same load generator (bench/load.ts).
 *
 * Targets (issue 15): identity at 32 clients ≥ 20 % of bare req/s on SQLite (≥ 10 % on PostgreSQL),
 * ≥ 10× the Node peer; `search` ≤ 2× the CPU of `identity` per call (all server threads).
 * The peer's dependencies are installed with npm into ~/.cache/dust-mcp/bench-node-sdk-peer.
 *
 * Engine: `deno task bench` runs it on SQLite, then on PostgreSQL (bench/engine.ts); the
 * Node peer is engine-free and runs in the SQLite pass only.
 * `BENCH_MCP_CASES=identity,search,peer` runs only those cases (bare always runs).
 * @module
 */
import { join } from "node:path";
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createUser } from "../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../src/core/workspaces.ts";
import { toUserRef } from "../src/core/users.ts";
import { issueMcpToken } from "../src/core/mcp_tokens.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import type { UserActor } from "../src/auth/actor.ts";
import {
  formatLoad,
  type LoadOptions,
  type LoadTarget,
  runLoad,
  type ServedLoadResult,
} from "./load.ts";
import type { BenchResult } from "./result.ts";
import { benchDatabase, benchEngine } from "./engine.ts";

const PEER_DIR = join(Deno.env.get("HOME") ?? "/root", ".cache/dust-mcp/bench-node-sdk-peer");
const HEADERS = {
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  "MCP-Protocol-Version": "2025-06-18",
};

function settings(concurrency: number): Omit<LoadOptions, "target"> {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
  return {
    concurrency,
    durationMs: (Number.isFinite(seconds) && seconds > 0 ? seconds : 3) * 1000,
    warmupMs: 1000,
    maxRequests: 2_000_000,
  };
}

function toolCall(
  url: string,
  token: string,
  name: string,
  args: Record<string, unknown>,
): LoadTarget {
  return {
    url,
    method: "POST",
    headers: { ...HEADERS, Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  };
}

/** One real call, checked, so a bench never measures fast errors. */
async function checkCall(t: LoadTarget, expect: RegExp): Promise<void> {
  const res = await fetch(t.url, { method: "POST", headers: t.headers, body: t.body });
  const text = await res.text();
  if (res.status !== 200 || !expect.test(text) || text.includes('"isError":true')) {
    throw new Error(`bench target answered ${res.status}: ${text.slice(0, 300)}`);
  }
}

/** A workspace with a user, an MCP token and a searchable corpus. */
async function seed(deps: Awaited<ReturnType<typeof startServer>>["deps"]): Promise<string> {
  const user = await createUser(deps.db, {
    email: "bench@example.com",
    name: "Bench User",
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: "Bench", adminUserId: user.id });
  const actor: UserActor = {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role: "admin",
    scopes: new Set(["read", "write"]),
    credential: { kind: "session", id: "bench" },
  };
  const spaceId = (await listWorkspaceSpaces(deps.db, ws.id)).find((s) => s.kind === "global")!.sId;
  const dataSourceId =
    (await createDataSource(deps, actor, { spaceId, name: "handbook" })).data_source.sId;
  const words = [
    "travel",
    "budget",
    "hiring",
    "security",
    "launch",
    "roadmap",
    "pricing",
    "support",
  ];
  for (let i = 0; i < 400; i++) {
    const text =
      `Document ${i} about ${words[i % words.length]} and ${words[(i * 7) % words.length]}. ` +
      `${i % 20 === 0 ? "The zeppelin policy applies. " : ""}`.repeat(1) +
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(8);
    await upsertDocument(deps, actor, {
      spaceId,
      dataSourceId,
      documentId: `doc-${i}`,
      text,
      title: `Doc ${i}`,
    });
  }
  return (await issueMcpToken(deps.db, { userId: user.id, workspaceId: ws.id })).token;
}

async function ensurePeerInstalled(): Promise<void> {
  const pkg = new URL("./peers/node_sdk_peer.json", import.meta.url);
  const server = new URL("./peers/node_sdk_server.mjs", import.meta.url);
  await Deno.mkdir(PEER_DIR, { recursive: true });
  const wanted = await Deno.readTextFile(pkg);
  const have = await Deno.readTextFile(join(PEER_DIR, "package.json")).catch(() => "");
  await Deno.copyFile(server, join(PEER_DIR, "node_sdk_server.mjs"));
  if (have === wanted) return;
  await Deno.writeTextFile(join(PEER_DIR, "package.json"), wanted);
  const out = await new Deno.Command("npm", {
    args: ["install", "--no-audit", "--no-fund", "--loglevel=error"],
    cwd: PEER_DIR,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  if (out.code !== 0) {
    throw new Error(`npm install failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Start the Node peer; resolves with its port and a stop function. */
async function startPeer(token: string): Promise<{ url: string; stop: () => Promise<void> }> {
  await ensurePeerInstalled();
  const child = new Deno.Command("/usr/bin/node", {
    args: ["node_sdk_server.mjs"],
    cwd: PEER_DIR,
    env: { PEER_TOKEN: token, PORT: "0" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const deadline = Date.now() + 15_000;
  while (!/listening (\d+)/.test(buf)) {
    if (Date.now() > deadline) throw new Error("the Node peer did not start");
    const { value, done } = await reader.read();
    if (done) throw new Error("the Node peer exited");
    buf += value;
  }
  reader.releaseLock();
  const port = /listening (\d+)/.exec(buf)![1];
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: async () => {
      child.kill("SIGTERM");
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

export async function run(): Promise<BenchResult> {
  const results: Record<string, ServedLoadResult> = {};
  const lines: string[] = [];
  const record = (label: string, r: ServedLoadResult) => {
    results[label] = r;
    lines.push(formatLoad(label, r));
  };

  const bare = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      Response.json({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "{}" }] } }),
  );
  const bareUrl = `http://127.0.0.1:${bare.addr.port}/mcp`;
  for (const c of [1, 32]) {
    record(
      `bare Deno.serve c${c}`,
      await runLoad({
        ...settings(c),
        target: { url: bareUrl, method: "POST", headers: HEADERS, body: "{}" },
      }),
    );
  }
  await bare.shutdown();

  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-mcp-" });
  const database = await benchDatabase();
  const pg = benchEngine() === "postgres";
  const wanted = new Set(
    (Deno.env.get("BENCH_MCP_CASES") ?? "identity,search,peer").split(",").map((s) => s.trim()),
  );
  try {
    const config = resolveConfig({
      ...database.flags,
      port: "0",
      host: "127.0.0.1",
      "data-dir": dataDir,
      "log-level": "warn",
      "mcp-rate-user": "100000000",
      "mcp-rate-client": "100000000",
      "mcp-rate-requests": "100000000",
      // One token stands for all 32 clients: its search budget is lifted like its rate limits
      // (bench/search_fairness.ts measures the budget itself).
      "search-member-concurrency": "64",
      "search-member-queue": "64",
    }, {});
    const server = await startServer(config);
    try {
      const token = await seed(server.deps);
      const url = `${server.url}/mcp`;
      const identity = toolCall(url, token, "identity", {});
      const search = toolCall(url, token, "search", { query: "zeppelin policy", topK: 10 });
      await checkCall(identity, /workspaceName/);
      await checkCall(search, /zeppelin/);
      for (const [name, target] of [["identity", identity], ["search", search]] as const) {
        if (!wanted.has(name)) continue;
        for (const c of [1, 32]) {
          record(`dust-mcp ${name} c${c}`, await runLoad({ ...settings(c), target }));
        }
      }
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await database.drop();
  }

  if (wanted.has("peer") && !pg) {
    const peer = await startPeer("peer-token");
    try {
      const target = toolCall(peer.url, "peer-token", "identity", {});
      await checkCall(target, /peerUser01/);
      for (const c of [1, 32]) {
        record(`Node SDK peer identity c${c}`, await runLoad({ ...settings(c), target }));
      }
    } finally {
      await peer.stop();
    }
  }

  const bare32 = results["bare Deno.serve c32"];
  const id32 = results["dust-mcp identity c32"];
  const peer32 = results["Node SDK peer identity c32"];
  const search32 = results["dust-mcp search c32"];
  const engine = pg ? "PostgreSQL" : "SQLite";
  const ofBare = id32 ? id32.rps / bare32.rps : NaN;
  const ofPeer = id32 && peer32 ? id32.rps / peer32.rps : NaN;
  // All the server's threads (main + search workers), less the load generator's.
  const cpu = (r: ServedLoadResult | undefined) => r?.processCpuUsPerRequest ?? NaN;
  const searchOfIdentity = search32 && id32 ? cpu(search32) / cpu(id32) : NaN;
  const searchOfIdentityC1 = cpu(results["dust-mcp search c1"]) /
    cpu(results["dust-mcp identity c1"]);
  if (id32) {
    lines.push(
      `[${engine}] identity c32: ${(ofBare * 100).toFixed(1)} % of bare Deno.serve req/s ` +
        `(target ≥ ${pg ? 10 : 20} %), ` +
        (pg ? "" : `${ofPeer.toFixed(1)}× the Node SDK peer (target ≥ 10×), `) +
        `p99 ${id32.p99Ms.toFixed(2)} ms; server CPU ${(cpu(id32) / cpu(bare32)).toFixed(1)}× bare`,
    );
  }
  if (search32) {
    lines.push(
      `[${engine}] search c32: ${(search32.rps / bare32.rps * 100).toFixed(1)} % of bare; ` +
        `server CPU per call ${searchOfIdentity.toFixed(2)}× identity's at c32, ` +
        `${searchOfIdentityC1.toFixed(2)}× at c1 (target ≤ 2×)`,
    );
  }
  return {
    name: "mcp",
    ratio: ofBare,
    ratioLabel: "authenticated identity tools/call req/s ÷ bare Deno.serve JSON req/s (32 clients)",
    lines,
    figures: {
      engine,
      results,
      identityOfBare: ofBare,
      identityOfPeer: ofPeer,
      searchCpuOfIdentity: searchOfIdentity,
      searchCpuOfIdentityC1: searchOfIdentityC1,
    },
  };
}

/** `deno task bench` runs it once per engine. */
export const engines = ["sqlite", "postgres"];

if (import.meta.main) {
  const r = await run();
  for (const line of r.lines) console.log(line);
}
