/**
 * The relay's REST contract (seed 001 + dust.md §3.2–3.6): every status code of register,
 * heartbeat, deregister, requests and results, and the registration lifetime rules.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  apiJson,
  bearer,
  createApiKey,
  createUserWithToken,
  type UserWithToken,
} from "../helpers/fixtures.ts";
import { createConversationWithMessage, userActorOf } from "../helpers/actors.ts";
import { checkClientSideServers, findOwnedRegistration } from "../../src/core/relay_registry.ts";
import type { AppError } from "../../src/errors.ts";

function mcpPath(u: UserWithToken, what: string): string {
  return `/api/v1/w/${u.workspace.sId}/mcp/${what}`;
}

async function register(server: TestServer, u: UserWithToken, serverName = "Local Tools") {
  const r = await apiJson(server, u.token, mcpPath(u, "register"), {
    method: "POST",
    body: { serverName },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { serverId: string; expiresAt: string };
}

async function setup() {
  const server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  return { server, alice, bob };
}

/** Open the request stream; returns the response (body NOT consumed: caller cancels). */
function openStream(server: TestServer, token: string | null, u: UserWithToken, query: string) {
  return fetch(`${server.url}${mcpPath(u, "requests")}?${query}`, {
    headers: token ? bearer(token) : {},
  });
}

Deno.test("[relay] register answers a Dust serverId and an ISO expiry 10 minutes ahead", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  const before = Date.now();
  const r = await register(server, alice, "My Tools Ünïcode");
  assert.match(r.serverId, /^mcp-client-side:my_tools_unicode\.[0-9a-f]{16}$/);
  const exp = Date.parse(r.expiresAt);
  assert.ok(exp >= before + 600_000 - 1000 && exp <= Date.now() + 600_000 + 1000);
  const again = await register(server, alice, "My Tools Ünïcode");
  assert.notEqual(again.serverId, r.serverId);
});

Deno.test("[relay] register refuses names outside 5–30 characters and bad bodies with 400", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  for (
    const body of [{ serverName: "abcd" }, { serverName: "x".repeat(31) }, {}, { serverName: 12 }]
  ) {
    const r = await apiJson(server, alice.token, mcpPath(alice, "register"), {
      method: "POST",
      body,
    });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.type, "invalid_request_error");
  }
  const bad = await apiJson(server, alice.token, mcpPath(alice, "register"), {
    method: "POST",
    rawBody: "{not json",
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.type, "invalid_request_error");
  assert.equal(
    (await register(server, alice, "abcde")).serverId.startsWith("mcp-client-side:abcde."),
    true,
  );
});

Deno.test("[relay] register refuses an API key with Dust's 403 message", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  const key = await createApiKey(server, alice.workspace);
  const r = await apiJson(server, key, mcpPath(alice, "register"), {
    method: "POST",
    body: { serverName: "Local Tools" },
  });
  assert.equal(r.status, 403);
  assert.deepEqual(r.body.error, {
    type: "invalid_request_error",
    message: "API keys are not allowed to register MCP servers.",
  });
});

Deno.test("[relay] every relay route answers 401 without a bearer token", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  for (const what of ["register", "heartbeat", "deregister", "results"]) {
    const r = await apiJson(server, null, mcpPath(alice, what), { method: "POST", body: {} });
    assert.equal(r.status, 401, what);
  }
  const res = await openStream(server, null, alice, "serverId=x");
  assert.equal(res.status, 401);
  await res.body?.cancel();
});

Deno.test("[relay] register is rate limited per user with 429 rate_limit_error", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  server.deps.relay.timings.registerPerMinute = 3;
  for (let i = 0; i < 3; i++) await register(server, alice);
  const r = await apiJson(server, alice.token, mcpPath(alice, "register"), {
    method: "POST",
    body: { serverName: "Local Tools" },
  });
  assert.equal(r.status, 429);
  assert.equal(r.body.error.type, "rate_limit_error");
  assert.ok(Number(r.headers.get("Retry-After")) >= 1);
  await register(server, bob); // another user's budget is untouched
});

