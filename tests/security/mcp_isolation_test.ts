/**
 * Cross-workspace and cross-user isolation through every MCP tool. Each tool the server lists
 * is called with another tenant's real ids and with fabricated ids of the same shape: both
 * calls must give the same answer (once the caller's own input is blanked out), never the
 * tenant's content, and the tenant's rows must be unchanged. The per-tool rules themselves are
 * tested in tests/mcp/permissions_test.ts; this file proves the property over the whole list.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  buildSecurityWorld,
  digestWorkspace,
  MEMBER_MARKERS,
  PRIVATE_MARKERS,
  type SecurityWorld,
} from "../helpers/security_world.ts";
import { fabricate, withoutEchoes } from "../helpers/security_probe.ts";
import { rawMcp, rpcOf, TOOLS_CALL } from "../mcp/helpers.ts";

interface Ids {
  conv: string;
  pod: string;
  convFile: string;
  podFile: string;
  doc: string;
}

type Args = Record<string, unknown>;

/** Calls of each tool that name the tenant's resources (every listed tool must be here). */
function callsOf(i: Ids): Record<string, Args[]> {
  const convScope = { type: "conversation", conversation_id: i.conv };
  const podScope = { type: "pod", pod_id: i.pod };
  const convPath = `conversation-${i.conv}/owlprivate.txt`;
  const podPath = `pod-${i.pod}/lynxpod.txt`;
  return {
    identity: [{}],
    list_agents: [{}, { name: "quokka" }, { name: "owlprivate" }],
    list_pods: [{}],
    list_conversations: [{}, { podId: i.pod }],
    create_conversation: [{ title: "intrusion", podId: i.pod, agentName: null }],
    create_conversation_message: [{
      conversationId: i.conv,
      message: "intrusion",
      agentName: null,
    }],
    get_conversation_messages: [{ conversationId: i.conv }],
    mark_conversation_read: [{ conversationId: i.conv, read: true }],
    get_pod: [{ podId: i.pod }],
    get_pod_tasks: [{ podId: i.pod, statusFilter: "all" }],
    search: [...PRIVATE_MARKERS, ...MEMBER_MARKERS].map((query) => ({ query })),
    fetch: [{ id: i.doc }],
    files_list: [{ scope: convScope }, { scope: podScope }],
    files_cat: [{ scope: convScope, path: convPath }, { scope: podScope, path: podPath }],
    files_grep: [
      { scope: convScope, path: convPath, pattern: "." },
      { scope: podScope, path: podPath, pattern: "." },
    ],
    files_resolve: [
      { scope: convScope, file_id: i.convFile },
      { scope: podScope, file_id: i.podFile },
    ],
    files_create: [
      {
        scope: convScope,
        path: `conversation-${i.conv}/x.txt`,
        content: "intrusion",
        content_type: "text/plain",
      },
      {
        scope: podScope,
        path: `pod-${i.pod}/x.txt`,
        content: "intrusion",
        content_type: "text/plain",
      },
    ],
  };
}

async function call(s: TestServer, token: string, name: string, args: Args) {
  const r = await rawMcp(s, TOOLS_CALL(name, args), { Authorization: `Bearer ${token}` });
  assert.equal(r.status, 200, `${name}: HTTP ${r.status} ${r.text}`);
  const msg = rpcOf(r.text);
  const result = msg.result as { isError?: boolean; content: { text: string }[] } | undefined;
  if (!result) return { isError: true, text: JSON.stringify(msg.error) };
  return { isError: result.isError === true, text: result.content.map((c) => c.text).join("\n") };
}

async function listedTools(s: TestServer, token: string): Promise<string[]> {
  const r = await rawMcp(s, { jsonrpc: "2.0", id: 1, method: "tools/list" }, {
    Authorization: `Bearer ${token}`,
  });
  return (rpcOf(r.text).result as { tools: { name: string }[] }).tools.map((t) => t.name);
}

