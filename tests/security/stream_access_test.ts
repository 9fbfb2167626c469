/**
 * Long-lived event streams follow access, not just the check at open time: a reader removed
 * from the Pod (or from the workspace), or whose token is revoked, while a conversation,
 * agent-message or relay request stream is open receives nothing published afterwards, and
 * the stream ends.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { holdAgentRuns, messageBody } from "../helpers/conversations.ts";
import { appendMessageEvent } from "../../src/core/agent_messages.ts";
import { publishRelayRequest } from "../../src/core/relay_requests.ts";
import { apiResourceUrl } from "../../src/config.ts";
import { mintOAuthToken } from "../mcp/helpers.ts";

/** An open SSE body, read in the background until it ends or is cancelled. */
function follow(s: TestServer, token: string, path: string) {
  let text = "";
  let ended = false;
  const opened = fetch(`${s.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  let reader: ReadableStreamDefaultReader<string> | undefined;
  const pump = opened.then(async (res) => {
    assert.equal(res.status, 200);
    reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    while (true) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
    ended = true;
  });
  return {
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    async close() {
      await reader?.cancel().catch(() => {});
      await pump.catch(() => {});
    },
  };
}

/** Wait (bounded) until `cond()` holds. */
async function until(cond: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function podConversation(s: TestServer) {
  holdAgentRuns(s);
  const alice = await createUserWithToken(s, { email: "alice@a.example", role: "admin" });
  const bob = await createUserWithToken(s, {
    email: "bob@a.example",
    role: "user",
    workspace: alice.workspace,
  });
  const w = `/api/v1/w/${alice.workspace.sId}`;
  const pod = await apiJson(s, alice.token, `${w}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Pod", members: [bob.user.sId] },
  });
  const conv = await apiJson(s, alice.token, `${w}/assistant/conversations`, {
    method: "POST",
    body: { title: "t", spaceId: pod.body.space.sId, message: messageBody("first") },
  });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const c = conv.body.conversation;
  return {
    alice,
    bob,
    w,
    pod: pod.body.space.sId as string,
    cId: c.sId as string,
    agentMsg: c.content[1][0].sId as string,
  };
}

