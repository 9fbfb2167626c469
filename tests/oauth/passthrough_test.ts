/**
 * Checklist A11: the client's token is never forwarded upstream. An MCP call that makes the
 * server talk to another service (here: the agent's model endpoint) uses the server's own
 * credential for that service; nothing the MCP client sent reaches it.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect } from "../helpers/oauth_flow.ts";

const MODEL_KEY = "sk-model-own-credential";

/** An OpenAI-compatible endpoint that records every request's headers and answers "ok". */
function startRecordingModel() {
  const seen: { headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    seen.push({ headers: req.headers, body });
    const stream = (JSON.parse(body) as { stream?: boolean }).stream;
    const choice = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${
        JSON.stringify({
          id: "c",
          object: "chat.completion.chunk",
          created: 0,
          model: "m",
          choices: [{ index: 0, delta, finish_reason: finish }],
        })
      }\n\n`;
    if (stream) {
      const sse = choice({ role: "assistant", content: "ok" }, null) + choice({}, "stop") +
        "data: [DONE]\n\n";
      return new Response(sse, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json({
      id: "c",
      object: "chat.completion",
      created: 0,
      model: "m",
      choices: [{
        index: 0,
        message: { role: "assistant", content: "ok" },
        finish_reason: "stop",
      }],
    });
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("[oauth] A11 no token passthrough: the model call carries the server's own key, not the client's token", async () => {
  await using model = startRecordingModel();
  await using server = await startTestServer({
    flags: { "model-base-url": model.baseUrl, model: "m", "model-api-key": MODEL_KEY },
  });
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice);
  const res = await fetch(`${server.url}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${c.tokens.access_token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "create_conversation", arguments: { title: "t", message: "hi" } },
    }),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const deadline = Date.now() + 15_000;
  let status = "created";
  while (status === "created" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const row = await server.deps.db.get("SELECT status FROM agent_messages LIMIT 1") as
      | { status: string }
      | undefined;
    status = row?.status ?? "created";
  }
  assert.equal(status, "succeeded");
  assert.ok(model.seen.length >= 1, "the agent called the model");
  for (const { headers, body } of model.seen) {
    assert.equal(headers.get("authorization"), `Bearer ${MODEL_KEY}`);
    const all = [...headers].map(([k, v]) => `${k}: ${v}`).join("\n") + body;
    assert.ok(!all.includes(c.tokens.access_token), "the access token never reaches upstream");
    assert.ok(!all.includes(c.tokens.refresh_token));
  }
});
