/**
 * Setup for bench/load_mixed.ts: seed a data directory through the core (workspaces with a
 * searchable corpus each, members with MCP and personal tokens, conversations, relay
 * registrations) with an
 * in-process server that is then stopped, spawn the real server as a subprocess on that
 * directory (so its RSS can be sampled with `ps`), and sample that RSS.
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";

import { createUser, findUserByEmail } from "../src/core/users.ts";
import { addMember, createWorkspace, getRole } from "../src/core/workspaces.ts";
import { issueMcpToken } from "../src/core/mcp_tokens.ts";
import { issuePersonalToken } from "../src/core/personal_tokens.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import { postConversation } from "../src/core/conversations.ts";
import { registerRelayServer } from "../src/core/relay_registry.ts";
import { resolveUserActor } from "../src/auth/user_actor.ts";
import { ALL_SCOPES } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";

/** One seeded member: its workspace's corpus, its tokens, conversations and relay servers. */
export interface SeededUser {
  wId: string;
  spaceId: string;
  dataSourceId: string;
  mcpToken: string;
  restToken: string;
  conversationIds: string[];
  relayServerIds: string[];
}

/** Users are spread over the workspaces round-robin; user `w` created workspace `w`. */
export interface SeedPlan {
  workspaces: number;
  users: number;
  docsPerWorkspace: number;
  conversationsPerUser: number;
  relayServersPerUser: number;
}

const WORDS = ["travel", "budget", "hiring", "security", "launch", "roadmap", "pricing", "support"];

/** ~1 KB of text; every 20th document mentions the searched phrase. */
export function benchDocumentText(i: number): string {
  const topic = `${WORDS[i % WORDS.length]} and ${WORDS[(i * 7) % WORDS.length]}`;
  const planted = i % 20 === 0 ? "The zeppelin policy applies. " : "";
  return `Document ${i} about ${topic}. ${planted}` +
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(16);
}

interface SeededWorkspace {
  id: number;
  wId: string;
  spaceId: string;
  dataSourceId: string;
}

/** A workspace created by its admin (user `i`), with a data source of `docs` documents. */
async function seedWorkspace(deps: Deps, i: number, docs: number): Promise<SeededWorkspace> {
  const admin = await createUser(deps.db, {
    email: `mixed${i}@example.com`,
    name: `Mixed ${i}`,
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: `Mixed ${i}`, adminUserId: admin.id });
  const actor = await actorOf(deps, admin.sId, ws.sId);
  const spaceId = (await listWorkspaceSpaces(deps.db, ws.id)).find((s) => s.kind === "global")!.sId;
  const dataSourceId =
    (await createDataSource(deps, actor, { spaceId, name: "handbook" })).data_source.sId;
  await deps.db.tx(async () => {
    for (let d = 0; d < docs; d++) {
      await upsertDocument(deps, actor, {
        spaceId,
        dataSourceId,
        documentId: `doc-${d}`,
        text: benchDocumentText(d),
        title: `Doc ${d}`,
      });
    }
  });
  return { id: ws.id, wId: ws.sId, spaceId, dataSourceId };
}

async function actorOf(deps: Deps, userSId: string, workspaceSId: string) {
  return (await resolveUserActor(deps, {
    userSId,
    workspaceSId,
    scopes: new Set(ALL_SCOPES),
    credential: { kind: "personal_token", id: "bench" },
  }))!;
}

