/**
 * The route's fast path for 2025-era `tools/call` must answer exactly as the SDK does, and the
 * endpoint must stay correct under concurrency (many independent clients reusing JSON-RPC
 * id 1, as stateless clients do).
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
import { createMcpUser, type McpUser, rawMcp, rpcOf, TOOLS_CALL } from "./helpers.ts";

/** SDK path: no MCP-Protocol-Version header, so the fast path declines and the SDK answers. */
async function viaSdk(s: TestServer, u: McpUser, name: string, args: Record<string, unknown>) {
  const r = await rawMcp(s, TOOLS_CALL(name, args, 7), {
    Authorization: `Bearer ${u.mcpToken}`,
    "MCP-Protocol-Version": null,
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /text\/event-stream/, "answered by the SDK");
  return rpcOf(r.text);
}

async function viaFast(s: TestServer, u: McpUser, name: string, args: Record<string, unknown>) {
  const r = await rawMcp(s, TOOLS_CALL(name, args, 7), { Authorization: `Bearer ${u.mcpToken}` });
  assert.equal(r.status, 200);
  assert.match(
    r.headers.get("content-type") ?? "",
    /application\/json/,
    "answered by the fast path",
  );
  return rpcOf(r.text);
}

Deno.test("[mcp fast path] same JSON-RPC answer as the SDK for every read tool, success and error", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin", name: "Alice B" });
  const podId = await createPod(s, actorOf(u), "Pod", []);
  const spaceId = await globalSpaceSId(s, u.workspace);
  const dataSourceId = await createFolder(s, actorOf(u), spaceId, "docs");
  await putDocument(s, actorOf(u), { spaceId, dataSourceId }, "d1", "the narwhal document");
  const cases: [string, Record<string, unknown>][] = [
    ["identity", {}],
    ["list_agents", {}],
    ["list_agents", { name: "zzzz-nothing" }],
    ["list_conversations", {}],
    ["list_pods", {}],
    ["get_pod", { podId }],
    ["get_pod", { podId: "vlt_missing" }],
    ["get_pod_tasks", { podId, statusFilter: "all" }],
    ["search", { query: "narwhal" }],
    ["fetch", { id: "d1" }],
    ["fetch", { id: "nope" }],
    ["files_list", { scope: { type: "pod", pod_id: podId } }],
    ["get_conversation_messages", { conversationId: "missing" }],
  ];
  for (const [name, args] of cases) {
    const sdk = await viaSdk(s, u, name, args);
    const fast = await viaFast(s, u, name, args);
    assert.deepEqual(fast, sdk, `${name} ${JSON.stringify(args)}`);
  }
});

Deno.test("[mcp fast path] requests it must not take go to the SDK (unknown tool, bad arguments, batch)", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const auth = { Authorization: `Bearer ${u.mcpToken}` };
  const unknown = await rawMcp(s, TOOLS_CALL("no_such_tool"), auth);
  const unknownMsg = rpcOf(unknown.text);
  assert.ok(unknownMsg.error || (unknownMsg.result as { isError?: boolean }).isError);
  const bad = rpcOf((await rawMcp(s, TOOLS_CALL("get_pod", { podId: 42 }), auth)).text);
  const badResult = bad.result as { isError: boolean; content: { text: string }[] };
  assert.equal(badResult.isError, true);
  assert.match(badResult.content[0].text, /podId/);
  const batch = await rawMcp(
    s,
    [TOOLS_CALL("identity", {}, 1), TOOLS_CALL("identity", {}, 2)],
    auth,
  );
  assert.ok(batch.status === 200 || batch.status === 400, `batch answered ${batch.status}`);
  const broken = await fetch(`${s.url}/mcp`, {
    method: "POST",
    headers: {
      ...auth,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2025-06-18",
    },
    body: "{not json",
  });
  const brokenText = await broken.text();
  assert.equal(broken.status, 400);
  assert.equal((JSON.parse(brokenText).error as { code: number }).code, -32700);
});

Deno.test("[mcp fast path] 200 concurrent calls from 20 users, all with id 1, each get their own answer", async () => {
  await using s = await startTestServer({ flags: { "mcp-rate-user": "1000" } });
  const first = await createMcpUser(s, { email: "u0@example.com", role: "admin" });
  const users = [first];
  for (let i = 1; i < 20; i++) {
    users.push(
      await createMcpUser(s, {
        email: `u${i}@example.com`,
        role: "user",
        workspace: first.workspace,
      }),
    );
  }
  const calls = Array.from({ length: 200 }, async (_, i) => {
    const u = users[i % users.length];
    const headers: Record<string, string | null> = { Authorization: `Bearer ${u.mcpToken}` };
    // Alternate the fast path and the SDK path (no protocol header) to exercise both.
    if (i % 2) headers["MCP-Protocol-Version"] = null;
    const r = await rawMcp(s, TOOLS_CALL("identity", {}, 1), headers);
    const msg = rpcOf(r.text);
    const me = JSON.parse((msg.result as { content: { text: string }[] }).content[0].text);
    return msg.id === 1 && me.id === u.user.sId;
  });
  const ok = (await Promise.all(calls)).filter(Boolean).length;
  assert.equal(ok, 200);
});
