/**
 * Agents are one more surface: a run acts as the member who posted, so its tools (workspace
 * search, the conversation's and Pod's files) find and read nothing that member cannot —
 * even when the model asks for restricted words, another conversation's paths or `..`.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { type ChatRequest, startFakeModel } from "../helpers/fake_model.ts";
import { buildSecurityWorld } from "../helpers/security_world.ts";

/** Contents only A's restricted resources hold (never sent by the test itself). */
const SECRET_TEXTS = ["zebrasecret salaries", "owlprivate notes", "lynxpod plan", "lynxpod task"];

function toolResults(req: ChatRequest): string {
  return req.messages.filter((m) => m.role === "tool").map((m) => String(m.content)).join("\n");
}

Deno.test("[security] agents: a run as a member searches and reads nothing the member cannot", async () => {
  const paths: string[] = [];
  await using model = await startFakeModel([
    { toolCalls: [{ name: "search", arguments: { query: "zebrasecret" } }] },
    { toolCalls: [{ name: "search", arguments: { query: "lynxpod" } }] },
    { toolCalls: [{ name: "search", arguments: { query: "heronpublic" } }] },
    ...[0, 1, 2, 3].map((i) => () => ({
      toolCalls: [{ name: "files_cat", arguments: { path: paths[i] } }],
    })),
    (req) => ({ content: toolResults(req) }),
  ]);
  await using s = await startTestServer({ flags: model.flags });
  const publishLocal = s.deps.events.publishLocal;
  const w = await buildSecurityWorld(s);
  s.deps.events.publishLocal = publishLocal; // the world holds agent runs; this test needs them
  paths.push(
    `../conversation-${w.conv}/owlprivate.txt`,
    `conversation-${w.conv}/owlprivate.txt`,
    `../pod-${w.pod}/lynxpod.txt`,
    `/pod-${w.pod}/lynxpod.txt`,
  );
  const base = `/api/v1/w/${w.alice.workspace.sId}/assistant/conversations`;
  const r = await apiJson(s, w.bob.token, base, {
    method: "POST",
    body: {
      title: null,
      blocking: true,
      message: {
        content: "find the salaries",
        mentions: [{ configurationId: "dust" }],
        context: { username: w.bob.user.username, timezone: "UTC" },
      },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const got = await apiJson(s, w.bob.token, `${base}/${r.body.conversation.sId}`);
  // deno-lint-ignore no-explicit-any
  const agent = got.body.conversation.content.flat().find((m: any) => m.type === "agent_message");
  assert.equal(agent.status, "succeeded", JSON.stringify(agent.error));
  // deno-lint-ignore no-explicit-any
  const names = agent.actions.map((a: any) => a.functionCallName).join(",");
  assert.match(names, /^search,search,search,files_cat,files_cat,files_cat,files_cat/, names);
  assert.match(agent.content, /heronpublic welcome/, "control: the global document is found");
  for (const secret of SECRET_TEXTS) {
    assert.ok(!agent.content.includes(secret), `the agent saw "${secret}": ${agent.content}`);
  }
  for (const req of model.requests) {
    for (const secret of SECRET_TEXTS) {
      assert.ok(!JSON.stringify(req).includes(secret), `the model was sent "${secret}"`);
    }
  }
});