/** Member `i` of `ws` (its admin when it created it, a builder otherwise) and its own data. */
async function seedMember(
  deps: Deps,
  i: number,
  ws: SeededWorkspace,
  plan: SeedPlan,
): Promise<SeededUser> {
  const email = `mixed${i}@example.com`;
  const user = await findUserByEmail(deps.db, email) ??
    await createUser(deps.db, { email, name: `Mixed ${i}`, password: null });
  if (!await getRole(deps.db, ws.id, user.id)) {
    await addMember(deps.db, { workspaceId: ws.id, userId: user.id, role: "builder" });
  }
  const actor = await actorOf(deps, user.sId, ws.wId);
  const conversationIds: string[] = [];
  for (let c = 0; c < plan.conversationsPerUser; c++) {
    const r = await postConversation(deps, actor, { title: `c${c}`, visibility: "unlisted" });
    conversationIds.push(r.conversation.sId);
  }
  const relayServerIds: string[] = [];
  for (let s = 0; s < plan.relayServersPerUser; s++) {
    relayServerIds.push(
      (await registerRelayServer(deps, actor, { serverName: `Bench ${s}` })).serverId,
    );
  }
  return {
    wId: ws.wId,
    spaceId: ws.spaceId,
    dataSourceId: ws.dataSourceId,
    mcpToken: (await issueMcpToken(deps.db, { userId: user.id, workspaceId: ws.id })).token,
    restToken:
      (await issuePersonalToken(deps.db, { workspaceId: ws.id, userId: user.id, name: "b" }))
        .secret,
    conversationIds,
    relayServerIds,
  };
}

/** Seed `dataDir` with an in-process server, stopped before returning. */
export async function seedDataDir(
  dataDir: string,
  plan: SeedPlan,
  /** `database-url` for PostgreSQL (bench/engine.ts); none: SQLite in the data directory. */
  dbFlags: Record<string, string> = {},
): Promise<SeededUser[]> {
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error", ...dbFlags },
    {},
  );
  const server = await startServer(config);
  try {
    const workspaces: SeededWorkspace[] = [];
    for (let w = 0; w < plan.workspaces; w++) {
      workspaces.push(await seedWorkspace(server.deps, w, plan.docsPerWorkspace));
    }
    const users: SeededUser[] = [];
    for (let i = 0; i < plan.users; i++) {
      users.push(await seedMember(server.deps, i, workspaces[i % workspaces.length], plan));
    }
    if (server.deps.db.engine === "sqlite") {
      await server.deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    return users;
  } finally {
    await server.stop();
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A server subprocess (`deno run main.ts`) and how to stop it. */
export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Spawn `deno run -A main.ts` on `dataDir` (rate limits lifted) and wait for /healthz.
 * `BENCH_CPU_PROF=<dir>` profiles the server (`--cpu-prof`, written when it stops).
 */
export async function spawnServer(
  dataDir: string,
  dbFlags: Record<string, string> = {},
): Promise<ServerProcess> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const big = "100000000";
  const profDir = Deno.env.get("BENCH_CPU_PROF");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : []),
      new URL("../main.ts", import.meta.url).pathname,
      ...["--data-dir", dataDir, "--port", String(port), "--host", "127.0.0.1"],
      ...["--log-level", "error", "--mcp-rate-user", big, "--mcp-rate-client", big],
      ...["--mcp-rate-requests", big],
      // The load opens ~1,000 event streams from a few members: the stream budget (a hardening
      // measured by bench/stream_budget.ts) would refuse most of them.
      ...["--streams-total", big, "--streams-per-user", big],
      ...Object.entries(dbFlags).flatMap(([k, v]) => [`--${k}`, v]),
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  };
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${url}/healthz`).then(async (r) => (await r.body?.cancel(), r.ok))
      .catch(() => false);
    if (ok) return { url, pid: child.pid, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error("the server subprocess never answered /healthz");
}

/** Resident set size of a process in KiB, from `ps` (reading /proc needs --allow-all). */
export async function rssKiB(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  const kib = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isFinite(kib) || kib <= 0) throw new Error(`ps failed for ${pid}`);
  return kib;
}

/** Sample a process's RSS every `everyMs` until stopped; the peak and the last sample. */
export function sampleRss(pid: number, everyMs = 250) {
  let peak = 0;
  let last = 0;
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    // Bounded: at most one sample per interval, for at most an hour.
    for (let i = 0; i < 3_600_000 / everyMs && !stopped; i++) {
      last = await rssKiB(pid).catch(() => last);
      peak = Math.max(peak, last);
      samples++;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(): Promise<{ peakKiB: number; lastKiB: number; samples: number }> {
      stopped = true;
      await loop;
      return { peakKiB: peak, lastKiB: last, samples };
    },
  };
}
