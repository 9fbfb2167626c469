/**
 * An agent's answer as an MCP task, through real clients on the two revisions that have
 * tasks: the v1 SDK client's experimental tasks API on 2025-11-25 (`params.task`, `tasks/get`,
 * `tasks/result` with progress, `tasks/cancel`) and the v2 client on 2026-07-28 with the
 * `io.modelcontextprotocol/tasks` extension (`resultType: "task"`, `tasks/get` inlining the
 * result, `tasks/cancel`, and MissingRequiredClientCapability without the extension).
 * Real agent runs answer through a scripted model server; the progress and cancel tests hold
 * the runner and move the agent message through the core, so they do not race it. Task state
 * lives in the message rows: a task created on one server is followed from a restarted one.
 */
import assert from "node:assert/strict";
import * as z from "zod";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from "@modelcontextprotocol/client";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startFakeModel } from "../helpers/fake_model.ts";
import { holdAgentRuns } from "../helpers/conversations.ts";
import {
  appendMessageEvent,
  createAgentAction,
  updateAgentMessage,
} from "../../src/core/agent_messages.ts";
import { connectV1, createMcpUser, type McpUser, payloadOf } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const TASKS = "io.modelcontextprotocol/tasks";

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Drain a v1 `callToolStream`, bounded. */
async function drain(stream: AsyncIterable<Json>): Promise<Json[]> {
  const out: Json[] = [];
  for await (const m of stream) {
    out.push(m);
    if (out.length > 200) throw new Error("stream never ended");
  }
  return out;
}

/** A v2 client on 2026-07-28 that declares the tasks extension (or not). */
async function connectV2Tasks(s: TestServer, token: string, declare = true) {
  const client = new V2Client({ name: "v2-tasks", version: "1.0.0" }, {
    versionNegotiation: { mode: "auto" },
    capabilities: declare ? { extensions: { [TASKS]: {} } } : {},
  });
  const transport = new V2Transport(new URL(`${s.url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.close() });
}

const AnyResult = z.looseObject({});

/**
 * One `tools/call` on 2026-07-28 declaring the tasks extension, through the v2 SDK's own
 * transport: the v2 client (2.4.0) has no Tasks extension, and its result decoder refuses any
 * `resultType` but `complete` and `input_required` for `tools/call`. `tasks/*` results are
 * `complete`, so the client itself handles those.
 */
async function callAsTask(
  s: TestServer,
  token: string,
  params: { name: string; arguments: Record<string, unknown> },
): Promise<Json> {
  const t = new V2Transport(new URL(`${s.url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const answer = new Promise<Json>((resolve, reject) => {
    t.onmessage = (m: Json) => m.id === 1 && resolve(m);
    t.onerror = reject;
  });
  await t.start();
  t.setProtocolVersion?.("2026-07-28");
  await t.send({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: {
      ...params,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { name: "v2-transport", version: "1" },
        "io.modelcontextprotocol/clientCapabilities": { extensions: { [TASKS]: {} } },
      },
    },
  });
  try {
    const m = await answer;
    if (m.error) throw new Error(`${m.error.code}: ${m.error.message}`);
    return m.result;
  } finally {
    await t.close();
  }
}

/** Poll `tasks/get` (v2) until the task leaves `working`, bounded. */
async function pollV2(c: V2Client, taskId: string): Promise<Json> {
  for (let i = 0; i < 600; i++) {
    const t: Json = await c.request({ method: "tasks/get", params: { taskId } }, AnyResult);
    if (t.status !== "working") return t;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${taskId} still working`);
}

Deno.test("[mcp tasks] v1 on 2025-11-25: create_conversation as a task runs the agent; the result is its answer", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "search", arguments: { query: "pricing" } }] },
    { content: "Prices go up in May." },
  ]);
  await using s = await startTestServer({ flags: model.flags });
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await using c = await connectV1(s, u.mcpToken);
  assert.deepEqual(c.raw.getServerCapabilities().tasks, {
    cancel: {},
    requests: { tools: { call: {} } },
  });
  const tools = (await c.listTools()).tools as Json[];
  assert.deepEqual(tools.find((t) => t.name === "create_conversation").execution, {
    taskSupport: "optional",
  });
  assert.equal(tools.find((t) => t.name === "search").execution, undefined);
  const messages = await drain(c.raw.experimental.tasks.callToolStream({
    name: "create_conversation",
    arguments: { title: "Pricing", message: "When do prices change?", agentName: "Dust" },
  }));
  const types = messages.map((m) => m.type);
  assert.equal(types[0], "taskCreated");
  assert.equal(types.at(-1), "result", JSON.stringify(messages.at(-1)));
  const created = messages[0].task;
  assert.match(created.taskId, /^c\./);
  assert.equal(created.pollInterval, 1000);
  assert.equal(created.ttl, null);
  const result = messages.at(-1).result;
  const payload = result.structuredContent;
  assert.equal(payload.answer.status, "succeeded");
  assert.equal(payload.answer.content, "Prices go up in May.");
  assert.equal(payload.answer.agentName, "Dust");
  assert.equal(payload.title, "Pricing");
  assert.deepEqual(payload.agentMessageIds, [payload.answer.messageId]);
  assert.deepEqual(JSON.parse(result.content[0].text), payload);
  const done = await c.raw.experimental.tasks.getTask(created.taskId);
  assert.equal(done.status, "completed");
  assert.equal(done.statusMessage, "@Dust answered");
  // Without a task the same tool answers at once, as before.
  const plain = payloadOf(
    await c.callTool({
      name: "create_conversation_message",
      arguments: { conversationId: payload.conversationId, message: "thanks", agentName: null },
    }),
  );
  assert.deepEqual(plain.agentMessageIds, []);
  assert.equal(plain.answer, undefined);
});

