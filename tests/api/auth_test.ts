import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

Deno.test("[auth] no Authorization header answers 401 not_authenticated", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, null, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});

Deno.test("[auth] an unknown workspace answers 404 workspace_not_found", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, alice.token, `/api/v1/w/nosuchwork/spaces`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "workspace_not_found");
});

Deno.test("[auth] an API key of another workspace answers 401 workspace_auth_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, { email: "bob@example.com", role: "admin" });
  const key = createApiKey(server, bob.workspace);
  const r = await apiJson(server, key, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[auth] a personal token of another workspace answers 401 workspace_auth_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, { email: "bob@example.com", role: "admin" });
  const r = await apiJson(server, bob.token, `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[auth] an unknown API key answers 401 invalid_api_key_error", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, "sk-not-a-real-key", `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "invalid_api_key_error");
  assert.ok(!JSON.stringify(r.body).includes("sk-not-a-real-key"));
});

Deno.test("[auth] a garbage bearer token answers 401 not_authenticated", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const r = await apiJson(server, "garbage", `/api/v1/w/${alice.workspace.sId}/spaces`);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.type, "not_authenticated");
});
