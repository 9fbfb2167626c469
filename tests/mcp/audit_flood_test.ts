/**
 * Issue 10, finding 2: one token could flood the audit log (a JSON-RPC batch of 100
 * `tools/call`, every call refused by the budget still written as a row of up to ~14 KB, no
 * bound per workspace). Each test reproduces one part of the attack in bounded form:
 * refused calls are counted per credential and window, oversize batches are refused, stored
 * arguments are bounded, and each workspace keeps at most `--audit-max-entries` rows, the
 * oldest removed first.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import {
  createMcpUser,
  type McpUser,
  mintOAuthToken,
  rawMcp,
  rpcOf,
  TOOLS_CALL,
} from "./helpers.ts";
import {
  AUDIT_MAX_ARGUMENT_CHARS,
  type AuditEntryInput,
  flushAuditLog,
  pruneAuditLog,
  recordToolCall,
} from "../../src/core/audit.ts";
import { createSession } from "../../src/core/sessions.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** The workspace's rows, oldest first (`count` is 1 for a single call). */
async function auditRows(s: TestServer, workspaceId: number): Promise<Json[]> {
  await flushAuditLog(s.deps.db);
  const rows = await s.deps.db.all(
    "SELECT * FROM audit_log WHERE workspace_id = ? ORDER BY id",
    workspaceId,
  ) as Json[];
  return rows.map((r) => ({ ...r, count: r.count ?? 1 }));
}

async function batch(s: TestServer, u: McpUser, calls: unknown[]) {
  return await rawMcp(s, calls, { Authorization: `Bearer ${u.mcpToken}` });
}

Deno.test("[mcp audit flood] 100 calls refused by the budget add one counted entry, not 100 rows", async () => {
  await using s = await startTestServer({ flags: { "mcp-rate-user": "2" } });
  const u = await createMcpUser(s, { email: "mallory@example.com", role: "user" });
  for (let b = 0; b < 10; b++) {
    const calls = Array.from({ length: 10 }, (_, i) => TOOLS_CALL("identity", {}, b * 10 + i));
    const r = await batch(s, u, calls);
    assert.equal(r.status, 200, r.text.slice(0, 200));
  }
  const rows = await auditRows(s, u.workspace.id);
  // 2 calls ran; 98 were refused: one window row (two if the run straddles a window edge).
  assert.ok(rows.length <= 4, `${rows.length} rows for 100 calls`);
  const ran = rows.filter((r) => r.outcome === "success");
  const refused = rows.filter((r) => r.outcome === "rate_limited");
  assert.equal(ran.length, 2);
  assert.equal(refused.reduce((n, r) => n + r.count, 0), 98);
  // The admin sees one entry with its count, in the listing and in the export.
  const admin = await createUserWithToken(s, {
    email: "admin@example.com",
    role: "admin",
    workspace: u.workspace,
  });
  const path = `/api/v1/w/${u.workspace.sId}/audit`;
  const page = await apiJson(s, admin.token, `${path}?outcome=rate_limited`);
  assert.equal(page.body.entries.reduce((n: number, e: Json) => n + e.count, 0), 98);
  assert.equal(page.body.entries[0].tool, "identity");
  assert.equal(page.body.entries[0].credentialId, u.mcpTokenSId);
  assert.ok(page.body.entries[0].lastAt >= page.body.entries[0].createdAt);
  const res = await fetch(`${s.url}${path}?format=jsonl`, {
    headers: { Authorization: `Bearer ${admin.token}` },
  });
  const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, rows.length);
  assert.equal(lines.reduce((n, l) => n + l.count, 0), 100);
});

Deno.test("[mcp audit flood] writes refused for a missing scope are counted, not stored one by one", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const { token } = await mintOAuthToken(s, u, { scopes: ["read"] });
  for (let i = 0; i < 6; i++) {
    const r = await rawMcp(s, TOOLS_CALL("create_conversation", { title: "x" }), {
      Authorization: `Bearer ${token}`,
    });
    assert.equal(r.status, 403);
  }
  const rows = await auditRows(s, u.workspace.id);
  assert.ok(rows.length <= 2, `${rows.length} rows for 6 refusals`);
  assert.ok(rows.every((r) => r.outcome === "denied" && r.tool === "create_conversation"));
  assert.equal(rows.reduce((n, r) => n + r.count, 0), 6);
});