Deno.test("[mcp tasks] v1 on 2025-11-25: a failed agent is a failed task whose result shows the error; no agent is a completed task", async () => {
  await using model = await startFakeModel([{ errorStatus: 500 }]);
  await using s = await startTestServer({ flags: model.flags });
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await using c = await connectV1(s, u.mcpToken);
  await c.listTools();
  const messages = await drain(c.raw.experimental.tasks.callToolStream({
    name: "create_conversation",
    arguments: { title: "Boom", message: "hello?" },
  }));
  const taskId = messages[0].task.taskId;
  assert.equal(messages.at(-1).type, "error");
  const failed = await c.raw.experimental.tasks.getTask(taskId);
  assert.equal(failed.status, "failed");
  assert.match(failed.statusMessage, /^@Dust failed: /);
  const result = await c.raw.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
  assert.equal(result.isError, true);
  assert.equal(result.structuredContent.answer.status, "failed");
  assert.equal(result.structuredContent.answer.error.code, "model_error");
  assert.deepEqual(result._meta["io.modelcontextprotocol/related-task"], { taskId });
  const transcript = payloadOf(
    await c.callTool({
      name: "get_conversation_messages",
      arguments: { conversationId: result.structuredContent.conversationId },
    }),
  );
  assert.match(transcript.messages as string, /\[Agent message failed \(model_error\): /);

  const none = await drain(c.raw.experimental.tasks.callToolStream({
    name: "create_conversation",
    arguments: { title: "Notes", message: "just a note", agentName: null },
  }));
  assert.deepEqual(none.map((m) => m.type).filter((t) => t !== "taskStatus"), [
    "taskCreated",
    "result",
  ]);
  assert.equal(none[0].task.status, "completed");
  assert.equal(none.at(-1).result.structuredContent.answer, undefined);
});

Deno.test("[mcp tasks] v1 on 2025-11-25: tasks/result waits, reporting the agent's steps as progress; cancel ends the message", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await using c = await connectV1(s, u.mcpToken);
  await c.listTools();
  const stream = c.raw.experimental.tasks.callToolStream({
    name: "create_conversation",
    arguments: { title: "Slow", message: "think hard" },
  });
  const first = (await stream[Symbol.asyncIterator]().next()).value;
  const taskId = first.task.taskId;
  assert.equal(first.task.status, "working");
  assert.equal(first.task.statusMessage, "@Dust is thinking");
  const agentMessageId = await agentMessageOf(s, u);

  const progress: Json[] = [];
  const waiting = c.raw.experimental.tasks.getTaskResult(taskId, CallToolResultSchema, {
    onprogress: (p: Json) => progress.push(p),
  });
  // Settled as soon as the task is cancelled, possibly before the assertion below awaits it: a
  // handler attached now keeps that rejection from counting as unhandled.
  const outcome = waiting.then(() => null, (e: unknown) => e);
  // tasks/result reports where the task stands when it starts waiting, then each change.
  await waitFor(() => progress.length > 0, "the first progress");
  assert.deepEqual(progress[0], { progress: 0, message: "@Dust is thinking" });
  await createAgentAction(s.deps, {
    messageId: agentMessageId,
    step: 1,
    functionCallName: "search",
    functionCallId: "call_1",
    params: { query: "x" },
  });
  await appendMessageEvent(s.deps, agentMessageId, { type: "tool_params" });
  await waitFor(() => progress.length > 1, "progress of the step");
  assert.deepEqual(progress[1], {
    progress: 1,
    message: "@Dust is working: step 1, search (running)",
  });
  const working = await c.raw.experimental.tasks.getTask(taskId);
  assert.equal(working.statusMessage, "@Dust is working: step 1, search (running)");

  // A read-only endpoint follows the task but cannot cancel it.
  await using ro = await connectV1(s, u.mcpToken, "/mcp/readonly");
  assert.equal((await ro.raw.experimental.tasks.getTask(taskId)).status, "working");
  await assert.rejects(ro.raw.experimental.tasks.cancelTask(taskId), /read-only/);
  const cancelled = await c.raw.experimental.tasks.cancelTask(taskId);
  assert.equal(cancelled.status, "cancelled");
  assert.match(String(await outcome), /was cancelled/);
  assert.equal(
    (await s.deps.db.get(
      "SELECT am.status FROM agent_messages am JOIN messages m ON m.id = am.message_id WHERE m.s_id = ?",
      agentMessageId,
    ) as { status: string }).status,
    "cancelled",
  );
  await assert.rejects(c.raw.experimental.tasks.cancelTask(taskId), /terminal status 'cancelled'/);
});

