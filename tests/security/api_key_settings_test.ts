/**
 * Issue 10, finding 6: an API key changed the audit retention (`PATCH …/audit/settings`) and
 * could so wipe the history of what it did, while the documentation says admins only. Workspace
 * settings are one rule (access.ts `requireWorkspaceAdmin`): a user with the admin role, never
 * an API key. The second test walks every admin-only setting route with a key.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { flushAuditLog, recordToolCall } from "../../src/core/audit.ts";
import type { UserWithToken } from "../helpers/fixtures.ts";
import { mapSeries } from "../../src/util/async.ts";

async function oldEntry(s: TestServer, u: UserWithToken): Promise<void> {
  await recordToolCall(s.deps.db, {
    at: Date.now() - 3 * 86_400_000,
    workspaceId: u.workspace.id,
    userId: u.user.id,
    credentialKind: "mcp_token",
    credentialId: "dmcp_x",
    clientId: null,
    tool: "three_days_old",
    arguments: {},
    outcome: "success",
    error: null,
    latencyMs: 1,
    bytesReturned: 1,
    requestId: null,
  });
  await flushAuditLog(s.deps.db);
}

Deno.test("[security] an API key cannot change the audit retention: 403 in the REST envelope, nothing pruned", async () => {
  await using s = await startTestServer();
  const admin = await createUserWithToken(s, { email: "admin@example.com", role: "admin" });
  const key = await createApiKey(s, admin.workspace);
  await oldEntry(s, admin);
  const path = `/api/v1/w/${admin.workspace.sId}/audit/settings`;
  const r = await apiJson(s, key, path, { method: "PATCH", body: { retentionDays: 1 } });
  assert.equal(r.status, 403);
  assert.equal(r.body.error.type, "workspace_auth_error");
  assert.match(r.body.error.message, /workspace admins/);
  const row = await s.deps.db.get(
    "SELECT audit_retention_days AS d FROM workspaces WHERE id = ?",
    admin.workspace.id,
  ) as { d: number };
  assert.equal(row.d, 90);
  const log = await apiJson(s, admin.token, `/api/v1/w/${admin.workspace.sId}/audit`);
  assert.deepEqual(log.body.entries.map((e: { tool: string }) => e.tool), ["three_days_old"]);
  // Reading stays open to keys, as documented (the log and its settings).
  assert.equal((await apiJson(s, key, path)).status, 200);
  // The admin's own token still sets it.
  const ok = await apiJson(s, admin.token, path, { method: "PATCH", body: { retentionDays: 30 } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.retentionDays, 30);
});

Deno.test("[security] every admin-only workspace setting refuses an API key and changes nothing", async () => {
  await using s = await startTestServer();
  const admin = await createUserWithToken(s, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(s, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const key = await createApiKey(s, admin.workspace);
  const w = `/api/v1/w/${admin.workspace.sId}`;
  const space = await apiJson(s, admin.token, `${w}/spaces`, {
    method: "POST",
    body: { kind: "regular", name: "Open", members: [member.user.sId] },
  });
  assert.equal(space.status, 200, JSON.stringify(space.body));
  const spaceId = space.body.space.sId as string;
  const group = await apiJson(s, admin.token, `${w}/groups`, {
    method: "POST",
    body: { name: "Team" },
  });
  const keys = await apiJson(s, admin.token, `${w}/api_keys`, {
    method: "POST",
    body: { name: "kept" },
  });
  const snapshot = async () =>
    JSON.stringify(
      await mapSeries([
        "SELECT audit_retention_days, mcp_enabled, redirect_policy FROM workspaces",
        "SELECT s_id, name FROM spaces ORDER BY id",
        "SELECT COUNT(*) FROM groups",
        "SELECT COUNT(*) FROM space_groups",
        "SELECT COUNT(*) FROM space_members",
        "SELECT s_id, revoked_at FROM api_keys ORDER BY id",
      ], async (sql) => await s.deps.db.all(sql)),
    );
  const before = await snapshot();
  // Refused as a non-admin (403), or as a route that needs a user at all (401 user_not_found).
  const ADMIN = [403, "workspace_auth_error"] as const;
  const USER = [401, "user_not_found"] as const;
  const routes: [string, string, unknown, readonly [number, string]][] = [
    ["PATCH", `${w}/audit/settings`, { retentionDays: 1 }, ADMIN],
    ["POST", `${w}/api_keys`, { name: "minted by a key" }, ADMIN],
    ["DELETE", `${w}/api_keys/${keys.body.key.sId}`, undefined, ADMIN],
    ["POST", `${w}/groups`, { name: "by key" }, ADMIN],
    ["POST", `${w}/spaces`, { kind: "regular", name: "by key" }, ADMIN],
    ["POST", `${w}/spaces/${spaceId}/groups`, { groupId: group.body.group.sId }, ADMIN],
    ["POST", `${w}/spaces/${spaceId}/members`, { userId: admin.user.sId }, USER],
    ["DELETE", `${w}/spaces/${spaceId}/members/${member.user.sId}`, undefined, USER],
  ];
  for (const [method, path, body, [status, type]] of routes) {
    const r = await apiJson(s, key, path, { method, ...(body ? { body } : {}) });
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.type, type, `${method} ${path}`);
  }
  assert.equal(await snapshot(), before);
});