Deno.test("[mcp audit flood] a batch longer than --mcp-max-batch is refused whole with -32600", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "mallory@example.com", role: "user" });
  const max = s.config.mcpMaxBatch;
  const calls = (n: number) => Array.from({ length: n }, (_, i) => TOOLS_CALL("identity", {}, i));
  const over = await batch(s, u, calls(100));
  assert.equal(over.status, 400);
  const rpc = JSON.parse(over.text);
  assert.equal(rpc.jsonrpc, "2.0");
  assert.equal(rpc.id, null);
  assert.equal(rpc.error.code, -32600);
  assert.equal(rpc.error.message, `Invalid Request: Batch must not exceed ${max} messages`);
  assert.equal((await batch(s, u, calls(max + 1))).status, 400);
  // Nothing of a refused batch ran, so nothing was audited.
  assert.equal((await auditRows(s, u.workspace.id)).length, 0);
  // A batch within the bound is served as before (on the 2025-03-26 revision, which has them).
  const ok = await rawMcp(s, calls(max), {
    Authorization: `Bearer ${u.mcpToken}`,
    "MCP-Protocol-Version": "2025-03-26",
  });
  assert.equal(ok.status, 200);
  assert.equal((await auditRows(s, u.workspace.id)).length, max);
});

Deno.test("[mcp audit flood] the stored arguments of a maximum-size search call are bounded", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "mallory@example.com", role: "user" });
  const long = (c: string) => Array.from({ length: 64 }, () => c.repeat(256));
  const args = {
    query: "q".repeat(2048),
    tagsIn: long("a"),
    tagsNot: long("b"),
    nodeIds: long("c"),
  };
  const r = await rawMcp(s, TOOLS_CALL("search", args), { Authorization: `Bearer ${u.mcpToken}` });
  assert.equal(r.status, 200);
  assert.ok(rpcOf(r.text).result, r.text.slice(0, 200));
  const [row] = await auditRows(s, u.workspace.id);
  assert.ok(
    row.arguments.length <= AUDIT_MAX_ARGUMENT_CHARS,
    `${row.arguments.length} characters stored`,
  );
  const stored = JSON.parse(row.arguments);
  assert.ok(String(stored["[truncated]"]).startsWith('{"query":"qqq'));
  assert.ok(stored["[chars]"] > AUDIT_MAX_ARGUMENT_CHARS);
});

function entry(u: McpUser, at: number, tool: string): AuditEntryInput {
  return {
    at,
    workspaceId: u.workspace.id,
    userId: u.user.id,
    credentialKind: "mcp_token",
    credentialId: u.mcpTokenSId,
    clientId: null,
    tool,
    arguments: {},
    outcome: "success",
    error: null,
    latencyMs: 1,
    bytesReturned: 1,
    requestId: null,
  };
}

Deno.test("[mcp audit flood] each workspace keeps at most --audit-max-entries rows, oldest removed first", async () => {
  await using s = await startTestServer({ flags: { "audit-max-entries": "5" } });
  const a = await createMcpUser(s, { email: "a@example.com", role: "admin" });
  const b = await createMcpUser(s, { email: "b@example.com", role: "admin" });
  const t0 = Date.now() - 60_000;
  // Recorded out of order: the cap removes the oldest by time, not by arrival.
  for (const i of [3, 0, 7, 1, 6, 2, 5, 4]) {
    await recordToolCall(s.deps.db, entry(a, t0 + i, `a${i}`), 5);
  }
  for (let i = 0; i < 3; i++) await recordToolCall(s.deps.db, entry(b, t0 + i, `b${i}`), 5);
  const tools = async (u: McpUser) =>
    (await auditRows(s, u.workspace.id)).map((r) => r.tool as string).sort();
  assert.deepEqual(await tools(a), ["a3", "a4", "a5", "a6", "a7"]);
  assert.deepEqual(await tools(b), ["b0", "b1", "b2"], "another workspace's entries are untouched");
  // The figure: REST settings answer and the audit page.
  const settings = await apiJson(s, a.token, `/api/v1/w/${a.workspace.sId}/audit/settings`);
  assert.deepEqual(settings.body, { retentionDays: 90, entries: 5, maxEntries: 5 });
  const cookie = `${sessionCookieName(s.config)}=${(await createSession(s.deps.db, a.user.id)).id}`;
  const page = await fetch(`${s.url}/w/${a.workspace.sId}/audit`, { headers: { Cookie: cookie } });
  assert.match(await page.text(), /5 of at most 5 entries stored/);
  // Calls over /mcp are capped the same way, and the hourly prune enforces it too.
  for (let i = 0; i < 3; i++) {
    await rawMcp(s, TOOLS_CALL("identity"), { Authorization: `Bearer ${a.mcpToken}` });
  }
  const after = await tools(a);
  assert.equal(after.length, 5);
  assert.deepEqual(after.slice(0, 2), ["a6", "a7"]);
  assert.equal(await pruneAuditLog(s.deps.db, Date.now(), 2), 4);
  assert.equal((await auditRows(s, a.workspace.id)).length, 2);
  assert.equal((await auditRows(s, b.workspace.id)).length, 2);
});