/** The (only) agent message of the user's conversations. */
async function agentMessageOf(s: TestServer, u: McpUser): Promise<string> {
  return (await s.deps.db.get(
    `SELECT m.s_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
     WHERE m.type = 'agent_message' AND c.workspace_id = ? ORDER BY m.id DESC LIMIT 1`,
    u.workspace.id,
  ) as { s_id: string }).s_id;
}

Deno.test("[mcp tasks] v2 on 2026-07-28 with the tasks extension: resultType task, tasks/get inlines the answer", async () => {
  await using model = await startFakeModel([{ content: "Forty-two." }]);
  await using s = await startTestServer({ flags: model.flags });
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await using c = await connectV2Tasks(s, u.mcpToken);
  assert.equal(c.getNegotiatedProtocolVersion(), "2026-07-28");
  assert.deepEqual(c.getServerCapabilities()?.extensions, { [TASKS]: {} });
  assert.equal((c.getServerCapabilities() as Json).tasks, undefined);
  await c.listTools();
  const conv = payloadOf(
    await c.callTool({ name: "create_conversation", arguments: { title: "Q", agentName: null } }),
  );
  const created = await callAsTask(s, u.mcpToken, {
    name: "create_conversation_message",
    arguments: { conversationId: conv.conversationId, message: "The answer?" },
  });
  assert.equal(created.resultType, "task");
  assert.match(created.taskId, /^m\./);
  assert.equal(created.task, undefined, "flat, no v1 wrapper");
  assert.equal(created.ttlMs, null);
  assert.equal(created.pollIntervalMs, 1000);
  assert.ok(!("result" in created) && !("error" in created));
  const done = await pollV2(c, created.taskId);
  assert.equal(done.status, "completed");
  assert.equal(done.result.structuredContent.answer.content, "Forty-two.");
  assert.equal(done.result.structuredContent.conversationId, conv.conversationId);
  assert.equal(done.result._meta?.["io.modelcontextprotocol/related-task"], undefined);
  const ack: Json = await c.request({
    method: "tasks/cancel",
    params: { taskId: created.taskId },
  }, AnyResult);
  assert.deepEqual(Object.keys(ack).filter((k) => k !== "_meta" && k !== "resultType"), []);
  // A post without an agent is answered at once, even with the extension.
  const plain = await c.callTool({
    name: "create_conversation_message",
    arguments: { conversationId: conv.conversationId, message: "ok", agentName: null },
  });
  assert.deepEqual(payloadOf(plain).agentMessageIds, []);
});

