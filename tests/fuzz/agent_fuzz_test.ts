/**
 * Hostile input from the model provider: the agent loop gets scripted turns with tool calls
 * to real and unknown tools, arguments that are broken JSON, huge, wrong types or the other
 * workspace's ids, dozens of calls at once, odd content (lone surrogates, NUL, 30 kB arguments) and
 * provider errors. Every agent message still ends (succeeded, failed or cancelled), the
 * conversation reads back clean, and nothing is logged at level error.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { startFuzzWorld } from "../helpers/fuzz_world.ts";
import { hostileJson, hostileString, scopedPath } from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty, runs } from "../helpers/fuzz_run.ts";
import { type ChatRequest, type ScriptedTurn, startFakeModel } from "../helpers/fake_model.ts";
import type { FuzzWorld } from "../helpers/fuzz_world.ts";

const RUNS = 12;

/** A hostile first turn, given the names of the tools the model request offered. */
type TurnPlan = (tools: string[]) => ScriptedTurn;

function turnPlan(world: FuzzWorld): fc.Arbitrary<TurnPlan> {
  const args = fc.oneof(
    hostileJson(2).map((v) => JSON.stringify(v)),
    fc.constantFrom("{", "", "null", "[1,2", '{"query": "\uD800"}', "x".repeat(30_000)),
    fc.record({
      query: hostileString(),
      path: scopedPath(world, true),
      scope: fc.constantFrom(
        { type: "pod", pod_id: world.b.ids.podId },
        { type: "conversation", conversation_id: world.a.ids.cId },
      ),
      pattern: fc.constantFrom("(a+)+$", "[", ".*"),
    }, { requiredKeys: [] }),
  );
  const call = fc.record({
    which: fc.nat({ max: 50 }),
    unknown: fc.option(hostileString(), { freq: 3 }),
    args,
  });
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.array(call, { minLength: 1, maxLength: 25 }).map(
        (calls) => (tools: string[]) => ({
          content: "",
          toolCalls: calls.map((c) => ({
            name: c.unknown ?? (tools.length ? tools[c.which % tools.length] : "none"),
            arguments: c.args as Record<string, unknown> | string,
          })),
        }),
      ),
    },
    { weight: 2, arbitrary: hostileString().map((content) => () => ({ content })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(400, 429, 500, 503).map((errorStatus) => () => ({ errorStatus })),
    },
  );
}

Deno.test("[fuzz/agents] hostile model turns (tool calls, arguments, content, errors) end every agent message cleanly", async () => {
  let plan: TurnPlan | null = null;
  // First model call of a run gets the hostile turn; any later call (after tool results) ends it.
  await using model = await startFakeModel([(req: ChatRequest) => {
    const tools = (req.tools ?? []).map((t: { function: { name: string } }) => t.function.name);
    const turn = plan ? plan(tools) : { content: "done" };
    plan = null;
    return turn;
  }]);
  await using world = await startFuzzWorld(model.flags);
  const auth = { Authorization: `Bearer ${world.a.token}`, "Content-Type": "application/json" };
  const base = `/api/v1/w/${world.a.ids.wId}/assistant/conversations`;
  await checkProperty(world, "agent turns", turnPlan(world), async (p) => {
    plan = p;
    const post: FuzzRequest = {
      method: "POST",
      path: base,
      headers: auth,
      body: JSON.stringify({
        title: "agent fuzz",
        visibility: "unlisted",
        message: {
          content: "go",
          mentions: [{ configurationId: "dust" }],
          context: { username: "fuzzer", timezone: "UTC" },
        },
        // Tool calls run without asking (a call that asks parks the message on an approval:
        // tests/agents/tool_approval_test.ts covers that path).
        skipToolsValidation: true,
        blocking: true,
      }),
      as: world.a,
      timeoutMs: 30_000,
    };
    const res = await send(world, post);
    checkResponse(world, post, res, "rest");
    assert.equal(res.status, 200, res.text.slice(0, 300));
    const cId = JSON.parse(res.text).conversation.sId;
    const read: FuzzRequest = { method: "GET", path: `${base}/${cId}`, headers: auth, as: world.a };
    const back = await send(world, read);
    checkResponse(world, read, back, "rest");
    const messages = JSON.parse(back.text).conversation.content.flat();
    const agents = messages.filter((m: { type: string }) => m.type === "agent_message");
    assert.equal(agents.length, 1);
    for (const m of agents) {
      assert.ok(
        ["succeeded", "failed", "cancelled"].includes(m.status),
        `agent message ${m.status}`,
      );
    }
  }, RUNS);
  // Each run reached the model (the hostile turn was really played).
  assert.ok(model.requests.length >= runs(RUNS), `${model.requests.length} model requests`);
  assert.ok(model.requests.some((r) => (r.tools ?? []).length > 0), "the agent offered no tools");
});
