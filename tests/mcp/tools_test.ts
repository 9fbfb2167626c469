/**
 * Every tool through real clients: the v1 SDK client (`@modelcontextprotocol/sdk` 1.32.2,
 * 2025 handshake) and the v2 client (`@modelcontextprotocol/client` 2.4.0, both its default
 * legacy mode and its `auto` mode that speaks 2026-07-28), each with an MCP token and with an
 * OAuth access token the SDK's own `auth()` obtained with a real client's registration body
 * (Claude-style DCR, Cursor-style DCR, ChatGPT-style CIMD). Results are checked against the
 * data created through the core.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  actorOf,
  createFolder,
  createPod,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { createTask } from "../../src/core/tasks.ts";
import {
  type AnyClient,
  connectV1,
  connectV2,
  createMcpUser,
  errorOf,
  type McpUser,
  oauthTokenByFlow,
  payloadOf,
} from "./helpers.ts";
import { CLIENT_STYLES } from "./helpers.ts";
import { startCimdFixture } from "../helpers/cimd_fixture.ts";

const ALL_TOOLS = [
  "identity",
  "list_agents",
  "list_conversations",
  "create_conversation",
  "create_conversation_message",
  "get_conversation_messages",
  "mark_conversation_read",
  "list_pods",
  "get_pod",
  "get_pod_tasks",
  "search",
  "fetch",
  "files_list",
  "files_cat",
  "files_create",
  "files_grep",
  "files_resolve",
];
const WRITE_TOOLS = new Set([
  "create_conversation",
  "create_conversation_message",
  "mark_conversation_read",
  "files_create",
]);

interface Fixture {
  alice: McpUser;
  podId: string;
  taskText: string;
}

async function setup(server: TestServer): Promise<Fixture> {
  const alice = await createMcpUser(server, {
    email: "alice@example.com",
    role: "admin",
    name: "Alice Martin",
  });
  const actor = actorOf(alice);
  const podId = await createPod(server, actor, "Launch Pod", []);
  const taskText = "Write the launch announcement";
  await createTask(server.deps, actor, { podId, text: taskText });
  const spaceId = await globalSpaceSId(server, alice.workspace);
  const dataSourceId = await createFolder(server, actor, spaceId, "handbook");
  await putDocument(
    server,
    actor,
    { spaceId, dataSourceId },
    "onboarding",
    "Welcome aboard: the zeppelin policy explains travel.",
    {
      title: "Onboarding",
    },
  );
  return { alice, podId, taskText };
}

/** The whole catalogue through one connected client. */
async function exerciseEveryTool(server: TestServer, c: AnyClient, f: Fixture, tag: string) {
  const tools = (await c.listTools()).tools;
  assert.deepEqual(tools.map((t) => t.name).sort(), [...ALL_TOOLS].sort());
  for (const t of tools) {
    assert.equal(t.annotations?.readOnlyHint, !WRITE_TOOLS.has(t.name), `${t.name} readOnlyHint`);
  }
  assert.equal(c.serverInfo()?.name, "Dust");
  assert.match(c.instructions() ?? "", /Pod/);

  const me = payloadOf<{ id: string; name: string; workspaceId: string }>(
    await c.callTool({ name: "identity" }),
  );
  assert.deepEqual(me, {
    id: f.alice.user.sId,
    name: "Alice",
    workspaceId: f.alice.workspace.sId,
    workspaceName: f.alice.workspace.name,
  });

  const agents = payloadOf<{ agents: { name: string }[]; hasMore: boolean }>(
    await c.callTool({ name: "list_agents", arguments: { name: "dus" } }),
  );
  assert.ok(agents.agents.some((a) => a.name === "Dust"));

  const created = payloadOf<{ conversationId: string; userMessageId: string }>(
    await c.callTool({
      name: "create_conversation",
      arguments: { title: `Plan ${tag}`, message: `hello from ${tag}`, agentName: null },
    }),
  );
  assert.ok(created.conversationId && created.userMessageId);
  const posted = payloadOf<
    { conversationId: string; userMessageId: string; agentMessageIds: string[] }
  >(
    await c.callTool({
      name: "create_conversation_message",
      arguments: {
        conversationId: created.conversationId,
        message: `second ${tag}`,
        agentName: null,
      },
    }),
  );
  assert.equal(posted.conversationId, created.conversationId);
  assert.deepEqual(posted.agentMessageIds, []);

  const msgs = payloadOf<{ messages: string; hasMore: boolean }>(
    await c.callTool({
      name: "get_conversation_messages",
      arguments: { conversationId: created.conversationId },
    }),
  );
  assert.equal(typeof msgs.messages, "string");
  assert.ok(msgs.messages.includes(`hello from ${tag}`) && msgs.messages.includes(`second ${tag}`));
  assert.match(msgs.messages, />> User \(Alice Martin, alice@example\.com\)/);

  const list = payloadOf<{ conversations: { sId: string }[] }>(
    await c.callTool({ name: "list_conversations", arguments: {} }),
  );
  assert.ok(list.conversations.some((x) => x.sId === created.conversationId));
  const read = payloadOf(
    await c.callTool({
      name: "mark_conversation_read",
      arguments: { conversationId: created.conversationId, read: true },
    }),
  );
  assert.deepEqual(read, { success: true, conversationId: created.conversationId, read: true });

  const pods = payloadOf<{ count: number; pods: { id: string }[] }>(
    await c.callTool({ name: "list_pods" }),
  );
  assert.deepEqual(pods.pods.map((p) => p.id), [f.podId]);
  const pod = payloadOf<{ pod: { id: string; name: string } }>(
    await c.callTool({ name: "get_pod", arguments: { podId: f.podId } }),
  );
  assert.equal(pod.pod.name, "Launch Pod");
  const tasks = payloadOf<{ count: number; tasks: { text: string }[] }>(
    await c.callTool({ name: "get_pod_tasks", arguments: { podId: f.podId } }),
  );
  assert.deepEqual(tasks.tasks.map((t) => t.text), [f.taskText]);

  const found = payloadOf<
    { count: number; results: { id: string; title: string; url: string; uri: string }[] }
  >(
    await c.callTool({ name: "search", arguments: { query: "zeppelin" } }),
  );
  assert.equal(found.results[0]?.title, "Onboarding");
  assert.ok(found.results[0].url && found.results[0].url === found.results[0].uri);
  // ChatGPT's pair: search gives {id, title, url}; fetch(id) gives {id, title, text, url, metadata}.
  const doc = payloadOf<{ id: string; title: string; text: string; url: string }>(
    await c.callTool({ name: "fetch", arguments: { id: found.results[0].id } }),
  );
  assert.match(doc.text, /zeppelin policy/);
  assert.equal(doc.url, found.results[0].url);
  assert.equal(doc.id, found.results[0].id);

  const scope = { type: "pod", pod_id: f.podId };
  const path = `pod-${f.podId}/notes/${tag}.md`;
  const made = payloadOf<{ path: string; message: string }>(
    await c.callTool({
      name: "files_create",
      arguments: { scope, path, content: "alpha\nbeta gamma\nBeta", content_type: "text/markdown" },
    }),
  );
  assert.equal(made.path, path);
  const listing = payloadOf<{ text: string }>(
    await c.callTool({ name: "files_list", arguments: { scope } }),
  );
  assert.ok(listing.text.includes(path));
  const cat = payloadOf<{ text: string }>(
    await c.callTool({ name: "files_cat", arguments: { scope, path, offset: 2, limit: 1 } }),
  );
  assert.match(cat.text, /^2: beta gamma/);
  const grep = payloadOf<{ text: string }>(
    await c.callTool({ name: "files_grep", arguments: { scope, path, pattern: "(?i)^beta" } }),
  );
  assert.match(grep.text, /2: beta gamma\n3: Beta/);
  const fileId =
    (await server.deps.db.get("SELECT s_id FROM files WHERE path = ?", `notes/${tag}.md`) as {
      s_id: string;
    }).s_id;
  const resolved = payloadOf<{ path: string }>(
    await c.callTool({ name: "files_resolve", arguments: { scope, file_id: fileId } }),
  );
  assert.equal(resolved.path, path);

  const bad = await c.callTool({ name: "get_pod", arguments: { podId: "vlt_doesnotexist" } });
  assert.match(errorOf(bad), /Pod not found/);
}

