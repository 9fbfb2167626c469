/**
 * An agent run never stays stuck: cancel stops it, a server stop marks it failed, and a
 * `kill -9` mid-run leaves it failed (with a reason) after the next start.
 */
import assert from "node:assert/strict";
import { engineEnv, startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { startFakeModel } from "../helpers/fake_model.ts";
import { waitFor } from "../helpers/local_mcp.ts";
import { readEventsAfter } from "../../src/core/conversation_events.ts";
import { INTERRUPTED_MESSAGE, TAKEN_OVER_MESSAGE } from "../../src/agents/loop.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Post (non-blocking) a conversation mentioning `dust`; returns conversation and agent sIds. */
async function postToDust(server: { url: string }, u: UserWithToken) {
  const r = await apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/assistant/conversations`, {
    method: "POST",
    body: {
      title: null,
      visibility: "unlisted",
      message: {
        content: "Think hard",
        mentions: [{ configurationId: "dust" }],
        context: { username: u.user.username, timezone: "UTC" },
      },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const cId = r.body.conversation.sId as string;
  const agent = r.body.conversation.content.flat().find((m: Json) => m.type === "agent_message");
  return { cId, mId: agent.sId as string };
}

async function agentMessageOf(server: TestServer, u: UserWithToken, cId: string): Promise<Json> {
  const r = await apiJson(
    server,
    u.token,
    `/api/v1/w/${u.workspace.sId}/assistant/conversations/${cId}`,
  );
  return r.body.conversation.content.flat().find((m: Json) => m.type === "agent_message");
}

Deno.test("[agents] cancel stops a running generation and the message ends cancelled", async () => {
  await using model = await startFakeModel([{ hang: true }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { cId, mId } = await postToDust(server, alice);
  await model.waitForRequests(1);
  assert.equal(server.deps.agents.active, 1);
  const cancel = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/assistant/conversations/${cId}/cancel`,
    { method: "POST", body: { messageIds: [mId] } },
  );
  assert.equal(cancel.status, 200);
  await waitFor(() => server.deps.agents.active === 0, 5_000, "the run to stop");
  const m = await agentMessageOf(server, alice, cId);
  assert.equal(m.status, "cancelled");
  const types = (await readEventsAfter(server.deps, `message:${mId}`, 0, 100)).map((e) =>
    e.data.type
  );
  assert.deepEqual(types, ["agent_generation_cancelled"]);
});

Deno.test("[agents] stopping the server mid-run marks the message failed, never stuck", async () => {
  await using model = await startFakeModel([{ hang: true }]);
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-test-" });
  try {
    const first = await startTestServer({ flags: model.flags, dataDir });
    const alice = await createUserWithToken(first, { email: "alice@example.com", role: "user" });
    const { cId } = await postToDust(first, alice);
    await model.waitForRequests(1);
    await first.stop();
    await using second = await startTestServer({ flags: model.flags, dataDir });
    const m = await agentMessageOf(second, alice, cId);
    assert.equal(m.status, "failed");
    assert.deepEqual(m.error, {
      code: "agent_interrupted",
      message: INTERRUPTED_MESSAGE,
      metadata: null,
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** A free loopback port. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("[agents] a kill -9 mid-run leaves the message failed with a reason after the next start", async () => {
  // Alone on SQLite the next start fails it at once; on PostgreSQL (other instances may be
  // running it) the next start takes its lease over once it passed: 2 s here.
  const shared = testEngine() === "postgres";
  const lease: Record<string, string> = shared ? { "work-lease-seconds": "2" } : {};
  await using model = await startFakeModel([{ hang: true }]);
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-test-" });
  try {
    const setup = await startTestServer({ dataDir });
    const alice = await createUserWithToken(setup, { email: "alice@example.com", role: "user" });
    await setup.stop();

    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-sys",
        new URL("../../main.ts", import.meta.url).pathname,
        "--data-dir",
        dataDir,
        "--port",
        String(port),
        "--host",
        "127.0.0.1",
        ...Object.entries({ ...model.flags, ...lease }).flatMap(([k, v]) => [`--${k}`, v]),
      ],
      env: await engineEnv(dataDir),
      stdout: "null",
      stderr: "null",
    }).spawn();
    const url = `http://127.0.0.1:${port}`;
    let cId = "";
    try {
      for (let i = 0; i < 300; i++) {
        const ok = await fetch(`${url}/healthz`).then((r) => r.body?.cancel().then(() => r.ok))
          .catch(() => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      cId = (await postToDust({ url }, alice)).cId;
      await model.waitForRequests(1);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }

    await using after = await startTestServer({ flags: { ...model.flags, ...lease }, dataDir });
    let m = await agentMessageOf(after, alice, cId);
    for (let i = 0; shared && m.status === "created" && i < 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      m = await agentMessageOf(after, alice, cId);
    }
    assert.equal(m.status, "failed");
    assert.equal(m.error.code, "agent_interrupted");
    assert.equal(m.error.message, shared ? TAKEN_OVER_MESSAGE : INTERRUPTED_MESSAGE);
    const events = (await readEventsAfter(after.deps, `message:${m.sId}`, 0, 100)).map((e) =>
      e.data.type
    );
    assert.equal(events.at(-1), "agent_error");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
