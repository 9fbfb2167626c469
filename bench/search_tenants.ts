/**
 * What other workspaces cost a search. Each workspace's open spaces have their own FTS5 index
 * partition (search_index.ts), so the same query over the same documents should cost the same
 * whatever other tenants hold (with one shared index it cost 2.7× from the last of 32).
 *
 * Baseline: a server with one workspace of BENCH_TENANT_DOCS documents (default 300; every 20th
 * mentions "zeppelin policy"). Measured: a server with BENCH_TENANTS identical workspaces
 * (default 32), searched from the first and from the last one. Each search goes through the
 * product path (`searchWorkspace` → search worker), sequentially, p50/p95 of 100.
 *
 * Run: `deno task bench search_tenants`.
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";

import { createUser, toUserRef } from "../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../src/core/workspaces.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import { searchWorkspace } from "../src/core/search.ts";
import type { UserActor } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";
import { quantile } from "./load.ts";
import { benchDocumentText } from "./load_mixed_seed.ts";
import type { BenchResult } from "./result.ts";

const TENANTS = Math.max(2, Math.floor(Number(Deno.env.get("BENCH_TENANTS") ?? 32)) || 32);
const DOCS = Math.max(20, Math.floor(Number(Deno.env.get("BENCH_TENANT_DOCS") ?? 300)) || 300);
const SEARCHES = 100;
const QUERY = "zeppelin policy";

/** A workspace with its admin and a data source of DOCS documents; returns the admin actor. */
async function seedTenant(deps: Deps, i: number): Promise<UserActor> {
  const user = await createUser(deps.db, {
    email: `tenant${i}@example.com`,
    name: `Tenant ${i}`,
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: `Tenant ${i}`, adminUserId: user.id });
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
    (await createDataSource(deps, actor, { spaceId, name: "handbook" })).data_source.sId;
  await deps.db.tx(async () => {
    for (let d = 0; d < DOCS; d++) {
      await upsertDocument(deps, actor, {
        spaceId,
        dataSourceId,
        documentId: `doc-${d}`,
        text: benchDocumentText(d),
      });
    }
  });
  return actor;
}

/** p50/p95 (ms) of sequential searches of QUERY as `actor`, after a short warm-up. */
async function timeSearches(deps: Deps, actor: UserActor) {
  const samples: number[] = [];
  for (let i = 0; i < SEARCHES + 5; i++) {
    const t0 = performance.now();
    const r = await searchWorkspace(deps, actor, { query: QUERY, topK: 10 });
    if (r.count === 0) throw new Error("the bench query found nothing");
    if (i >= 5) samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
}

/** Start a server on a fresh directory, seed `tenants` workspaces, run `fn`, clean up. */
async function withTenants<T>(
  tenants: number,
  fn: (deps: Deps, actors: UserActor[]) => Promise<T>,
): Promise<T> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-tenants-" });
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
    {},
  );
  const server = await startServer(config);
  try {
    const actors: UserActor[] = [];
    for (let i = 0; i < tenants; i++) actors.push(await seedTenant(server.deps, i));
    return await fn(server.deps, actors);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

export async function run(): Promise<BenchResult> {
  const alone = await withTenants(1, (deps, [a]) => timeSearches(deps, a));
  const shared = await withTenants(TENANTS, async (deps, actors) => ({
    first: await timeSearches(deps, actors[0]),
    last: await timeSearches(deps, actors[actors.length - 1]),
  }));
  const f = (s: { p50: number; p95: number }) =>
    `p50 ${s.p50.toFixed(3)} ms, p95 ${s.p95.toFixed(3)} ms`;
  return {
    name: "search_tenants",
    ratio: shared.last.p50 / alone.p50,
    ratioLabel: `search p50 from the last of ${TENANTS} identical workspaces ÷ the same ` +
      "workspace alone on its server (lower is better)",
    lines: [
      `"${QUERY}", top 10, ${DOCS} documents per workspace (${DOCS / 20} match), ${SEARCHES} ` +
      "sequential searches via the worker",
      `${"one workspace alone:".padEnd(36)} ${f(alone)}`,
      `${`first of ${TENANTS} identical workspaces:`.padEnd(36)} ${f(shared.first)}`,
      `${`last of ${TENANTS} identical workspaces:`.padEnd(36)} ${f(shared.last)}`,
    ],
    figures: { tenants: TENANTS, docs: DOCS, alone, shared },
  };
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
}