Deno.test("[relay] heartbeat extends the TTL, then 404 mcp_server_connection_not_found once expired", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  server.deps.relay.timings.registrationTtlMs = 300;
  const { serverId } = await register(server, alice);
  await new Promise((r) => setTimeout(r, 200));
  const hb = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(hb.status, 200);
  assert.equal(hb.body.success, true);
  assert.ok(Date.parse(hb.body.expiresAt) > Date.now());
  await new Promise((r) => setTimeout(r, 200)); // 400 ms after register, 200 after the heartbeat
  const alive = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(alive.status, 200, "the heartbeat kept it alive past the first TTL");
  await new Promise((r) => setTimeout(r, 350));
  const gone = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(gone.status, 404);
  assert.deepEqual(gone.body.error, {
    type: "mcp_server_connection_not_found",
    message: "MCP server not registered or expired",
  });
});

Deno.test("[relay] heartbeat: 400 without serverId, 404 for another user's server", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  const { serverId } = await register(server, alice);
  const bad = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: {},
  });
  assert.equal(bad.status, 400);
  const other = await apiJson(server, bob.token, mcpPath(bob, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(other.status, 404);
});

Deno.test("[relay] deregister always succeeds and removes only the caller's own server", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  const { serverId } = await register(server, alice);
  const byBob = await apiJson(server, bob.token, mcpPath(bob, "deregister"), {
    method: "POST",
    body: { serverId },
  });
  assert.deepEqual([byBob.status, byBob.body], [200, { success: true }]);
  const hb = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(hb.status, 200, "bob's deregister did not touch alice's server");
  const mine = await apiJson(server, alice.token, mcpPath(alice, "deregister"), {
    method: "POST",
    body: { serverId },
  });
  assert.deepEqual([mine.status, mine.body], [200, { success: true }]);
  const unknown = await apiJson(server, alice.token, mcpPath(alice, "deregister"), {
    method: "POST",
    body: { serverId },
  });
  assert.deepEqual([unknown.status, unknown.body], [200, { success: true }]);
  const after = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(after.status, 404);
});

Deno.test("[relay] requests: 400 without serverId or with a bad cursor, 403 mcp_auth_error for a server not owned", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  const { serverId } = await register(server, alice);
  const missing = await openStream(server, alice.token, alice, "");
  assert.equal(missing.status, 400);
  await missing.body?.cancel();
  const cursor = await openStream(
    server,
    alice.token,
    alice,
    `serverId=${serverId}&lastEventId=abc`,
  );
  assert.equal(cursor.status, 400);
  await cursor.body?.cancel();
  for (
    const [token, u] of [[bob.token, bob], [
      await createApiKey(server, alice.workspace),
      alice,
    ]] as const
  ) {
    const res = await openStream(server, token, u, `serverId=${encodeURIComponent(serverId)}`);
    assert.equal(res.status, 403);
    assert.match(res.headers.get("content-type") ?? "", /json/);
    assert.deepEqual((await res.json()).error, {
      type: "mcp_auth_error",
      message: "You don't have access to this MCP server or it has expired.",
    });
  }
  const unknown = await openStream(
    server,
    alice.token,
    alice,
    "serverId=mcp-client-side:nope.0000000000000000",
  );
  assert.equal(unknown.status, 403);
  await unknown.body?.cancel();
});

Deno.test("[relay] requests: Dust's SSE headers, handshake frame first", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  const { serverId } = await register(server, alice);
  const res = await openStream(
    server,
    alice.token,
    alice,
    `serverId=${encodeURIComponent(serverId)}`,
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("x-accel-buffering"), "no");
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), "event: dust-handshake\ndata: {}\n\n");
  await reader.cancel();
});

