/**
 * Agents that answer, end to end with real parts: the REST API (and the core function the MCP
 * tool uses) posts a message mentioning `dust`; the runner calls a real OpenAI-protocol model
 * server on loopback (scripted), which calls a tool of a real MCP SDK server hosted through
 * Dust's own `DustMcpServerTransport`; the answer contains the tool's result.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { startLocalMcpServer } from "../helpers/local_mcp.ts";
import { lastToolResult, startFakeModel, systemPrompt } from "../helpers/fake_model.ts";
import { unavailableServerNote } from "../../src/agents/tools.ts";
import { MODEL_NOT_CONFIGURED_MESSAGE } from "../../src/core/model_settings.ts";
import { readEventsAfter } from "../../src/core/conversation_events.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** POST a conversation whose first message mentions `dust`. */
async function askDust(
  server: TestServer,
  u: UserWithToken,
  content: string,
  opts: { serverIds?: string[]; blocking?: boolean } = {},
): Promise<{ conversation: Json; agentMessage: Json }> {
  const r = await apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/assistant/conversations`, {
    method: "POST",
    body: {
      title: null,
      visibility: "unlisted",
      blocking: opts.blocking ?? true,
      // These tests are about the loop and the relay; approvals: tool_approval_test.ts.
      skipToolsValidation: true,
      message: {
        content,
        mentions: [{ configurationId: "dust" }],
        context: {
          username: u.user.username,
          timezone: "UTC",
          clientSideMCPServerIds: opts.serverIds ?? [],
        },
      },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const conversation = r.body.conversation;
  const get = await apiJson(
    server,
    u.token,
    `/api/v1/w/${u.workspace.sId}/assistant/conversations/${conversation.sId}`,
  );
  const versions = get.body.conversation.content.flat();
  return { conversation, agentMessage: versions.find((m: Json) => m.type === "agent_message") };
}

async function messageEvents(server: TestServer, messageSId: string): Promise<Json[]> {
  return (await readEventsAfter(server.deps, `message:${messageSId}`, 0, 1000)).map((e) => e.data);
}

Deno.test("[agents] a message mentioning an agent calls a local tool through the relay and answers with its result", async () => {
  await using model = await startFakeModel([
    {
      content: "Let me check. ",
      toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "door" } }],
    },
    (req) => ({ content: `The secret is ${lastToolResult(req)}.` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "s3cr3t" });

  const { agentMessage } = await askDust(server, alice, "What is the door secret?", {
    serverIds: [local.serverId],
  });
  assert.equal(agentMessage.status, "succeeded", JSON.stringify(agentMessage.error));
  assert.equal(agentMessage.content, "Let me check. The secret is door: s3cr3t.");
  assert.deepEqual(local.calls, [{ label: "door" }]);
  assert.equal(agentMessage.actions.length, 1);
  const action = agentMessage.actions[0];
  assert.equal(action.functionCallName, "local_tools__get_secret");
  assert.equal(action.status, "succeeded");
  assert.equal(action.mcpServerId, local.serverId);
  assert.deepEqual(action.params, { label: "door" });
  assert.deepEqual(action.output, [{ type: "text", text: "door: s3cr3t" }]);

  // The model saw the local tool next to the internal ones, and streamed tokens were published.
  const offered = model.requests[0].tools!.map((t: Json) => t.function.name);
  assert.ok(offered.includes("local_tools__get_secret"), offered.join(","));
  assert.ok(offered.includes("search") && offered.includes("files_cat"), offered.join(","));
  assert.equal(model.requests[0].stream, true);
  const types = (await messageEvents(server, agentMessage.sId)).map((e) => e.type);
  assert.deepEqual(types.filter((t) => t !== "generation_tokens"), [
    "tool_params",
    "agent_action_success",
    "agent_message_success",
  ]);
  assert.ok(types.filter((t) => t === "generation_tokens").length >= 2);
});

Deno.test("[agents] with the local server gone, its tools are unavailable with Dust's note and the message still completes", async () => {
  await using model = await startFakeModel([{
    content: "Sorry, the local tools are unavailable.",
  }]);
  await using server = await startTestServer({ flags: model.flags });
  server.deps.relay.timings.connectTimeoutMs = 300;
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const local = await startLocalMcpServer(server, alice, { secret: "s3cr3t" });
  await local.close(); // registration still alive, nobody listening: initialize times out

  const started = Date.now();
  const { agentMessage } = await askDust(server, alice, "Use my tools", {
    serverIds: [local.serverId],
  });
  assert.equal(agentMessage.status, "succeeded");
  assert.equal(agentMessage.content, "Sorry, the local tools are unavailable.");
  assert.ok(Date.now() - started < 5_000);
  const req = model.requests[0];
  assert.ok(systemPrompt(req).includes(unavailableServerNote("Local Tools")), systemPrompt(req));
  assert.ok(!req.tools!.some((t: Json) => t.function.name.startsWith("local_tools__")));
});

Deno.test("[agents] a tool call that times out gives its error text to the model as the result", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "local_tools__slow_tool", arguments: {} }] },
    (req) => ({ content: `Tool said: ${lastToolResult(req)}` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  server.deps.relay.timings.callTimeoutMs = 300;
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "x", slowMs: 2_000 });

  const { agentMessage } = await askDust(server, alice, "Run the slow tool", {
    serverIds: [local.serverId],
  });
  assert.equal(agentMessage.status, "succeeded");
  assert.match(agentMessage.content, /^Tool said: .*timed out/i);
  assert.equal(agentMessage.actions[0].status, "errored");
  const types = (await messageEvents(server, agentMessage.sId)).map((e) => e.type);
  assert.ok(types.includes("tool_error"), types.join(","));
});

Deno.test("[agents] with no model configured the agent message fails at once, saying how to configure one", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { agentMessage } = await askDust(server, alice, "Hello?");
  assert.equal(agentMessage.status, "failed");
  assert.equal(agentMessage.error.code, "model_not_configured");
  assert.equal(agentMessage.error.message, MODEL_NOT_CONFIGURED_MESSAGE);
  assert.match(agentMessage.error.message, /--model-base-url/);
  assert.match(agentMessage.error.message, /DUST_MCP_MODEL_BASE_URL/);
  assert.match(agentMessage.error.message, /admin settings page/);
  const events = await messageEvents(server, agentMessage.sId);
  assert.equal(events.at(-1).type, "agent_error");
  assert.equal(events.at(-1).error.code, "model_not_configured");
});

Deno.test("[agents] a model endpoint error fails the message with the endpoint's status", async () => {
  await using model = await startFakeModel([{ errorStatus: 500 }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { agentMessage } = await askDust(server, alice, "Hello?");
  assert.equal(agentMessage.status, "failed");
  assert.equal(agentMessage.error.code, "model_error");
  assert.match(agentMessage.error.message, /HTTP 500/);
  assert.doesNotMatch(agentMessage.error.message, /sk-fake/);
});

Deno.test("[agents] the run stops after maxStepsPerRun with a last turn that offers no tools", async () => {
  await using model = await startFakeModel([
    (req) =>
      req.tools?.length
        ? { toolCalls: [{ name: "files_list", arguments: {} }] }
        : { content: "Done looping." },
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { agentMessage } = await askDust(server, alice, "Loop");
  assert.equal(agentMessage.status, "succeeded");
  assert.equal(agentMessage.content, "Done looping.");
  assert.equal(model.requests.length, 8, "dust's maxStepsPerRun is 8");
  assert.equal(agentMessage.actions.length, 7);
  assert.equal(agentMessage.actions[0].output[0].text, "No files available.");
});

Deno.test("[agents] progress notifications of a local tool are published as tool_notification", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "local_tools__progress_tool", arguments: {} }] },
    (req) => ({ content: lastToolResult(req) }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "x" });
  const { agentMessage } = await askDust(server, alice, "Go", { serverIds: [local.serverId] });
  assert.equal(agentMessage.content, "progress done");
  const note = (await messageEvents(server, agentMessage.sId)).find((e) =>
    e.type === "tool_notification"
  );
  assert.ok(note, "a tool_notification event");
  assert.equal(note.notification.progress, 1);
  assert.equal(note.notification.total, 2);
  assert.equal(note.notification._meta.data.label, "half way");
  assert.equal(note.action.functionCallName, "local_tools__progress_tool");
});
