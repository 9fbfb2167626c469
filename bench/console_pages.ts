/**
 * Server time of the knowledge, agents and conversations pages on a big workspace: 10,000
 * documents (9,000 in one data source, 1,000 in another) and 1,000 conversations (700 private
 * to the member, 200 shared with the workspace, 100 in a Pod; one of them 60 messages long),
 * all made through the core, on a real server (SQLite) over loopback HTTP with a browser
 * session. Each page is fetched 5 times to warm up, then `BENCH_CONSOLE_ROUNDS` (default 30)
 * times; the median and p95 round trip are reported (on loopback the round trip is the server's
 * time plus well under a millisecond, the `/healthz` baseline measured in the same run).
 * A page whose median is over 100 ms is a failure.
 * Ratio: the slowest page's median ÷ the `/healthz` median.
 *
 * Run: `deno run -A bench/console_pages.ts` (or `deno task bench console_pages`).
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createUser, toUserRef } from "../src/core/users.ts";
import { createWorkspace, toWorkspaceRef } from "../src/core/workspaces.ts";
import { listWorkspaceSpaces } from "../src/core/space_rows.ts";
import { createDataSource } from "../src/core/data_sources.ts";
import { upsertDocument } from "../src/core/documents.ts";
import { postConversation } from "../src/core/conversations.ts";
import { createSpace } from "../src/core/spaces.ts";
import { createSession } from "../src/core/sessions.ts";
import { sessionCookieName } from "../src/auth/sessions.ts";
import { postToConversation } from "../src/core/messages.ts";
import type { UserActor } from "../src/auth/actor.ts";
import type { Deps } from "../src/deps.ts";
import type { BenchResult } from "./result.ts";

const ROUNDS = Number(Deno.env.get("BENCH_CONSOLE_ROUNDS") ?? "30");
const DOCUMENTS = 10_000;
const CONVERSATIONS = 1_000;
const LIMIT_MS = 100;

const WORDS = "harbour lantern quartz meadow ledger orbit pepper signal tundra velvet willow".split(
  " ",
);

function text(i: number): string {
  const out: string[] = [];
  for (let j = 0; j < 80; j++) out.push(WORDS[(i * 7 + j * 3) % WORDS.length]);
  return `Document ${i}. ${out.join(" ")}.`;
}

interface Seeded {
  wId: string;
  cookie: string;
  paths: Record<string, string>;
}

async function seed(deps: Deps): Promise<Seeded> {
  const user = await createUser(deps.db, {
    email: "bench@console.example",
    name: "Bench",
    password: null,
  });
  const ws = await createWorkspace(deps.db, { name: "Console bench", adminUserId: user.id });
  const actor: UserActor = {
    kind: "user",
    user: toUserRef(user),
    workspace: toWorkspaceRef(ws),
    role: "admin",
    scopes: new Set(["read", "write"]),
    credential: { kind: "session", id: "bench" },
  };
  const global = (await listWorkspaceSpaces(deps.db, ws.id)).find((s) => s.kind === "global")!;
  const big =
    (await createDataSource(deps, actor, { spaceId: global.sId, name: "Big" })).data_source.sId;
  const small =
    (await createDataSource(deps, actor, { spaceId: global.sId, name: "Small" })).data_source.sId;
  for (let i = 0; i < DOCUMENTS; i++) {
    await upsertDocument(deps, actor, {
      spaceId: global.sId,
      dataSourceId: i < 9_000 ? big : small,
      documentId: `doc-${i}`,
      title: `Document ${i}`,
      text: text(i),
      timestamp: 1_700_000_000_000 + i,
    });
  }
  const pod = await createSpace(deps, actor, { kind: "project", name: "Bench Pod" });
  const post = (content: string) => ({
    content,
    mentions: [],
    context: { username: user.username, timezone: "UTC" },
    contentFragments: [],
  });
  let long = "";
  let middle = 0;
  for (let i = 0; i < CONVERSATIONS; i++) {
    const r = await postConversation(deps, actor, {
      title: `Conversation ${i}`,
      visibility: i >= 700 && i < 900 ? "workspace" : "unlisted",
      spaceId: i >= 900 ? pod.sId : null,
      post: post(`Message of conversation ${i}`),
    });
    if (i === 0) long = r.conversation.sId;
    if (i === 350) middle = r.conversation.updatedAt;
  }
  for (let i = 0; i < 59; i++) {
    await postToConversation(deps, actor, { conversationId: long, post: post(`Reply ${i}`) });
  }
  const { id } = await createSession(deps.db, user.id);
  const k = `/w/${ws.sId}/knowledge/${global.sId}`;
  return {
    wId: ws.sId,
    cookie: `${sessionCookieName(deps.config)}=${id}`,
    paths: {
      "knowledge": `/w/${ws.sId}/knowledge`,
      "data source, 9,000 documents (first page)": `${k}/${big}`,
      "data source, 9,000 documents (page 100)": `${k}/${big}?cursor=${
        1_700_000_000_000 + 4_050
      }.${4_051}`,
      "data source, 1,000 documents": `${k}/${small}`,
      "document": `${k}/${big}/document?id=doc-42`,
      "agents": `/w/${ws.sId}/agents`,
      "agent": `/w/${ws.sId}/agents/dust`,
      "new agent": `/w/${ws.sId}/agents/new`,
      "conversations (mine, 700)": `/w/${ws.sId}/conversations`,
      "conversations (mine, older page)": `/w/${ws.sId}/conversations?cursor=${middle}`,
      "conversations (shared, 200)": `/w/${ws.sId}/conversations?view=shared`,
      "conversations (pods, 100)": `/w/${ws.sId}/conversations?view=pods`,
      "conversation (60 messages)": `/w/${ws.sId}/conversations/${long}`,
    },
  };
}

async function timeGet(url: string, cookie: string | null): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers: cookie ? { cookie } : {}, redirect: "manual" });
  await res.arrayBuffer();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return ms;
}

/** What each page must show (so a fast page is not a fast empty page). */
const EXPECT: Record<string, string> = {
  "knowledge": "9,000",
  "data source, 9,000 documents (first page)": "Document 8999",
  "data source, 9,000 documents (page 100)": "Document 4049",
  "data source, 1,000 documents": "Document 9999",
  "document": "Document 42.",
  "agents": "@Dust",
  "conversations (mine, 700)": "Conversation 699",
  "conversations (mine, older page)": "Conversation 349",
  "conversations (shared, 200)": "Conversation 899",
  "conversations (pods, 100)": "Conversation 999",
  "conversation (60 messages)": "Reply 58",
};