Deno.test("[relay] results: 400 bad body, 403 for a server not owned, 404 for a gone conversation or message", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  const { serverId } = await register(server, alice);
  const post = (u: UserWithToken, body: unknown) =>
    apiJson(server, u.token, mcpPath(u, "results"), { method: "POST", body });
  for (
    const body of [{ serverId }, { result: {} }, { serverId, result: "x" }, {
      serverId,
      result: [1],
    }]
  ) {
    assert.equal((await post(alice, body)).status, 400, JSON.stringify(body));
  }
  const notOwned = await post(bob, { serverId, result: { jsonrpc: "2.0", id: 1, result: {} } });
  assert.equal(notOwned.status, 403);
  assert.equal(notOwned.body.error.type, "mcp_auth_error");
  const target = await createConversationWithMessage(server, alice);
  const goneConv = await post(alice, {
    serverId,
    result: { jsonrpc: "2.0", id: `mcp_req_nope_${target.messageId}_1_1`, result: {} },
  });
  assert.equal(goneConv.status, 404);
  assert.equal(goneConv.body.error.type, "conversation_not_found");
  const goneMsg = await post(alice, {
    serverId,
    result: { jsonrpc: "2.0", id: `mcp_req_${target.conversationId}_nope_1_1`, result: {} },
  });
  assert.equal(goneMsg.status, 404);
  assert.equal(goneMsg.body.error.type, "message_not_found");
  const ok = await post(alice, {
    serverId,
    result: {
      jsonrpc: "2.0",
      id: `mcp_req_${target.conversationId}_${target.messageId}_1_7`,
      result: {},
    },
  });
  assert.deepEqual([ok.status, ok.body], [200, { success: true }]);
});

Deno.test("[relay] opening the stream and posting results refresh the registration TTL", async () => {
  const { server, alice } = await setup();
  await using _ = server;
  server.deps.relay.timings.registrationTtlMs = 300;
  const { serverId } = await register(server, alice);
  await new Promise((r) => setTimeout(r, 200));
  const res = await openStream(
    server,
    alice.token,
    alice,
    `serverId=${encodeURIComponent(serverId)}`,
  );
  assert.equal(res.status, 200);
  await res.body?.cancel();
  await new Promise((r) => setTimeout(r, 200));
  const posted = await apiJson(server, alice.token, mcpPath(alice, "results"), {
    method: "POST",
    body: { serverId, result: { jsonrpc: "2.0", method: "notifications/progress" } },
  });
  assert.equal(posted.status, 200, "the stream open kept it alive");
  await new Promise((r) => setTimeout(r, 200));
  const hb = await apiJson(server, alice.token, mcpPath(alice, "heartbeat"), {
    method: "POST",
    body: { serverId },
  });
  assert.equal(hb.status, 200, "the result post kept it alive");
});

Deno.test("[relay] checkClientSideServers answers Dust's 401/403 messages and refreshes owned servers", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  server.deps.relay.timings.registrationTtlMs = 60_000;
  const { serverId } = await register(server, alice);
  const aliceActor = await userActorOf(server, alice);
  const keyActor = {
    kind: "api_key" as const,
    workspace: { id: alice.workspace.id, sId: alice.workspace.sId, name: alice.workspace.name },
    credential: { kind: "api_key" as const, id: "k" },
  };
  const expect = (fn: () => Promise<unknown>, status: number, message: string) =>
    assert.rejects(
      fn,
      (e: AppError) =>
        e.status === status && e.type === "invalid_request_error" && e.message === message,
    );
  await expect(
    async () => await checkClientSideServers(server.deps, keyActor, [serverId], "conversation"),
    401,
    "Local MCP servers are only available to authenticated users.",
  );
  await expect(
    async () =>
      await checkClientSideServers(
        server.deps,
        await userActorOf(server, bob),
        [serverId],
        "conversation",
      ),
    403,
    "User does not have access to the local MCP servers.",
  );
  await expect(
    async () =>
      await checkClientSideServers(
        server.deps,
        await userActorOf(server, bob),
        [serverId],
        "message",
      ),
    403,
    "User does not have access to the client-side MCP servers.",
  );
  assert.deepEqual(await checkClientSideServers(server.deps, keyActor, [], "message"), []);
  const before = (await findOwnedRegistration(server.deps, aliceActor, serverId))!.expiresAt;
  await new Promise((r) => setTimeout(r, 20));
  const [reg] = await checkClientSideServers(
    server.deps,
    aliceActor,
    [serverId, serverId],
    "message",
  );
  assert.equal(reg.serverId, serverId);
  assert.ok(reg.expiresAt > before, "the TTL was refreshed");
  await server.deps.db.run("UPDATE relay_registrations SET expires_at = 0");
  await expect(
    async () => await checkClientSideServers(server.deps, aliceActor, [serverId], "message"),
    403,
    "User does not have access to the client-side MCP servers.",
  );
});

