/**
 * Fair search (issue 10, finding 8: 64 concurrent REST searches by one member moved another
 * workspace's 1 ms search to ~4 s). One member of workspace A floods `GET /search` with
 * BENCH_FAIR_FLOOD (default 64) concurrent connections, each re-sending as soon as it is
 * answered, with a query that ranks every document of A's corpus (BENCH_FAIR_FLOOD_DOCS,
 * default 20,000); meanwhile a member of workspace B searches their own 300 documents.
 *
 * Baseline, in the same run and on the same server: B's search p50 with nobody else searching.
 * Ratio: B's p50 during the flood ÷ that idle p50 (target: under 3). The flooder retries a
 * refused search at once (an attacker ignores Retry-After). Idle and flooded phases alternate
 * (ROUNDS times), so load from elsewhere on a shared machine falls on both alike.
 * The server is a subprocess (`main.ts`, default settings) on a data directory seeded through
 * the core; the flood runs in a Worker, B's searches in this thread.
 *
 * Run: `deno task bench search_fairness` (or `deno run -A bench/search_fairness.ts`).
 * @module
 */

import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createUser, toUserRef } from "../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../src/core/workspaces.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import type { UserActor } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";
import { quantile } from "./load.ts";
import { benchDocumentText, spawnServer } from "./load_mixed_seed.ts";
import { RawHttpClient } from "./raw_http.ts";
import type { FloodOptions, FloodResult } from "./search_fairness_worker.ts";
import type { BenchResult } from "./result.ts";

const FLOOD = Math.max(1, Math.floor(Number(Deno.env.get("BENCH_FAIR_FLOOD") ?? 64)) || 64);
const FLOOD_DOCS = Math.max(100, Number(Deno.env.get("BENCH_FAIR_FLOOD_DOCS") ?? 20_000) || 0);
const QUIET_DOCS = 300;
/** Idle and flooded phases, alternating; B's searches per phase, paced over the phase. */
const ROUNDS = 3;
const SAMPLES = 100;
const PACE_MS = 10;
const TARGET = 3;

interface Tenant {
  wId: string;
  token: string;
}

/** A workspace whose admin holds a personal token and a data source of `docs` documents. */
async function seedTenant(
  deps: Deps,
  name: string,
  docs: number,
  text: (i: number) => string,
): Promise<Tenant> {
  const user = await createUser(deps.db, { email: `${name}@example.com`, name, password: null });
  const ws = await createWorkspace(deps.db, { name, adminUserId: user.id });
  const actor: UserActor = {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role: "admin",
    scopes: new Set(["read", "write"]),
    credential: { kind: "personal_token", id: "bench" },
  };
  const spaceId = (await listWorkspaceSpaces(deps.db, ws.id)).find((s) => s.kind === "global")!.sId;
  const dataSourceId =
    (await createDataSource(deps, actor, { spaceId, name: "corpus" })).data_source.sId;
  for (let from = 0; from < docs; from += 1000) {
    await deps.db.tx(async () => {
      for (let d = from; d < Math.min(docs, from + 1000); d++) {
        await upsertDocument(deps, actor, {
          spaceId,
          dataSourceId,
          documentId: `d${d}`,
          text: text(d),
        });
      }
    });
  }
  const token = await issuePersonalToken(deps.db, {
    workspaceId: ws.id,
    userId: user.id,
    name: "b",
  });
  return { wId: ws.sId, token: token.secret };
}

/** Every flood document matches the flood query, so each flood search ranks all of them. */
function floodText(i: number): string {
  return `Flood topic report ${i}: ` + benchDocumentText(i).slice(0, 400);
}

async function seed(dataDir: string): Promise<{ flooder: Tenant; quiet: Tenant }> {
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
    {},
  );
  const server = await startServer(config);
  try {
    const flooder = await seedTenant(server.deps, "flooder", FLOOD_DOCS, floodText);
    const quiet = await seedTenant(server.deps, "quiet", QUIET_DOCS, benchDocumentText);
    await server.deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return { flooder, quiet };
  } finally {
    await server.stop();
  }
}

