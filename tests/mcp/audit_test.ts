/**
 * The audit log of MCP tool calls: one entry per call with outcome, latency and bytes,
 * redacted arguments, filters and cursor over REST (admins only), JSON-lines export over
 * REST, the admin page and the CLI, and retention pruning.
 */
import assert from "node:assert/strict";
import { engineEnv, startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createPod } from "../helpers/knowledge.ts";
import { createMcpUser, type McpUser, mintOAuthToken, rawMcp, TOOLS_CALL } from "./helpers.ts";
import {
  AUDIT_MAX_STRING,
  flushAuditLog,
  pruneAuditLog,
  recordToolCall,
  redactArguments,
} from "../../src/core/audit.ts";
import { createSession } from "../../src/core/sessions.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";
import { runCli } from "../../src/cli.ts";

async function callTool(
  s: TestServer,
  token: string,
  name: string,
  args: Record<string, unknown> = {},
) {
  const r = await rawMcp(s, TOOLS_CALL(name, args), { Authorization: `Bearer ${token}` });
  assert.ok(r.status === 200 || r.status === 403, `${name}: ${r.status}`);
  return r;
}

// deno-lint-ignore no-explicit-any
type Entry = any;

async function auditPage(
  s: TestServer,
  u: McpUser,
  query = "",
): Promise<{ status: number; body: Entry }> {
  return await apiJson(s, u.token, `/api/v1/w/${u.workspace.sId}/audit${query}`);
}

Deno.test("[mcp audit] each tool call is recorded with caller, client, outcome, latency and bytes", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await callTool(s, u.mcpToken, "identity");
  await callTool(s, u.mcpToken, "get_pod", { podId: "vlt_nope" });
  const { body } = await auditPage(s, u);
  const [err, ok] = body.entries;
  assert.equal(ok.tool, "identity");
  assert.equal(ok.outcome, "success");
  assert.equal(ok.user.sId, u.user.sId);
  assert.equal(ok.credentialKind, "mcp_token");
  assert.equal(ok.credentialId, u.mcpTokenSId);
  assert.equal(ok.clientId, `mcp_token:${u.mcpTokenSId}`);
  assert.ok(ok.bytesReturned > 10 && ok.latencyMs >= 0);
  assert.equal(err.tool, "get_pod");
  assert.equal(err.outcome, "error");
  assert.equal(err.error, "Pod not found or you do not have access.");
  assert.deepEqual(err.arguments, { podId: "vlt_nope" });
});

Deno.test("[mcp audit] calls refused by argument validation and calls of unknown tools are recorded too", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  // Both dispatch paths: the fast path's headers (it declines and the SDK answers) and none.
  await callTool(s, u.mcpToken, "get_pod", { podId: 42 });
  const r = await rawMcp(s, TOOLS_CALL("get_pod", { podId: 7 }), {
    Authorization: `Bearer ${u.mcpToken}`,
    "MCP-Protocol-Version": null,
  });
  assert.equal(r.status, 200);
  await callTool(s, u.mcpToken, "no_such_tool", { x: 1 });
  const { body } = await auditPage(s, u);
  const [unknown, second, first] = body.entries;
  assert.equal(first.tool, "get_pod");
  assert.equal(first.outcome, "error");
  assert.deepEqual(first.arguments, { podId: 42 });
  assert.match(first.error, /^Input validation error: Invalid arguments for tool get_pod: podId/);
  assert.deepEqual(second.arguments, { podId: 7 });
  assert.equal(unknown.tool, "no_such_tool");
  assert.equal(unknown.outcome, "error");
  assert.equal(unknown.error, "Tool no_such_tool not found");
});

Deno.test("[mcp audit] OAuth calls record the OAuth client id and the grant", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const { token, grantSId } = await mintOAuthToken(s, u, {
    clientId: "https://claude.example/cimd.json",
  });
  await callTool(s, token, "identity");
  const { body } = await auditPage(s, u);
  assert.equal(body.entries[0].clientId, "https://claude.example/cimd.json");
  assert.equal(body.entries[0].credentialKind, "oauth");
  assert.equal(body.entries[0].credentialId, grantSId);
});

Deno.test("[mcp audit] long values are truncated and secret-looking keys are never stored", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const podId = await createPod(s, actorOf(u), "P", []);
  const content = "x".repeat(5000);
  await callTool(s, u.mcpToken, "files_create", {
    scope: { type: "pod", pod_id: podId },
    path: `pod-${podId}/a.txt`,
    content,
    content_type: "text/plain",
  });
  const { body } = await auditPage(s, u);
  const stored = body.entries[0].arguments.content as string;
  assert.equal(stored.length < 300, true);
  assert.ok(stored.startsWith("x".repeat(AUDIT_MAX_STRING)) && stored.includes("+4800 chars"));
  assert.deepEqual(
    redactArguments({
      token: "t",
      nested: { client_secret: "s", api_key: "k", ok: 1 },
      password: "p",
    }),
    {
      token: "[redacted]",
      nested: { client_secret: "[redacted]", api_key: "[redacted]", ok: 1 },
      password: "[redacted]",
    },
  );
});

