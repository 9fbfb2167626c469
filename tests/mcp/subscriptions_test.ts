/**
 * Resource subscriptions: on 2026-07-28 the v2 client's `listen()` watches conversation
 * transcripts and gets `notifications/resources/updated` when a message arrives; the server
 * acknowledges only the conversations the caller may read (never another user's, never a
 * resource it cannot deliver updates for), the watch ends with the stream, and a listen stream
 * is one of the user's event streams (429 past the cap). The 2025 revisions (v1 and v2
 * clients) are told there are no subscriptions: the stateless server has no stream for them.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { actorOf } from "../helpers/knowledge.ts";
import { createConversation } from "../../src/core/conversations.ts";
import { createConversationMessage } from "../../src/core/messages.ts";
import { conversationStream } from "../../src/core/conversation_events.ts";
import { conversationUri, documentUri } from "../../src/mcp/resource_uris.ts";
import { connectV1, connectV2, createMcpUser, type McpUser } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function conversationOf(s: TestServer, u: McpUser, title: string): Promise<string> {
  const r = await createConversation(s.deps, actorOf(u), { title, agentName: null });
  return r.conversationId;
}

Deno.test("[mcp subscriptions] 2026-07-28 (v2 listen): updates for a readable conversation, nothing else acknowledged", async () => {
  await using s = await startTestServer();
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const bob = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const mine = await conversationOf(s, alice, "Mine");
  const theirs = await conversationOf(s, bob, "Bob's");
  const w = alice.workspace.sId;
  await using c = await connectV2(s, alice.mcpToken, "auto");
  assert.equal(c.raw.getServerCapabilities().resources.subscribe, true);
  const updates: string[] = [];
  c.raw.setNotificationHandler("notifications/resources/updated", (n: Json) => {
    updates.push(n.params.uri);
  });
  const sub = await c.raw.listen({
    resourceSubscriptions: [
      conversationUri(w, mine),
      conversationUri(w, theirs),
      conversationUri("w_elsewhere", mine),
      documentUri(w, "dsv_x", "doc"),
      "not a uri",
    ],
  });
  assert.deepEqual(sub.honoredFilter.resourceSubscriptions, [conversationUri(w, mine)]);
  assert.equal(s.deps.events.listenerCount(conversationStream(mine)), 1);
  assert.equal(s.deps.events.listenerCount(conversationStream(theirs)), 0);

  await createConversationMessage(s.deps, actorOf(alice), {
    conversationId: mine,
    message: "news",
    agentName: null,
  });
  await waitFor(() => updates.length > 0, "an update");
  assert.deepEqual([...new Set(updates)], [conversationUri(w, mine)]);
  // Bob's conversation changes: nothing for Alice.
  const before = updates.length;
  await createConversationMessage(s.deps, actorOf(bob), {
    conversationId: theirs,
    message: "private",
    agentName: null,
  });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(updates.length, before);

  await sub.close();
  await waitFor(
    () => s.deps.events.listenerCount(conversationStream(mine)) === 0,
    "the watch to end with the stream",
  );
});

Deno.test("[mcp subscriptions] a listen stream counts against the user's event streams", async () => {
  await using s = await startTestServer({ flags: { "streams-per-user": "1" } });
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const conv = await conversationOf(s, alice, "C");
  await using c = await connectV2(s, alice.mcpToken, "auto");
  const sub = await c.raw.listen({
    resourceSubscriptions: [conversationUri(alice.workspace.sId, conv)],
  });
  await using c2 = await connectV2(s, alice.mcpToken, "auto");
  await assert.rejects(c2.raw.listen({ resourcesListChanged: true }), /429|Too Many|rate/i);
  await sub.close();
  await waitFor(
    () => s.deps.events.listenerCount(conversationStream(conv)) === 0,
    "the first stream to end",
  );
});

Deno.test("[mcp subscriptions] 2025 revisions (v1, v2 legacy): no subscribe capability, resources/subscribe refused", async () => {
  await using s = await startTestServer();
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const conv = await conversationOf(s, alice, "C");
  const uri = conversationUri(alice.workspace.sId, conv);
  for (const c of [await connectV1(s, alice.mcpToken), await connectV2(s, alice.mcpToken)]) {
    await using _ = c;
    assert.equal(c.raw.getServerCapabilities().resources.subscribe, false);
    await assert.rejects(c.raw.subscribeResource({ uri }), /not supported|Method not found/i);
  }
});

Deno.test("[mcp subscriptions] a client that just disconnects ends its watch too", async () => {
  await using s = await startTestServer();
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const conv = await conversationOf(s, alice, "C");
  const stop = new AbortController();
  const res = await fetch(`${s.url}/mcp`, {
    method: "POST",
    signal: stop.signal,
    headers: {
      Authorization: `Bearer ${alice.mcpToken}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2026-07-28",
      "Mcp-Method": "subscriptions/listen",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: "listen-1",
      method: "subscriptions/listen",
      params: {
        notifications: { resourceSubscriptions: [conversationUri(alice.workspace.sId, conv)] },
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    }),
  });
  const first = await res.body!.getReader().read();
  assert.match(new TextDecoder().decode(first.value), /notifications\/subscriptions\/acknowledged/);
  assert.equal(s.deps.events.listenerCount(conversationStream(conv)), 1);
  stop.abort();
  await waitFor(
    () => s.deps.events.listenerCount(conversationStream(conv)) === 0,
    "the watch to end with the connection",
  );
});