Deno.test("[mcp tasks] v2 on 2026-07-28: a failed agent is completed with isError; cancel; gating without the extension; other users", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const bob = await createMcpUser(s, {
    email: "bob@example.com",
    role: "admin",
    workspace: u.workspace,
  });
  await using c = await connectV2Tasks(s, u.mcpToken);
  const post = (title: string) =>
    callAsTask(s, u.mcpToken, { name: "create_conversation", arguments: { title, message: "go" } });
  const failing = await post("F");
  await updateAgentMessage(s.deps, {
    messageId: await agentMessageOf(s, u),
    status: "failed",
    error: { code: "model_error", message: "upstream down" },
  });
  const failed = await pollV2(c, failing.taskId);
  assert.equal(failed.status, "completed");
  assert.equal(failed.result.isError, true);
  assert.equal(failed.result.structuredContent.answer.error.message, "upstream down");
  assert.equal(failed.statusMessage, "@Dust failed: upstream down");

  const running = await post("R");
  const cancelAck: Json = await c.request({
    method: "tasks/cancel",
    params: { taskId: running.taskId },
  }, AnyResult);
  assert.equal(cancelAck.status, undefined);
  const after = await pollV2(c, running.taskId);
  assert.equal(after.status, "cancelled");
  assert.equal(after.result, undefined);

  await assert.rejects(
    c.request({ method: "tasks/get", params: { taskId: "m.nope" } }, AnyResult),
    /Task not found/,
  );
  await assert.rejects(
    c.request(
      { method: "tasks/update", params: { taskId: running.taskId, inputResponses: {} } },
      AnyResult,
    ),
    /not waiting for input/,
  );
  // Bob, in the same workspace, cannot follow Alice's task.
  await using other = await connectV2Tasks(s, bob.mcpToken);
  await assert.rejects(
    other.request({ method: "tasks/get", params: { taskId: failing.taskId } }, AnyResult),
    /Task not found/,
  );
  // A client without the extension gets immediate results and no tasks/* methods.
  await using plain = await connectV2Tasks(s, u.mcpToken, false);
  const sync: Json = await plain.request({
    method: "tools/call",
    params: { name: "create_conversation", arguments: { title: "S", message: "go" } },
  }, AnyResult);
  assert.notEqual(sync.resultType, "task");
  assert.equal(sync.structuredContent.agentMessageIds.length, 1);
  await assert.rejects(
    plain.request({ method: "tasks/get", params: { taskId: failing.taskId } }, AnyResult),
    (e: Error & { code?: number }) => {
      assert.equal(e.code, -32021, e.message);
      return true;
    },
  );
});

Deno.test("[mcp tasks] a task survives a server restart: its state is the message rows", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "tasks-restart-" });
  try {
    let taskId: string;
    let token: string;
    const flags = { "work-lease-seconds": "2" };
    {
      await using s = await startTestServer({ dataDir, flags });
      holdAgentRuns(s);
      const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
      token = u.mcpToken;
      await using c = await connectV1(s, token);
      await c.listTools();
      const first = await c.raw.experimental.tasks.callToolStream({
        name: "create_conversation",
        arguments: { title: "Long", message: "go" },
      })[Symbol.asyncIterator]().next();
      taskId = first.value.task.taskId;
    }
    // A short lease: on PostgreSQL the run of the stopped instance is ended by a takeover once
    // its lease passed (several instances share the database); on SQLite at start.
    await using s = await startTestServer({ dataDir, flags });
    await using c = await connectV1(s, token);
    let t = await c.raw.experimental.tasks.getTask(taskId);
    for (let i = 0; i < 100 && t.status === "working"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      t = await c.raw.experimental.tasks.getTask(taskId);
    }
    // The restarted runner (or the takeover) marks the interrupted run failed: the task says so.
    assert.equal(t.taskId, taskId);
    assert.equal(t.status, "failed");
    assert.match(
      t.statusMessage,
      /^@Dust failed: The server (stopped while this message|instance generating this message stopped)/,
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