Deno.test("[mcp audit] a write refused for scope is recorded as denied", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const { token } = await mintOAuthToken(s, u, { scopes: ["read"] });
  const r = await callTool(s, token, "create_conversation", { title: "x" });
  assert.equal(r.status, 403);
  const { body } = await auditPage(s, u, "?outcome=denied");
  assert.equal(body.entries.length, 1);
  assert.equal(body.entries[0].tool, "create_conversation");
});

Deno.test("[mcp audit] filters by user, tool, outcome and time, with a cursor", async () => {
  await using s = await startTestServer();
  const a = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const b = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: a.workspace,
  });
  for (let i = 0; i < 3; i++) await callTool(s, a.mcpToken, "identity");
  await callTool(s, b.mcpToken, "list_pods");
  const byUser = await auditPage(s, a, `?user=${b.user.sId}`);
  assert.deepEqual(byUser.body.entries.map((e: Entry) => e.tool), ["list_pods"]);
  const byTool = await auditPage(s, a, "?tool=identity&limit=2");
  assert.equal(byTool.body.entries.length, 2);
  assert.equal(byTool.body.hasMore, true);
  const next = await auditPage(s, a, `?tool=identity&limit=2&cursor=${byTool.body.nextCursor}`);
  assert.equal(next.body.entries.length, 1);
  assert.equal(next.body.hasMore, false);
  const future = await auditPage(s, a, `?since=${new Date(Date.now() + 60_000).toISOString()}`);
  assert.equal(future.body.entries.length, 0);
  const bad = await auditPage(s, a, "?since=yesterday-ish");
  assert.equal(bad.status, 400);
});

Deno.test("[mcp audit] only admins read the audit log; other workspaces' entries never show", async () => {
  await using s = await startTestServer();
  const a = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const b = await createMcpUser(s, {
    email: "bob@example.com",
    role: "builder",
    workspace: a.workspace,
  });
  const other = await createMcpUser(s, { email: "eve@example.com", role: "admin" });
  await callTool(s, other.mcpToken, "identity");
  const refused = await auditPage(s, b);
  assert.equal(refused.status, 403);
  const jsonl = await fetch(`${s.url}/api/v1/w/${a.workspace.sId}/audit?format=jsonl`, {
    headers: { Authorization: `Bearer ${b.token}` },
  });
  await jsonl.body?.cancel();
  assert.equal(jsonl.status, 403);
  assert.equal((await auditPage(s, a)).body.entries.length, 0);
  const cross = await apiJson(s, other.token, `/api/v1/w/${a.workspace.sId}/audit`);
  assert.ok(cross.status === 401 || cross.status === 403 || cross.status === 404);
});

Deno.test("[mcp audit] JSON-lines export over REST", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await callTool(s, u.mcpToken, "identity");
  await callTool(s, u.mcpToken, "list_pods");
  const res = await fetch(`${s.url}/api/v1/w/${u.workspace.sId}/audit?format=jsonl`, {
    headers: { Authorization: `Bearer ${u.token}` },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/x-ndjson/);
  const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.tool), ["list_pods", "identity"]);
});

Deno.test("[mcp audit] CLI audit export prints JSON lines, filtered by --since and --tool", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await callTool(s, u.mcpToken, "identity");
  await callTool(s, u.mcpToken, "list_pods");
  await flushAuditLog(s.deps.db);
  const out: string[] = [];
  const io = {
    out: (l: string) => out.push(l),
    err: () => {},
    readStdin: () => Promise.resolve(""),
  };
  const base = ["audit", "export", "--workspace", u.workspace.sId, "--data-dir", s.dataDir];
  assert.equal(
    await runCli([...base, "--tool", "identity"], io, await engineEnv(s.dataDir)),
    0,
  );
  assert.deepEqual(out.map((l) => JSON.parse(l).tool), ["identity"]);
  out.length = 0;
  assert.equal(
    await runCli(
      [...base, "--since", String(Date.now() + 60_000)],
      io,
      await engineEnv(s.dataDir),
    ),
    0,
  );
  assert.deepEqual(out, []);
  assert.equal(
    await runCli([...base, "--since", "not-a-date"], io, await engineEnv(s.dataDir)),
    2,
  );
});

