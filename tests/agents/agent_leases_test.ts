/**
 * Agent-run leases (src/core/agent_runs.ts, src/agents/runner.ts), on the engine under test:
 * the post gives the run to the instance that served it; a lease that passed (its holder dead)
 * is claimed once, whoever scans, and its message ends `failed` (`agent_interrupted`); a run
 * whose lease another instance took stops without writing anything more.
 */
import assert from "node:assert/strict";
import { startTestServer, testEngine } from "../helpers/server.ts";
import { apiJson, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { startFakeModel } from "../helpers/fake_model.ts";
import { waitFor } from "../helpers/local_mcp.ts";
import { readEventsAfter } from "../../src/core/conversation_events.ts";
import { TAKEN_OVER_MESSAGE } from "../../src/agents/loop.ts";
import { claimExpiredAgentRuns } from "../../src/core/agent_runs.ts";
import { PostgresDb } from "../../src/db/postgres.ts";
import type { Db } from "../../src/db/db.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function postToDust(server: { url: string }, u: UserWithToken, n = 0) {
  const r = await apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/assistant/conversations`, {
    method: "POST",
    body: {
      title: `lease ${n}`,
      visibility: "unlisted",
      message: {
        content: "Think hard",
        mentions: [{ configurationId: "dust" }],
        context: { username: u.user.username, timezone: "UTC" },
      },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const agent = r.body.conversation.content.flat().find((m: Json) => m.type === "agent_message");
  return { cId: r.body.conversation.sId as string, mId: agent.sId as string };
}

async function leaseOf(db: Db, mId: string) {
  return await db.get<{ instance_id: string | null; lease_until: number; attempts: number }>(
    `SELECT r.instance_id, r.lease_until, r.attempts FROM agent_runs r
     JOIN messages m ON m.id = r.message_id WHERE m.s_id = ?`,
    mId,
  );
}

Deno.test("[agents] a post gives the run's lease to its instance, renewed while it runs and gone when it ends", async () => {
  await using model = await startFakeModel([{ hang: true }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { cId, mId } = await postToDust(server, alice);
  await model.waitForRequests(1);
  const first = await leaseOf(server.deps.db, mId);
  assert.equal(first?.instance_id, server.deps.instanceId);
  await new Promise((r) => setTimeout(r, 20));
  await server.deps.cluster.tick();
  const renewed = await leaseOf(server.deps.db, mId);
  assert.ok(renewed!.lease_until > first!.lease_until, "the tick renewed the lease");
  const cancel = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/assistant/conversations/${cId}/cancel`,
    { method: "POST", body: { messageIds: [mId] } },
  );
  assert.equal(cancel.status, 200);
  await waitFor(() => server.deps.agents.active === 0, 10_000, "the run to stop");
  await server.deps.agents.idle();
  assert.equal(await leaseOf(server.deps.db, mId), undefined, "the ended run left no lease");
});

Deno.test("[agents] a lease taken over from a dead holder: the run here stops, the message ends failed with a reason, once", async () => {
  await using model = await startFakeModel([{ hang: true }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { cId, mId } = await postToDust(server, alice);
  await model.waitForRequests(1);
  assert.equal(server.deps.agents.active, 1);
  // As if the run's holder had died: another instance id, a lease long passed.
  await server.deps.db.run(
    `UPDATE agent_runs SET instance_id = 'ins_gone', lease_until = 0
     WHERE message_id = (SELECT id FROM messages WHERE s_id = ?)`,
    mId,
  );
  await server.deps.cluster.tick();
  await waitFor(() => server.deps.agents.active === 0, 10_000, "the run here to stop");
  const r = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/assistant/conversations/${cId}`,
  );
  const m = r.body.conversation.content.flat().find((x: Json) => x.type === "agent_message");
  assert.equal(m.status, "failed");
  assert.deepEqual(m.error, {
    code: "agent_interrupted",
    message: TAKEN_OVER_MESSAGE,
    metadata: null,
  });
  const types = (await readEventsAfter(server.deps, `message:${mId}`, 0, 100)).map((e) =>
    e.data.type
  );
  assert.deepEqual(types, ["agent_error"], "one terminal event, nothing from the stopped run");
  assert.equal(await leaseOf(server.deps.db, mId), undefined);
  await server.deps.cluster.tick();
  const again = (await readEventsAfter(server.deps, `message:${mId}`, 0, 100)).length;
  assert.equal(again, 1, "a second tick finds nothing to take over");
});

Deno.test("[agents] expired leases scanned by several instances at once: each run is claimed exactly once", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  // No model: the runs fail fast; the leases are then recreated as a dead instance's.
  const posted = [];
  for (let i = 0; i < 12; i++) posted.push(await postToDust(server, alice, i));
  await server.deps.agents.idle();
  await server.deps.db.run(
    `INSERT INTO agent_runs (message_id, instance_id, lease_until, attempts, created_at)
     SELECT message_id, 'ins_gone', 0, 1, 0 FROM agent_messages`,
  );
  const url = server.config.databaseUrl;
  const pools: Db[] = testEngine() === "postgres" && url
    ? [0, 1, 2].map(() => new PostgresDb(url, { max: 2 }))
    : [server.deps.db, server.deps.db, server.deps.db];
  try {
    const claims = await Promise.all(pools.map((db, i) =>
      claimExpiredAgentRuns({ db }, {
        instanceId: `ins_scan_${i}`,
        at: Date.now(),
        leaseUntil: Date.now() + 30_000,
        limit: 100,
      })
    ));
    const all = claims.flat().map((c) => c.messageSId).sort();
    assert.deepEqual(all, posted.map((p) => p.mId).sort(), "every run claimed, none twice");
  } finally {
    if (pools[0] !== server.deps.db) { for (const p of pools) await p.close(); }
  }
});