async function post(s: TestServer, u: UserWithToken, path: string, content: string) {
  const r = await apiJson(s, u.token, path, { method: "POST", body: messageBody(content, []) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

Deno.test("[security] events: a conversation stream stops delivering once its reader leaves the Pod", async () => {
  await using s = await startTestServer();
  const x = await podConversation(s);
  const conv = `${x.w}/assistant/conversations/${x.cId}`;
  const stream = follow(s, x.bob.token, `${conv}/events`);
  try {
    await post(s, x.alice, `${conv}/messages`, "beforeremoval");
    await until(() => stream.text.includes("beforeremoval"));
    assert.ok(stream.text.includes("beforeremoval"), "control: bob follows the conversation");
    const rm = await apiJson(s, x.alice.token, `${x.w}/spaces/${x.pod}/members/${x.bob.user.sId}`, {
      method: "DELETE",
    });
    assert.equal(rm.status, 200);
    await post(s, x.alice, `${conv}/messages`, "afterremoval");
    await until(() => stream.ended);
    assert.ok(!stream.text.includes("afterremoval"), "a removed member still receives events");
    assert.ok(stream.ended, "the stream ends");
  } finally {
    await stream.close();
  }
});

Deno.test("[security] events: an agent-message stream stops delivering once its reader leaves the workspace", async () => {
  await using s = await startTestServer();
  const x = await podConversation(s);
  const path = `${x.w}/assistant/conversations/${x.cId}/messages/${x.agentMsg}/events`;
  const stream = follow(s, x.bob.token, path);
  try {
    const token = (t: string) => ({ type: "generation_tokens", text: t, messageId: x.agentMsg });
    await appendMessageEvent(s.deps, x.agentMsg, token("beforeremoval"));
    await until(() => stream.text.includes("beforeremoval"));
    assert.ok(stream.text.includes("beforeremoval"), "control: bob follows the message");
    await s.deps.db.run("DELETE FROM memberships WHERE user_id = ?", x.bob.user.id);
    await appendMessageEvent(s.deps, x.agentMsg, token("afterremoval"));
    await until(() => stream.ended);
    assert.ok(!stream.text.includes("afterremoval"), "a removed member still receives events");
    assert.ok(stream.ended, "the stream ends");
  } finally {
    await stream.close();
  }
});

Deno.test("[security] events: a stream opened with a token stops delivering once that token is revoked", async () => {
  await using s = await startTestServer();
  const x = await podConversation(s);
  const conv = `${x.w}/assistant/conversations/${x.cId}`;
  const oauth = await mintOAuthToken(s, x.bob, { audience: apiResourceUrl(s.config) });
  const patId = (await s.deps.db.get(
    "SELECT s_id FROM personal_tokens WHERE user_id = ? ORDER BY id DESC LIMIT 1",
    x.bob.user.id,
  ) as { s_id: string }).s_id;
  const revocations: [string, string, () => Promise<void>][] = [
    ["personal token", x.bob.token, async () => {
      const r = await s.deps.db.run(
        "UPDATE personal_tokens SET revoked_at = ? WHERE s_id = ?",
        Date.now(),
        patId,
      );
      assert.equal(r.changes, 1);
    }],
    ["OAuth grant", oauth.token, async () => {
      await s.deps.db.run(
        "UPDATE oauth_grants SET revoked_at = ? WHERE id = ?",
        Date.now(),
        oauth.grantId,
      );
    }],
  ];
  for (const [name, token, revoke] of revocations) {
    const stream = follow(s, token, `${conv}/events`);
    try {
      await post(s, x.alice, `${conv}/messages`, `before${name}`);
      await until(() => stream.text.includes(`before${name}`));
      assert.ok(stream.text.includes(`before${name}`), `control: ${name} follows`);
      await revoke();
      await post(s, x.alice, `${conv}/messages`, `after${name}`);
      await until(() => stream.ended);
      assert.ok(!stream.text.includes(`after${name}`), `a revoked ${name} still receives events`);
      assert.ok(stream.ended, `the ${name} stream ends`);
    } finally {
      await stream.close();
    }
  }
});

Deno.test("[security] events: a relay request stream stops delivering once its token is revoked or its user removed", async () => {
  await using s = await startTestServer();
  const x = await podConversation(s);
  const register = async (u: UserWithToken) => {
    const r = await apiJson(s, u.token, `${x.w}/mcp/register`, {
      method: "POST",
      body: { serverName: "Local tools" },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.serverId as string;
  };
  const alice = await register(x.alice);
  const bob = await register(x.bob);
  const cases: [string, UserWithToken, string, () => Promise<void>][] = [
    ["revoked personal token", x.alice, alice, async () => {
      await s.deps.db.run(
        "UPDATE personal_tokens SET revoked_at = ? WHERE user_id = ?",
        Date.now(),
        x.alice.user.id,
      );
    }],
    ["removed member", x.bob, bob, async () => {
      await s.deps.db.run("DELETE FROM memberships WHERE user_id = ?", x.bob.user.id);
    }],
  ];
  for (const [name, u, serverId, lose] of cases) {
    const path = `${x.w}/mcp/requests?serverId=${encodeURIComponent(serverId)}`;
    const stream = follow(s, u.token, path);
    try {
      const call = async (id: string) =>
        await publishRelayRequest(s.deps, serverId, {
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name: "t", arguments: { text: id } },
        });
      await call(`before-${name}`);
      await until(() => stream.text.includes(`before-${name}`));
      assert.ok(stream.text.includes(`before-${name}`), `control: ${name} follows`);
      await lose();
      await call(`after-${name}`);
      await until(() => stream.ended);
      assert.ok(!stream.text.includes(`after-${name}`), `${name}: still receives requests`);
      assert.ok(stream.ended, `${name}: the stream ends`);
    } finally {
      await stream.close();
    }
  }
});

Deno.test("[security] events: a stream opened with an OAuth access token ends when the token expires", async () => {
  await using s = await startTestServer();
  const x = await podConversation(s);
  const conv = `${x.w}/assistant/conversations/${x.cId}`;
  const short = await mintOAuthToken(s, x.bob, {
    audience: apiResourceUrl(s.config),
    ttlSeconds: 2,
  });
  const stream = follow(s, short.token, `${conv}/events`);
  try {
    await post(s, x.alice, `${conv}/messages`, "beforeexpiry");
    await until(() => stream.text.includes("beforeexpiry"));
    assert.ok(stream.text.includes("beforeexpiry"), "control: the token follows");
    await new Promise((r) => setTimeout(r, 2100)); // past the token's exp (whole seconds)
    await post(s, x.alice, `${conv}/messages`, "afterexpiry");
    await until(() => stream.ended);
    assert.ok(!stream.text.includes("afterexpiry"), "an expired token still receives events");
    assert.ok(stream.ended, "the stream ends");
  } finally {
    await stream.close();
  }
});

Deno.test("[security] events: every stream of one reader stops at the first event after its removal (the access check they share is per event)", async () => {
  await using s = await startTestServer();
  const x = await podConversation(s);
  const conv = `${x.w}/assistant/conversations/${x.cId}`;
  const streams = [0, 1, 2].map(() => follow(s, x.bob.token, `${conv}/events`));
  try {
    await post(s, x.alice, `${conv}/messages`, "beforeremoval");
    await until(() => streams.every((t) => t.text.includes("beforeremoval")));
    assert.ok(streams.every((t) => t.text.includes("beforeremoval")), "control: all follow");
    const rm = await apiJson(s, x.alice.token, `${x.w}/spaces/${x.pod}/members/${x.bob.user.sId}`, {
      method: "DELETE",
    });
    assert.equal(rm.status, 200);
    await post(s, x.alice, `${conv}/messages`, "afterremoval");
    await until(() => streams.every((t) => t.ended));
    for (const t of streams) {
      assert.ok(!t.text.includes("afterremoval"), "a removed member still receives events");
      assert.ok(t.ended, "the stream ends");
    }
  } finally {
    for (const t of streams) await t.close();
  }
});
