import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { authenticateWorkspaceRequest } from "../../src/auth/bearer.ts";
import type { Actor } from "../../src/auth/actor.ts";
import { createAgent } from "../../src/core/agent_editing.ts";
import { AGENTS_PAGE_SIZE, findAgentByName, fuzzyRank, listAgents } from "../../src/core/agents.ts";
import { AppError } from "../../src/errors.ts";

async function setup() {
  const server = await startTestServer();
  const b = await createUserWithToken(server, { email: "builder@example.com", role: "builder" });
  const u = await createUserWithToken(server, {
    email: "user@example.com",
    role: "user",
    workspace: b.workspace,
  });
  const actor = (token: string) =>
    authenticateWorkspaceRequest(server.deps, `Bearer ${token}`, b.workspace.sId);
  return { server, builder: await actor(b.token), user: await actor(u.token), actor, b };
}

async function make(server: TestServer, builder: Actor, name: string, scope = "workspace") {
  return await createAgent(server.deps, builder, {
    name,
    description: `${name} agent`,
    instructions: "x",
    scope: scope as "workspace",
  });
}

Deno.test("[core/agents] listAgents: Dust first, then by name, 25 per page with an sId cursor", async () => {
  const { server, builder, user } = await setup();
  await using _ = server;
  for (let i = 0; i < 30; i++) await make(server, builder, `agent-${String(i).padStart(2, "0")}`);
  const p1 = await listAgents(server.deps, user, {});
  assert.equal(p1.agents.length, AGENTS_PAGE_SIZE);
  assert.equal(p1.agents[0].id, "dust");
  assert.equal(p1.hasMore, true);
  assert.equal(p1.lastValue, p1.agents[24].id);
  assert.deepEqual(Object.keys(p1.agents[1]).sort(), [
    "description",
    "id",
    "name",
    "pictureUrl",
    "scope",
  ]);
  const p2 = await listAgents(server.deps, user, { lastValue: p1.lastValue! });
  assert.equal(p2.agents.length, 6);
  assert.equal(p2.hasMore, false);
  assert.equal(p2.lastValue, null);
  assert.equal(p2.agents[5].name, "agent-29");
  const unknown = await listAgents(server.deps, user, { lastValue: "nope" });
  assert.deepEqual(unknown, { agents: [], hasMore: false, lastValue: null });
});

Deno.test("[core/agents] listAgents: fuzzy name filter ranks exact, prefix, substring, subsequence", async () => {
  const { server, builder, user } = await setup();
  await using _ = server;
  for (const n of ["research", "researcher", "deep-research", "r-e-s", "writer"]) {
    await make(server, builder, n);
  }
  const r = await listAgents(server.deps, user, { name: "research" });
  assert.deepEqual(r.agents.map((a) => a.name), ["research", "researcher", "deep-research"]);
  const sub = (await listAgents(server.deps, user, { name: "rs" })).agents.map((a) => a.name);
  assert.deepEqual(sub, ["r-e-s", "research", "researcher", "deep-research"]);
  assert.equal(fuzzyRank("writer", "xyz"), null);
});

Deno.test("[core/agents] listAgents hides other users' private agents; API keys cannot list", async () => {
  const { server, builder, user, b } = await setup();
  await using _ = server;
  await make(server, builder, "Private", "private");
  assert.ok((await listAgents(server.deps, builder, {})).agents.some((a) => a.name === "Private"));
  assert.ok(!(await listAgents(server.deps, user, {})).agents.some((a) => a.name === "Private"));
  const key = await authenticateWorkspaceRequest(
    server.deps,
    `Bearer ${await createApiKey(server, b.workspace)}`,
    b.workspace.sId,
  );
  await assert.rejects(
    async () => await listAgents(server.deps, key, {}),
    (e) => e instanceof AppError && e.status === 401,
  );
});

Deno.test("[core/agents] findAgentByName is case-insensitive and errors with Dust's text", async () => {
  const { server, builder, user } = await setup();
  await using _ = server;
  await make(server, builder, "Helper");
  assert.equal((await findAgentByName(server.deps, user, { name: "dust" })).sId, "dust");
  assert.equal((await findAgentByName(server.deps, user, { name: "HELPER" })).name, "Helper");
  await assert.rejects(
    async () => await findAgentByName(server.deps, user, { name: "Ghost" }),
    (e) => e instanceof AppError && e.message === 'No agent found matching name: "Ghost"',
  );
});
