/**
 * MCP prompts and completion through real clients (v1 on 2025-11-25, v2 on 2025-11-25 and
 * 2026-07-28): one "Ask @agent" prompt per agent the user can use (another user's private
 * agent never shows), the workflow prompts with their embedded context, argument checks, the
 * narrowed and read-only endpoints, and completion of prompt arguments and resource-template
 * variables, permission-filtered and bounded.
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
import { createAgent } from "../../src/core/agent_editing.ts";
import { createTask } from "../../src/core/tasks.ts";
import { createConversation } from "../../src/core/conversations.ts";
import { writeScopeFile } from "../../src/core/scoped_files.ts";
import { COMPLETION_MAX } from "../../src/mcp/completion.ts";
import { URI_TEMPLATES } from "../../src/mcp/resource_uris.ts";
import { type AnyClient, CLIENTS, createMcpUser, type McpUser } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

interface Fixture {
  alice: McpUser;
  bob: McpUser;
  podId: string;
  conversationId: string;
  privateAgentId: string;
  viewId: string;
}

async function setup(s: TestServer): Promise<Fixture> {
  const alice = await createMcpUser(s, {
    email: "alice@example.com",
    role: "admin",
    name: "Alice",
  });
  const bob = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = actorOf(alice);
  await createAgent(s.deps, a, { name: "Researcher", description: "Digs deep", instructions: "x" });
  const priv = await createAgent(s.deps, a, {
    name: "Diary",
    description: "Alice's own",
    instructions: "x",
    scope: "private",
  });
  const podId = await createPod(s, a, "Launch Pod", []);
  await createTask(s.deps, a, { podId, text: "Write the launch announcement" });
  await writeScopeFile(s.deps, a, {
    scope: { type: "pod", pod_id: podId },
    rel: "docs/brief.md",
    bytes: new TextEncoder().encode("brief"),
    contentType: "text/markdown",
  });
  const conv = await createConversation(s.deps, a, {
    title: "Pricing talk",
    message: "Should we raise prices?",
    agentName: null,
  });
  const spaceId = await globalSpaceSId(s, alice.workspace);
  const dataSourceId = await createFolder(s, a, spaceId, "handbook");
  await putDocument(s, a, { spaceId, dataSourceId }, "travel-policy", "Trains first.");
  const viewId =
    (await s.deps.db.get("SELECT view_s_id FROM data_sources WHERE s_id = ?", dataSourceId) as {
      view_s_id: string;
    }).view_s_id;
  return {
    alice,
    bob,
    podId,
    conversationId: conv.conversationId,
    privateAgentId: priv.sId,
    viewId,
  };
}

async function promptNames(c: AnyClient): Promise<string[]> {
  return (await c.raw.listPrompts()).prompts.map((p: Json) => p.name);
}

async function values(c: AnyClient, params: Json): Promise<string[]> {
  return (await c.raw.complete(params)).completion.values;
}

for (const [label, connect] of Object.entries(CLIENTS)) {
  Deno.test(`[mcp prompts] ${label}: one Ask prompt per usable agent, workflow prompts, embedded context`, async () => {
    await using s = await startTestServer();
    const f = await setup(s);
    await using c = await connect(s, f.alice.mcpToken);
    const prompts = (await c.raw.listPrompts()).prompts as Json[];
    const names = prompts.map((p) => p.name);
    assert.deepEqual(names.slice(0, 4), [
      "ask_agent",
      "search_and_answer",
      "summarize_conversation",
      "plan_pod_tasks",
    ]);
    assert.ok(names.includes("ask_dust"));
    assert.ok(names.includes(`ask_${f.privateAgentId}`), "the author's private agent");
    const researcher = prompts.find((p) => p.title === "Ask @Researcher");
    assert.deepEqual(researcher.arguments, [
      { name: "question", description: "What to ask", required: true },
    ]);
    const plan = prompts.find((p) => p.name === "plan_pod_tasks");
    assert.deepEqual(plan.arguments.map((a: Json) => [a.name, a.required]), [
      ["podId", true],
      ["goal", false],
    ]);

    const ask = await c.raw.getPrompt({
      name: researcher.name,
      arguments: { question: "What is our churn?" },
    });
    assert.equal(ask.messages.length, 1);
    assert.equal(ask.messages[0].role, "user");
    assert.match(ask.messages[0].content.text, /create_conversation/);
    assert.match(ask.messages[0].content.text, /"agentName"|`agentName` set to "Researcher"/);
    assert.match(ask.messages[0].content.text, /What is our churn\?$/);

    const sum = await c.raw.getPrompt({
      name: "summarize_conversation",
      arguments: { conversationId: f.conversationId },
    });
    const embedded = sum.messages[1].content;
    assert.equal(embedded.type, "resource");
    assert.equal(
      embedded.resource.uri,
      `dust://w/${f.alice.workspace.sId}/conversations/${f.conversationId}`,
    );
    assert.match(embedded.resource.text, /Should we raise prices\?/);

    const planned = await c.raw.getPrompt({
      name: "plan_pod_tasks",
      arguments: { podId: f.podId, goal: "launch in May" },
    });
    assert.match(planned.messages[0].content.text, /Launch Pod" towards this goal: launch in May/);
    assert.match(planned.messages[0].content.text, /- \[todo\] Write the launch announcement/);

    const search = await c.raw.getPrompt({
      name: "search_and_answer",
      arguments: { question: "travel?" },
    });
    assert.match(search.messages[0].content.text, /`search`.*`fetch`/s);

    await assert.rejects(c.raw.getPrompt({ name: "no_such_prompt" }), /not found/);
    await assert.rejects(c.raw.getPrompt({ name: "search_and_answer", arguments: {} }), /question/);
  });

  Deno.test(`[mcp prompts] ${label}: another member sees neither private agents nor unreadable context`, async () => {
    await using s = await startTestServer();
    const f = await setup(s);
    await using c = await connect(s, f.bob.mcpToken);
    const names = await promptNames(c);
    assert.ok(names.includes("ask_dust"));
    assert.ok(!names.includes(`ask_${f.privateAgentId}`));
    await assert.rejects(
      c.raw.getPrompt({ name: `ask_${f.privateAgentId}`, arguments: { question: "hi" } }),
      /not found/,
    );
    await assert.rejects(
      c.raw.getPrompt({
        name: "summarize_conversation",
        arguments: { conversationId: f.conversationId },
      }),
      /not found/i,
    );
    await assert.rejects(
      c.raw.getPrompt({ name: "plan_pod_tasks", arguments: { podId: f.podId } }),
      /Pod not found/,
    );
  });

  Deno.test(`[mcp completion] ${label}: prompt arguments and template variables, permission-filtered`, async () => {
    await using s = await startTestServer();
    const f = await setup(s);
    const w = f.alice.workspace.sId;
    const ref = (uri: string) => ({ type: "ref/resource", uri });
    await using alice = await connect(s, f.alice.mcpToken);
    assert.deepEqual(
      await values(alice, {
        ref: { type: "ref/prompt", name: "ask_agent" },
        argument: { name: "agent", value: "rese" },
      }),
      ["Researcher"],
    );
    assert.deepEqual(
      await values(alice, {
        ref: { type: "ref/prompt", name: "summarize_conversation" },
        argument: { name: "conversationId", value: "pric" },
      }),
      [f.conversationId],
    );
    assert.deepEqual(
      await values(alice, {
        ref: { type: "ref/prompt", name: "plan_pod_tasks" },
        argument: { name: "podId", value: "laun" },
      }),
      [f.podId],
    );
    assert.deepEqual(
      await values(alice, {
        ref: ref(URI_TEMPLATES.podFile),
        argument: { name: "workspaceId", value: "" },
      }),
      [w],
    );
    assert.deepEqual(
      await values(alice, {
        ref: ref(URI_TEMPLATES.podFile),
        argument: { name: "path", value: "docs/" },
        context: { arguments: { podId: f.podId } },
      }),
      ["docs/brief.md"],
    );
    assert.deepEqual(
      await values(alice, {
        ref: ref(URI_TEMPLATES.document),
        argument: { name: "documentId", value: "trav" },
        context: { arguments: { dataSourceViewId: f.viewId } },
      }),
      ["travel-policy"],
    );
    assert.deepEqual(
      await values(alice, {
        ref: ref(URI_TEMPLATES.document),
        argument: { name: "dataSourceViewId", value: "hand" },
      }),
      [f.viewId],
    );

    await using bob = await connect(s, f.bob.mcpToken);
    assert.deepEqual(
      await values(bob, {
        ref: { type: "ref/prompt", name: "ask_agent" },
        argument: { name: "agent", value: "dia" },
      }),
      [],
      "another user's private agent",
    );
    assert.deepEqual(
      await values(bob, {
        ref: ref(URI_TEMPLATES.conversation),
        argument: { name: "conversationId", value: "" },
      }),
      [],
    );
    assert.deepEqual(
      await values(bob, {
        ref: ref(URI_TEMPLATES.podFile),
        argument: { name: "path", value: "" },
        context: { arguments: { podId: f.podId } },
      }),
      [],
      "files of a Pod bob is not in",
    );
    assert.deepEqual(
      await values(bob, {
        ref: ref(URI_TEMPLATES.podFile),
        argument: { name: "podId", value: "" },
      }),
      [],
    );
    await assert.rejects(
      values(bob, { ref: ref("dust://nope/{x}"), argument: { name: "x", value: "" } }),
      /not found/,
    );
  });
}

Deno.test("[mcp completion] values are capped at 100 with the total and hasMore", async () => {
  await using s = await startTestServer();
  const f = await setup(s);
  const a = actorOf(f.alice);
  for (let i = 0; i < COMPLETION_MAX + 20; i++) {
    await createAgent(s.deps, a, { name: `bulk-${i}`, description: "", instructions: "x" });
  }
  for (const connect of [CLIENTS["v1 (2025-11-25)"], CLIENTS["v2 (auto: 2026-07-28)"]]) {
    await using c = await connect(s, f.alice.mcpToken);
    const r = await c.raw.complete({
      ref: { type: "ref/prompt", name: "ask_agent" },
      argument: { name: "agent", value: "bulk-" },
    });
    assert.equal(r.completion.values.length, COMPLETION_MAX);
    assert.equal(r.completion.total, COMPLETION_MAX + 20);
    assert.equal(r.completion.hasMore, true);
  }
  // Prompts come in pages of 50: the v1 client walks them by cursor, v2 aggregates them.
  await using v1 = await CLIENTS["v1 (2025-11-25)"](s, f.alice.mcpToken);
  const paged: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await v1.raw.listPrompts(cursor ? { cursor } : {});
    assert.ok(page.prompts.length <= 50);
    paged.push(...page.prompts.map((p: Json) => p.name));
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  assert.equal(cursor, undefined);
  await using v2 = await CLIENTS["v2 (auto: 2026-07-28)"](s, f.alice.mcpToken);
  assert.deepEqual(await promptNames(v2), paged);
  assert.ok(paged.length > COMPLETION_MAX + 20 && new Set(paged).size === paged.length);
});

Deno.test("[mcp prompts] narrowed and read-only endpoints serve only the prompts they can follow", async () => {
  await using s = await startTestServer();
  const f = await setup(s);
  for (const connect of Object.values(CLIENTS)) {
    await using search = await connect(s, f.alice.mcpToken, "/mcp/x/search");
    assert.deepEqual(await promptNames(search), ["search_and_answer"]);
    await using ro = await connect(s, f.alice.mcpToken, "/mcp/readonly");
    assert.deepEqual(await promptNames(ro), [
      "search_and_answer",
      "summarize_conversation",
      "plan_pod_tasks",
    ]);
    await assert.rejects(
      ro.raw.getPrompt({ name: "ask_dust", arguments: { question: "x" } }),
      /not found/,
    );
    assert.deepEqual(
      await values(ro, {
        ref: { type: "ref/prompt", name: "ask_agent" },
        argument: { name: "agent", value: "" },
      }),
      [],
    );
  }
});