Deno.test("[relay] posting a message over REST checks clientSideMCPServerIds with Dust's 401/403", async () => {
  const { server, alice, bob } = await setup();
  await using _ = server;
  const { serverId } = await register(server, alice);
  const conversations = `/api/v1/w/${alice.workspace.sId}/assistant/conversations`;
  const post = (ids: string[]) => ({
    method: "POST",
    body: {
      title: null,
      visibility: "unlisted",
      message: {
        content: "use my tools",
        mentions: [],
        context: { username: "someone", timezone: "UTC", clientSideMCPServerIds: ids },
      },
    },
  });
  const countConversations = async () =>
    (await server.deps.db.get("SELECT COUNT(*) AS n FROM conversations") as { n: number }).n;
  const key = await createApiKey(server, alice.workspace);
  const byKey = await apiJson(server, key, conversations, post([serverId]));
  assert.equal(byKey.status, 401);
  assert.deepEqual(byKey.body.error, {
    type: "invalid_request_error",
    message: "Local MCP servers are only available to authenticated users.",
  });
  const byBob = await apiJson(server, bob.token, conversations, post([serverId]));
  assert.equal(byBob.status, 403);
  assert.equal(byBob.body.error.message, "User does not have access to the local MCP servers.");
  assert.equal(await countConversations(), 0, "a refused post writes nothing");

  const ok = await apiJson(server, alice.token, conversations, post([serverId]));
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const messages = `${conversations}/${ok.body.conversation.sId}/messages`;
  const msg = (ids: string[]) => ({
    method: "POST",
    body: {
      content: "again",
      mentions: [],
      context: { username: "alice", timezone: "UTC", clientSideMCPServerIds: ids },
    },
  });
  const gone = await apiJson(server, alice.token, messages, msg(["mcp-client-side:gone.0"]));
  assert.equal(gone.status, 403);
  assert.deepEqual(gone.body.error, {
    type: "invalid_request_error",
    message: "User does not have access to the client-side MCP servers.",
  });
  assert.equal((await apiJson(server, alice.token, messages, msg([serverId]))).status, 200);
});

Deno.test("[relay] a server runs with Dust's relay timings: 10 min TTL, 5 min idle stream, 5 s connect, 3 min call, 100 registers/min", async () => {
  await using server = await startTestServer();
  assert.deepEqual(
    {
      ttl: server.deps.relay.timings.registrationTtlMs,
      requestTtl: server.deps.relay.timings.requestTtlMs,
      idle: server.deps.relay.timings.streamIdleMs,
      connect: server.deps.relay.timings.connectTimeoutMs,
      call: server.deps.relay.timings.callTimeoutMs,
      registers: server.deps.relay.timings.registerPerMinute,
    },
    {
      ttl: 600_000,
      requestTtl: 600_000,
      idle: 300_000,
      connect: 5_000,
      call: 180_000,
      registers: 100,
    },
  );
  // The SDK's EventSource gives up after 45 s of silence: keep-alives come well before that.
  assert.ok(server.deps.relay.timings.keepAliveMs < 45_000);
});
