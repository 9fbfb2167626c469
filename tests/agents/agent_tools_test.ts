/**
 * The internal tools agents get (workspace search, the conversation's and Pod's files), run as
 * the poster, and the provider's non-streaming mode and tool-name rules.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import {
  actorOf,
  createFolder,
  createPod,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import type { TestServer } from "../helpers/server.ts";
import { exposedToolName, MAX_TOOL_NAME } from "../../src/agents/tools.ts";
import { createModelClient, runModelTurn } from "../../src/agents/provider.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function ask(server: TestServer, u: UserWithToken, content: string, spaceId?: string) {
  const r = await apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/assistant/conversations`, {
    method: "POST",
    body: {
      title: null,
      visibility: "unlisted",
      blocking: true,
      spaceId,
      // files_create asks for approval by default (tool_approval_test.ts); not what this tests.
      skipToolsValidation: true,
      message: {
        content,
        mentions: [{ configurationId: "dust" }],
        context: { username: u.user.username, timezone: "UTC" },
      },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const get = await apiJson(
    server,
    u.token,
    `/api/v1/w/${u.workspace.sId}/assistant/conversations/${r.body.conversation.sId}`,
  );
  return {
    cId: r.body.conversation.sId as string,
    agent: get.body.conversation.content.flat().find((m: Json) => m.type === "agent_message"),
  };
}

Deno.test("[agents] the search tool finds workspace documents for the agent", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "search", arguments: { query: "zanzibar" } }] },
    (req) => ({
      content: lastToolResult(req).includes("Quarterly zanzibar plan") ? "found it" : "no",
    }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const spaceId = await globalSpaceSId(server, alice.workspace);
  const dataSourceId = await createFolder(server, actorOf(alice), spaceId, "Docs");
  await putDocument(
    server,
    actorOf(alice),
    { spaceId, dataSourceId },
    "plan",
    "Quarterly zanzibar plan",
    {
      title: "Plan",
    },
  );
  const { agent } = await ask(server, alice, "Find the plan");
  assert.equal(agent.status, "succeeded", JSON.stringify(agent.error));
  assert.equal(agent.content, "found it");
  assert.equal(agent.actions[0].functionCallName, "search");
  assert.equal(agent.actions[0].mcpServerId, "search");
});

Deno.test("[agents] the files tools write and read the conversation's files, and a Pod's", async () => {
  await using model = await startFakeModel([
    {
      toolCalls: [{
        name: "files_create",
        arguments: { path: "notes.md", content: "alpha\nbeta\n" },
      }],
    },
    { toolCalls: [{ name: "files_cat", arguments: { path: "notes.md" } }] },
    { toolCalls: [{ name: "files_grep", arguments: { path: "notes.md", pattern: "bet" } }] },
    (req) => ({ content: `grep: ${lastToolResult(req)}` }),
    {
      toolCalls: [{
        name: "files_create",
        arguments: { scope: "pod", path: "plan.md", content: "p" },
      }],
    },
    { toolCalls: [{ name: "files_list", arguments: { scope: "pod" } }] },
    (req) => ({ content: `pod: ${lastToolResult(req)}` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const { agent } = await ask(server, alice, "Take notes");
  assert.equal(agent.status, "succeeded", JSON.stringify(agent.error));
  assert.match(agent.content, /^grep: .*beta/s);
  assert.deepEqual(agent.actions.map((a: Json) => a.functionCallName), [
    "files_create",
    "files_cat",
    "files_grep",
  ]);
  assert.deepEqual(agent.actions.map((a: Json) => a.status), [
    "succeeded",
    "succeeded",
    "succeeded",
  ]);
  assert.match(agent.actions[1].output[0].text, /^1: alpha\n2: beta/);

  const pod = await createPod(server, actorOf(alice), "Launch");
  const inPod = await ask(server, alice, "Plan in the Pod", pod);
  assert.equal(inPod.agent.status, "succeeded", JSON.stringify(inPod.agent.error));
  assert.match(inPod.agent.content, new RegExp(`pod: pod-${pod}/plan\\.md`));
});

Deno.test("[agents] a tool error (bad arguments, unknown file) is the tool result, not a failure", async () => {
  await using model = await startFakeModel([
    { toolCalls: [{ name: "files_cat", arguments: "{not json" }] },
    { toolCalls: [{ name: "files_cat", arguments: { path: "missing.md" } }] },
    (req) => ({ content: `last: ${lastToolResult(req)}` }),
  ]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const { agent } = await ask(server, alice, "Read");
  assert.equal(agent.status, "succeeded");
  assert.deepEqual(agent.actions.map((a: Json) => a.status), ["errored", "errored"]);
  assert.equal(agent.actions[0].output[0].text, "The tool arguments are not valid JSON.");
  assert.match(agent.content, /^last: File not found/);
});

Deno.test("[agents] provider: non-streaming mode returns the text and tool calls", async () => {
  await using model = await startFakeModel([
    { content: "hi", toolCalls: [{ name: "t", arguments: { a: 1 }, id: "call_1" }] },
  ]);
  const client = await createModelClient({ baseUrl: model.baseUrl, apiKey: null });
  const tokens: string[] = [];
  const turn = await runModelTurn(client, { model: "m" }, {
    messages: [{ role: "user", content: "x" }],
    tools: [{ name: "t", description: "", parameters: { type: "object" } }],
    stream: false,
    onToken: (t) => void tokens.push(t),
  });
  assert.equal(model.requests[0].stream, undefined);
  assert.equal(turn.content, "hi");
  assert.deepEqual(tokens, ["hi"]);
  assert.deepEqual(turn.toolCalls, [
    { id: "call_1", type: "function", function: { name: "t", arguments: '{"a":1}' } },
  ]);
});

Deno.test("[agents] client-side tool names are <server>__<tool>, at most 64 characters", () => {
  assert.equal(exposedToolName("Local Tools", "getSecret"), "local_tools__get_secret");
  const long = exposedToolName("A very long local server name indeed", "x".repeat(80));
  assert.ok(long.length <= MAX_TOOL_NAME, long);
  assert.equal(long, `a__${"x".repeat(61)}`, "the server prefix is truncated first");
  const shortTool = exposedToolName("S".repeat(70), "run");
  assert.equal(shortTool.length, MAX_TOOL_NAME);
  assert.ok(shortTool.endsWith("__run"));
});
