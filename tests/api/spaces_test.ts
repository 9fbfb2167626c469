import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

async function setup() {
  const server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const builder = await createUserWithToken(server, {
    email: "builder@example.com",
    role: "builder",
    workspace: admin.workspace,
  });
  const user = await createUserWithToken(server, {
    email: "user@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const base = `/api/v1/w/${admin.workspace.sId}`;
  return { server, admin, builder, user, base };
}

Deno.test("[api/spaces] list defaults to global, regular and readable system spaces, never Pods", async () => {
  const { server, admin, builder, user, base } = await setup();
  await using _ = server;
  const pod = await apiJson(server, builder.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Launch" },
  });
  assert.equal(pod.status, 200);
  assert.equal(pod.body.space.kind, "project");
  assert.equal(pod.body.space.isRestricted, true);

  const asAdmin = await apiJson(server, admin.token, `${base}/spaces`);
  assert.equal(asAdmin.status, 200);
  assert.deepEqual(asAdmin.body.spaces.map((s: { kind: string }) => s.kind).sort(), [
    "global",
    "system",
  ]);
  const asUser = await apiJson(server, user.token, `${base}/spaces`);
  assert.deepEqual(asUser.body.spaces.map((s: { kind: string }) => s.kind), ["global"]);
  const g = asUser.body.spaces[0];
  assert.equal(typeof g.sId, "string");
  assert.ok(g.sId.startsWith("vlt_"));
  assert.equal(typeof g.createdAt, "number");
  assert.ok(Array.isArray(g.groupIds));
});

Deno.test("[api/spaces] kinds=project lists only the Pods the caller is a member of", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  await apiJson(server, builder.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Secret Pod" },
  });
  const mine = await apiJson(server, builder.token, `${base}/spaces?kinds=project`);
  assert.deepEqual(mine.body.spaces.map((s: { name: string }) => s.name), ["Secret Pod"]);
  const theirs = await apiJson(server, user.token, `${base}/spaces?kinds=project`);
  assert.deepEqual(theirs.body.spaces, []);
});

Deno.test("[api/spaces] an unknown kind answers 400 naming the kinds field", async () => {
  const { server, user, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, user.token, `${base}/spaces?kinds=global,bogus`);
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "invalid_request_error");
  assert.match(r.body.error.message, /^kinds/);
});

Deno.test("[api/spaces] an API key lists global and open regular spaces only", async () => {
  const { server, admin, base } = await setup();
  await using _ = server;
  await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "regular", name: "Open", restricted: false },
  });
  await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "regular", name: "Closed", restricted: true },
  });
  const key = await createApiKey(server, admin.workspace);
  const r = await apiJson(server, key, `${base}/spaces?kinds=global,regular,system,project`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.spaces.map((s: { name: string }) => s.name).sort(), [
    "Company Data",
    "Open",
  ]);
});

Deno.test("[api/spaces] a plain user cannot create a regular space or a Pod (403)", async () => {
  const { server, user, base } = await setup();
  await using _ = server;
  for (const kind of ["regular", "project"]) {
    const r = await apiJson(server, user.token, `${base}/spaces`, {
      method: "POST",
      body: { kind, name: `x-${kind}` },
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.type, "workspace_auth_error");
  }
});

Deno.test("[api/spaces] creating a space with a bad body answers 400 naming the field", async () => {
  const { server, admin, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "galaxy", name: "x" },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /^kind:/);
  const noName = await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "regular" },
  });
  assert.equal(noName.status, 400);
  assert.match(noName.body.error.message, /^name:/);
});

Deno.test("[api/spaces] malformed JSON answers 400 invalid_request_error", async () => {
  const { server, admin, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, admin.token, `${base}/spaces`, {
    method: "POST",
    rawBody: "{not json",
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "invalid_request_error");
  assert.match(r.body.error.message, /malformed JSON/);
});

Deno.test("[api/spaces] a duplicate space name answers 400 space_already_exists", async () => {
  const { server, admin, base } = await setup();
  await using _ = server;
  const body = { kind: "regular", name: "Dupe" };
  assert.equal(
    (await apiJson(server, admin.token, `${base}/spaces`, { method: "POST", body })).status,
    200,
  );
  const r = await apiJson(server, admin.token, `${base}/spaces`, { method: "POST", body });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "space_already_exists");
});

Deno.test("[api/spaces] Pod editors add members; members then see the Pod", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  const pod = await apiJson(server, builder.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Team Pod" },
  });
  const podId = pod.body.space.sId;
  const denied = await apiJson(server, user.token, `${base}/spaces/${podId}/members`, {
    method: "POST",
    body: { userId: user.user.sId },
  });
  assert.equal(denied.status, 404, "a restricted Pod is not found for a non-member");
  const added = await apiJson(server, builder.token, `${base}/spaces/${podId}/members`, {
    method: "POST",
    body: { userId: user.user.sId },
  });
  assert.equal(added.status, 200);
  assert.deepEqual(
    added.body.members.map((m: { email: string; role: string }) => `${m.email}:${m.role}`),
    ["builder@example.com:editor", "user@example.com:member"],
  );
  const seen = await apiJson(server, user.token, `${base}/spaces?kinds=project`);
  assert.deepEqual(seen.body.spaces.map((s: { sId: string }) => s.sId), [podId]);
  const left = await apiJson(
    server,
    user.token,
    `${base}/spaces/${podId}/members/${user.user.sId}`,
    {
      method: "DELETE",
    },
  );
  assert.equal(left.status, 200);
  const gone = await apiJson(server, user.token, `${base}/spaces?kinds=project`);
  assert.deepEqual(gone.body.spaces, []);
});

Deno.test("[api/spaces] any member may join an open Pod themselves", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  const pod = await apiJson(server, builder.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Open Pod", restricted: false },
  });
  const podId = pod.body.space.sId;
  const joined = await apiJson(server, user.token, `${base}/spaces/${podId}/members`, {
    method: "POST",
    body: { userId: user.user.sId },
  });
  assert.equal(joined.status, 200);
  const asEditor = await apiJson(server, user.token, `${base}/spaces/${podId}/members`, {
    method: "POST",
    body: { userId: user.user.sId, role: "editor" },
  });
  assert.equal(asEditor.status, 403, "members cannot promote themselves");
});