async function check(base: string, name: string, path: string, cookie: string) {
  const res = await fetch(base + path, { headers: { cookie } });
  const body = await res.text();
  const want = EXPECT[name];
  if (want && !body.includes(want)) throw new Error(`${name}: the page lacks "${want}"`);
}

async function measure(base: string, path: string, cookie: string | null) {
  for (let i = 0; i < 5; i++) await timeGet(base + path, cookie);
  const all: number[] = [];
  for (let i = 0; i < ROUNDS; i++) all.push(await timeGet(base + path, cookie));
  all.sort((a, b) => a - b);
  return {
    median: all[Math.floor(all.length / 2)],
    p95: all[Math.min(all.length - 1, Math.floor(all.length * 0.95))],
  };
}

export async function run(): Promise<BenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-console-" });
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
    {},
  );
  const server = await startServer(config);
  try {
    const seededAt = performance.now();
    const s = await seed(server.deps);
    const seedSeconds = (performance.now() - seededAt) / 1000;
    const healthz = await measure(server.url, "/healthz", null);
    const lines = [
      `seeded ${DOCUMENTS} documents and ${CONVERSATIONS} conversations in ${
        seedSeconds.toFixed(0)
      } s`,
      `/healthz: median ${healthz.median.toFixed(2)} ms, p95 ${healthz.p95.toFixed(2)} ms`,
    ];
    const figures: Record<string, unknown> = { healthz, rounds: ROUNDS };
    const failures: string[] = [];
    let slowest = 0;
    for (const [name, path] of Object.entries(s.paths)) {
      await check(server.url, name, path, s.cookie);
      const m = await measure(server.url, path, s.cookie);
      figures[name] = m;
      slowest = Math.max(slowest, m.median);
      lines.push(`${name}: median ${m.median.toFixed(1)} ms, p95 ${m.p95.toFixed(1)} ms`);
      if (m.median > LIMIT_MS) {
        failures.push(`${name}: median ${m.median.toFixed(0)} ms > ${LIMIT_MS} ms`);
      }
    }
    return {
      name: "console_pages",
      ratio: slowest / healthz.median,
      ratioLabel: "slowest console page median ÷ /healthz median (lower is better)",
      lines,
      failures,
      figures,
    };
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(2)} (${r.ratioLabel})`);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
}