Deno.test("[mcp audit] the admin page lists and filters entries; non-admins get 403", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const member = await createUserWithToken(s, {
    email: "m@example.com",
    role: "user",
    workspace: u.workspace,
  });
  await callTool(s, u.mcpToken, "identity");
  await callTool(s, u.mcpToken, "list_pods");
  const cookie = async (userId: number) =>
    `${sessionCookieName(s.config)}=${(await createSession(s.deps.db, userId)).id}`;
  const page = await fetch(`${s.url}/w/${u.workspace.sId}/audit?tool=list_pods`, {
    headers: { Cookie: await cookie(u.user.id) },
  });
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.ok(html.includes("list_pods") && !html.includes(">identity<"));
  assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  const exp = await fetch(`${s.url}/w/${u.workspace.sId}/audit/export.jsonl`, {
    headers: { Cookie: await cookie(u.user.id) },
  });
  assert.equal((await exp.text()).trim().split("\n").length, 2);
  const denied = await fetch(`${s.url}/w/${u.workspace.sId}/audit`, {
    headers: { Cookie: await cookie(member.user.id) },
  });
  await denied.body?.cancel();
  assert.equal(denied.status, 403);
  const anon = await fetch(`${s.url}/w/${u.workspace.sId}/audit`, { redirect: "manual" });
  await anon.body?.cancel();
  assert.equal(anon.status, 303, "signed-out visitors go to sign-in");
});

Deno.test("[mcp audit] entries older than the workspace retention are pruned", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await s.deps.db.run(
    "UPDATE workspaces SET audit_retention_days = 1 WHERE id = ?",
    u.workspace.id,
  );
  const entry = async (at: number, tool: string) =>
    await recordToolCall(s.deps.db, {
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
    });
  await entry(Date.now() - 2 * 86_400_000, "old");
  await entry(Date.now(), "recent");
  assert.equal(await pruneAuditLog(s.deps.db), 1);
  const { body } = await auditPage(s, u);
  assert.deepEqual(body.entries.map((e: Entry) => e.tool), ["recent"]);
});

Deno.test("[mcp audit] admins set the retention over REST and older entries go at once; members get 403", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const member = await createUserWithToken(s, {
    email: "m@example.com",
    role: "user",
    workspace: u.workspace,
  });
  const path = `/api/v1/w/${u.workspace.sId}/audit/settings`;
  const cap = s.config.auditMaxEntries;
  assert.deepEqual((await apiJson(s, u.token, path)).body, {
    retentionDays: 90,
    entries: 0,
    maxEntries: cap,
  });
  await recordToolCall(s.deps.db, {
    at: Date.now() - 3 * 86_400_000,
    workspaceId: u.workspace.id,
    userId: u.user.id,
    credentialKind: "mcp_token",
    credentialId: u.mcpTokenSId,
    clientId: null,
    tool: "three_days_old",
    arguments: {},
    outcome: "success",
    error: null,
    latencyMs: 1,
    bytesReturned: 1,
    requestId: null,
  });
  await callTool(s, u.mcpToken, "identity");
  const set = await apiJson(s, u.token, path, { method: "PATCH", body: { retentionDays: 2 } });
  assert.equal(set.status, 200);
  assert.deepEqual(set.body, { retentionDays: 2, entries: 1, maxEntries: cap });
  assert.deepEqual((await auditPage(s, u)).body.entries.map((e: Entry) => e.tool), ["identity"]);
  for (const bad of [0, 3651, 1.5, "7"]) {
    const r = await apiJson(s, u.token, path, { method: "PATCH", body: { retentionDays: bad } });
    assert.equal(r.status, 400, `retentionDays ${bad}`);
    assert.equal(r.body.error.type, "invalid_request_error");
  }
  const byMember = await apiJson(s, member.token, path, {
    method: "PATCH",
    body: { retentionDays: 1 },
  });
  assert.equal(byMember.status, 403);
  assert.equal((await apiJson(s, member.token, path)).status, 403);
  assert.deepEqual((await apiJson(s, u.token, path)).body, {
    retentionDays: 2,
    entries: 1,
    maxEntries: cap,
  });
});

Deno.test("[mcp audit] the admin page's retention form saves with the CSRF token, refuses without it", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const session = await createSession(s.deps.db, u.user.id);
  const headers = {
    Cookie: `${sessionCookieName(s.config)}=${session.id}`,
    Origin: s.config.publicUrl,
    "Content-Type": "application/x-www-form-urlencoded",
  };
  const post = async (body: string) => {
    const r = await fetch(`${s.url}/w/${u.workspace.sId}/audit/retention`, {
      method: "POST",
      headers,
      body,
    });
    return { status: r.status, html: await r.text() };
  };
  const page = await fetch(`${s.url}/w/${u.workspace.sId}/audit`, { headers });
  assert.match(await page.text(), /name="retentionDays"[^>]*value="90"/);
  const forged = await post("retentionDays=1");
  assert.equal(forged.status, 403);
  const ok = await post(`csrf=${encodeURIComponent(session.csrf)}&retentionDays=30`);
  assert.equal(ok.status, 200);
  assert.match(ok.html, /Entries are kept for 30 days/);
  const row = await s.deps.db.get(
    "SELECT audit_retention_days AS d FROM workspaces WHERE id = ?",
    u.workspace.id,
  ) as { d: number };
  assert.equal(row.d, 30);
  const bad = await post(`csrf=${encodeURIComponent(session.csrf)}&retentionDays=0`);
  assert.equal(bad.status, 400);
  assert.match(bad.html, /between 1 and 3650/);
});