function realIds(w: SecurityWorld, doc: string): Ids {
  return { conv: w.conv, pod: w.pod, convFile: w.convFile, podFile: w.podFile, doc };
}

function fakeIds(i: Ids): Ids {
  return {
    conv: fabricate(i.conv),
    pod: fabricate(i.pod),
    convFile: fabricate(i.convFile),
    podFile: fabricate(i.podFile),
    doc: fabricate(i.doc),
  };
}

/** `text` without anything the caller sent (its own ids and arguments). */
function scrub(text: string, args: Args, ids: Ids): string {
  const sent = [...Object.values(ids)];
  JSON.stringify(args, (_k, v) => (typeof v === "string" && sent.push(v), v));
  return withoutEchoes(text, sent.sort((a, b) => b.length - a.length)).toLowerCase();
}

/** Every tool, with real and fabricated ids: same answers, no marker, no state change. */
async function sweep(
  s: TestServer,
  w: SecurityWorld,
  token: string,
  doc: string,
  markers: readonly string[],
): Promise<number> {
  const real = realIds(w, doc);
  const fake = fakeIds(real);
  const realCalls = callsOf(real);
  const fakeCalls = callsOf(fake);
  assert.deepEqual((await listedTools(s, token)).sort(), Object.keys(realCalls).sort());
  let n = 0;
  for (const [tool, list] of Object.entries(realCalls)) {
    for (const [k, args] of list.entries()) {
      const a = await call(s, token, tool, args);
      const clean = scrub(a.text, args, real);
      for (const m of markers) assert.ok(!clean.includes(m), `${tool} leaks ${m}: ${a.text}`);
      const b = await call(s, token, tool, fakeCalls[tool][k]);
      assert.deepEqual(
        [a.isError, clean],
        [b.isError, scrub(b.text, fakeCalls[tool][k], fake)],
        `${tool} ${JSON.stringify(args)}: real ids and fabricated ones answer differently`,
      );
      n++;
    }
  }
  return n;
}

Deno.test("[security] MCP: every tool answers another workspace's ids like ids that name nothing", async () => {
  await using s = await startTestServer();
  const w = await buildSecurityWorld(s);
  // Positive control: the owner reaches what the sweeps target.
  assert.match(
    (await call(s, w.alice.mcpToken, "search", { query: "zebrasecret" })).text,
    /ledger_zebrasecret/,
  );
  assert.equal((await call(s, w.alice.mcpToken, "get_pod", { podId: w.pod })).isError, false);
  const before = await digestWorkspace(s, w.alice.workspace.id);
  for (const doc of w.ids.documentId) {
    const n = await sweep(s, w, w.carol.mcpToken, doc, [...PRIVATE_MARKERS, ...MEMBER_MARKERS]);
    assert.ok(n >= 20);
  }
  assert.equal(await digestWorkspace(s, w.alice.workspace.id), before, "workspace A changed");
  // Control: every call is well-formed — the owner's identical calls pass validation.
  for (const [tool, list] of Object.entries(callsOf(realIds(w, w.ids.documentId[0])))) {
    for (const args of list) {
      const r = await call(s, w.alice.mcpToken, tool, args);
      assert.ok(!/validation error/i.test(r.text), `${tool} ${JSON.stringify(args)}: ${r.text}`);
    }
  }
});

Deno.test("[security] MCP: a member's tools never reach restricted spaces, Pods or others' conversations", async () => {
  await using s = await startTestServer();
  const w = await buildSecurityWorld(s);
  const heron = await call(s, w.bob.mcpToken, "search", { query: "heronpublic" });
  assert.match(heron.text, /welcome_heronpublic/, "bob searches the global space");
  const before = await digestWorkspace(s, w.alice.workspace.id);
  await sweep(s, w, w.bob.mcpToken, w.ids.documentId[0], PRIVATE_MARKERS);
  assert.equal(await digestWorkspace(s, w.alice.workspace.id), before, "workspace A changed");
});