function searchTarget(url: string, t: Tenant, query: string) {
  return {
    url: `${url}/api/v1/w/${t.wId}/search?query=${encodeURIComponent(query)}&topK=10`,
    headers: { Authorization: `Bearer ${t.token}` },
  };
}

/** B's sequential searches (latencies in ms, and how many did not answer 200). */
async function sampleQuiet(url: string, quiet: Tenant) {
  const client = new RawHttpClient(searchTarget(url, quiet, "zeppelin policy"));
  const samples: number[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < SAMPLES + 10; i++) {
      const t0 = performance.now();
      const status = await client.send();
      if (status !== 200) failed++;
      else if (i >= 10) samples.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
  } finally {
    client.close();
  }
  return { samples, failed };
}

function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95) };
}

/** B's figures while the flooder's Worker floods (it starts first and stops after). */
async function underFlood(url: string, t: { flooder: Tenant; quiet: Tenant }) {
  const worker = new Worker(new URL("./search_fairness_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const done = new Promise<FloodResult>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ phase: string; result?: FloodResult }>) => {
        if (e.data.phase === "done") resolve(e.data.result!);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`flood worker failed: ${e.message}`));
      };
    });
    const options: FloodOptions = {
      target: searchTarget(url, t.flooder, "flood topic"),
      concurrency: FLOOD,
      durationMs: 120_000,
      politeMs: 0,
    };
    worker.postMessage(options);
    await new Promise((r) => setTimeout(r, 1500)); // the flood reaches its steady state
    const quiet = await sampleQuiet(url, t.quiet);
    worker.postMessage("stop");
    return { quiet, flood: await done };
  } finally {
    worker.terminate();
  }
}

export async function run(): Promise<BenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-fair-" });
  try {
    const tenants = await seed(dataDir);
    const server = await spawnServer(dataDir);
    try {
      const idle: number[] = [];
      const flooded: number[] = [];
      const floods: FloodResult[] = [];
      let failed = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const calm = await sampleQuiet(server.url, tenants.quiet);
        const storm = await underFlood(server.url, tenants);
        idle.push(...calm.samples);
        flooded.push(...storm.quiet.samples);
        floods.push(storm.flood);
        failed += calm.failed + storm.quiet.failed;
      }
      const calm = summary(idle);
      const storm = summary(flooded);
      const ratio = storm.p50 / calm.p50;
      const seconds = floods.reduce((n, r) => n + r.seconds, 0);
      const total = (k: "served" | "refused" | "errors") => floods.reduce((n, r) => n + r[k], 0);
      const f = (s: { p50: number; p95: number }) =>
        `p50 ${s.p50.toFixed(2)} ms, p95 ${s.p95.toFixed(2)} ms`;
      const failures: string[] = [];
      if (ratio > TARGET) failures.push(`B's p50 under flood is ${ratio.toFixed(2)}× idle`);
      if (failed > 0) failures.push(`${failed} of B's searches did not answer 200`);
      return {
        name: "search_fairness",
        ratio,
        ratioLabel: `B's search p50 while one member of A floods with ${FLOOD} concurrent ` +
          `searches ÷ B's idle p50 (lower is better; target < ${TARGET})`,
        lines: [
          `A: ${FLOOD_DOCS} documents, all matching its query; B: ${QUIET_DOCS} documents; ` +
          `${ROUNDS} rounds of ${SAMPLES} searches by B per phase`,
          `${"B idle:".padEnd(28)} ${f(calm)}`,
          `${"B while A floods:".padEnd(28)} ${f(storm)}  (${ratio.toFixed(2)}×)`,
          `${"A's flood:".padEnd(28)} ${(total("served") / seconds).toFixed(0)} searches/s ` +
          `served, ${(total("refused") / seconds).toFixed(0)}/s refused (429), ` +
          `${total("errors")} errors`,
        ],
        failures,
        figures: { flood: FLOOD, floodDocs: FLOOD_DOCS, idle: calm, flooded: storm, floods },
      };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
}
