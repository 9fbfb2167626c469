import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

Deno.test("[api/groups] admins create a group and grant it a restricted space; its members then read it", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const user = await createUserWithToken(server, {
    email: "user@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const base = `/api/v1/w/${admin.workspace.sId}`;
  const space = await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "regular", name: "Legal", restricted: true },
  });
  const before = await apiJson(server, user.token, `${base}/spaces`);
  assert.ok(!before.body.spaces.some((s: { name: string }) => s.name === "Legal"));
  const group = await apiJson(server, admin.token, `${base}/groups`, {
    method: "POST",
    body: { name: "Lawyers", members: [user.user.sId] },
  });
  assert.equal(group.status, 200);
  assert.ok(group.body.group.sId.startsWith("grp_"));
  assert.equal(group.body.group.memberCount, 1);
  const grant = await apiJson(
    server,
    admin.token,
    `${base}/spaces/${space.body.space.sId}/groups`,
    {
      method: "POST",
      body: { groupId: group.body.group.sId },
    },
  );
  assert.deepEqual(grant.body, { success: true });
  const after = await apiJson(server, user.token, `${base}/spaces`);
  const legal = after.body.spaces.find((s: { name: string }) => s.name === "Legal");
  assert.ok(legal);
  assert.deepEqual(legal.groupIds, [group.body.group.sId]);
  const list = await apiJson(server, admin.token, `${base}/groups`);
  assert.deepEqual(list.body.groups.map((g: { name: string }) => g.name), ["Lawyers", "Workspace"]);
});

Deno.test("[api/groups] non-admins and API keys cannot manage groups (403)", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const builder = await createUserWithToken(server, {
    email: "builder@example.com",
    role: "builder",
    workspace: admin.workspace,
  });
  const base = `/api/v1/w/${admin.workspace.sId}`;
  for (const token of [builder.token, await createApiKey(server, admin.workspace)]) {
    assert.equal((await apiJson(server, token, `${base}/groups`)).status, 403);
    const r = await apiJson(server, token, `${base}/groups`, {
      method: "POST",
      body: { name: "x" },
    });
    assert.equal(r.status, 403);
  }
});

Deno.test("[api/groups] bad inputs: empty name, unknown member, unknown group, Pod grant", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const stranger = await createUserWithToken(server, { email: "s@example.com", role: "admin" });
  const base = `/api/v1/w/${admin.workspace.sId}`;
  const empty = await apiJson(server, admin.token, `${base}/groups`, { method: "POST", body: {} });
  assert.equal(empty.status, 400);
  assert.match(empty.body.error.message, /^name:/);
  const foreign = await apiJson(server, admin.token, `${base}/groups`, {
    method: "POST",
    body: { name: "x", members: [stranger.user.sId] },
  });
  assert.equal(foreign.status, 404, "a user of another workspace is not found");
  assert.equal(foreign.body.error.type, "workspace_user_not_found");
  const spaces = await apiJson(server, admin.token, `${base}/spaces`);
  const global = spaces.body.spaces.find((s: { kind: string }) => s.kind === "global");
  const noGroup = await apiJson(server, admin.token, `${base}/spaces/${global.sId}/groups`, {
    method: "POST",
    body: { groupId: "grp_nope" },
  });
  assert.equal(noGroup.status, 404);
  assert.equal(noGroup.body.error.type, "group_not_found");
  const pod = await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "P" },
  });
  const g = await apiJson(server, admin.token, `${base}/groups`, {
    method: "POST",
    body: { name: "G" },
  });
  const podGrant = await apiJson(
    server,
    admin.token,
    `${base}/spaces/${pod.body.space.sId}/groups`,
    {
      method: "POST",
      body: { groupId: g.body.group.sId },
    },
  );
  assert.equal(podGrant.status, 400, "Pods are member-only");
});