for (
  const [label, connect, sdk, style] of [
    ["v1 client", connectV1, "v1", CLIENT_STYLES.claude],
    ["v2 client", (s: TestServer, t: string) => connectV2(s, t), "v2", CLIENT_STYLES.cursor],
    [
      "v2 client (auto: 2026-07-28)",
      (s: TestServer, t: string) => connectV2(s, t, "auto"),
      "v2",
      CLIENT_STYLES.chatgpt,
    ],
  ] as const
) {
  Deno.test(`[mcp tools] every tool through the ${label} with an MCP token`, async () => {
    await using server = await startTestServer();
    const f = await setup(server);
    await using c = await connect(server, f.alice.mcpToken);
    await exerciseEveryTool(server, c, f, "mcptoken");
  });

  Deno.test(`[mcp tools] every tool through the ${label} with OAuth (${style.label}, consent over HTTP)`, async () => {
    await using fixture = startCimdFixture();
    await using server = await startTestServer({ cimdFetch: fixture.hooks });
    const f = await setup(server);
    const token = await oauthTokenByFlow(server, f.alice, style, sdk, fixture.serveJson);
    await using c = await connect(server, token);
    await exerciseEveryTool(server, c, f, "oauth");
  });
}

Deno.test("[mcp tools] the 2026-07-28 client negotiates the current revision", async () => {
  await using server = await startTestServer();
  const f = await setup(server);
  await using c = await connectV2(server, f.alice.mcpToken, "auto");
  assert.equal(c.protocolVersion(), "2026-07-28");
});

Deno.test("[mcp tools] invalid arguments are a readable tool error, not a JSON-RPC error", async () => {
  await using server = await startTestServer();
  const f = await setup(server);
  await using c = await connectV1(server, f.alice.mcpToken);
  const r = await c.callTool({
    name: "get_pod_tasks",
    arguments: { podId: f.podId, daysAgo: 500 },
  });
  assert.match(errorOf(r), /daysAgo/);
});

Deno.test("[mcp tools] create_conversation with the default agent names an agent message", async () => {
  await using server = await startTestServer();
  const f = await setup(server);
  await using c = await connectV1(server, f.alice.mcpToken);
  const r = payloadOf<{ agentMessageIds: string[] }>(
    await c.callTool({ name: "create_conversation", arguments: { title: "t", message: "hi" } }),
  );
  assert.equal(r.agentMessageIds.length, 1);
  const unknown = await c.callTool({
    name: "create_conversation",
    arguments: { title: "t", message: "hi", agentName: "Nobody" },
  });
  assert.equal(errorOf(unknown), 'No agent found matching name: "Nobody"');
});
