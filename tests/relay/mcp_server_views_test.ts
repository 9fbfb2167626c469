/**
 * `GET spaces/{spaceId}/mcp_server_views` (seed 001, dust.md §3.10) and seed 001 in the
 * OpenAPI document.
 */
import assert from "node:assert/strict";
import yaml from "yaml";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor } from "../helpers/local_mcp.ts";

async function spaceOfKind(
  server: { deps: { db: import("../../src/db/db.ts").Db } },
  workspaceId: number,
  kind: string,
) {
  return (await server.deps.db.get(
    "SELECT s_id FROM spaces WHERE workspace_id = ? AND kind = ?",
    workspaceId,
    kind,
  ) as { s_id: string }).s_id;
}

Deno.test("[relay] mcp_server_views lists the internal search and files views of the global space with includeAuto", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const global = await spaceOfKind(server, alice.workspace.id, "global");
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const withAuto = await api.getMCPServerViews(global, true);
  assert.ok(withAuto.isOk(), JSON.stringify(withAuto));
  const views = withAuto.value;
  assert.deepEqual(views.map((v) => v.server.name).sort(), ["files", "search"]);
  for (const v of views) {
    assert.match(v.sId, /^msv_/);
    assert.equal(v.spaceId, global);
    assert.equal(v.serverType, "internal");
    assert.equal(v.server.availability, "auto");
  }
  const files = views.find((v) => v.server.name === "files")!;
  assert.deepEqual(files.server.tools.map((t) => t.name), [
    "files_list",
    "files_cat",
    "files_create",
    "files_grep",
  ]);
  const manualOnly = await api.getMCPServerViews(global, false);
  assert.ok(manualOnly.isOk());
  assert.deepEqual(manualOnly.value, []);
});

Deno.test("[relay] mcp_server_views: 404 for an unreadable space, 400 bad includeAuto, 401, 405", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const w = alice.workspace.sId;
  const system = await spaceOfKind(server, alice.workspace.id, "system");
  const global = await spaceOfKind(server, alice.workspace.id, "global");
  const hidden = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${w}/spaces/${system}/mcp_server_views`,
  );
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body.error.type, "space_not_found");
  const unknown = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${w}/spaces/vlt_nope/mcp_server_views`,
  );
  assert.equal(unknown.status, 404);
  const bad = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${w}/spaces/${global}/mcp_server_views?includeAuto=yes`,
  );
  assert.equal(bad.status, 400);
  const anon = await apiJson(server, null, `/api/v1/w/${w}/spaces/${global}/mcp_server_views`);
  assert.equal(anon.status, 401);
  const post = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${w}/spaces/${global}/mcp_server_views`,
    {
      method: "POST",
      body: {},
    },
  );
  assert.equal(post.status, 405);
  assert.equal(post.body.error.type, "method_not_supported_error");
  const otherWs = await apiJson(
    server,
    alice.token,
    `/api/v1/w/nope/spaces/${global}/mcp_server_views`,
  );
  assert.equal(otherWs.status, 404);
});

Deno.test("[relay] the OpenAPI document includes seed 001's paths and schemas unchanged", async () => {
  await using server = await startTestServer();
  const seedText = await Deno.readTextFile(
    new URL("../../../shared/seeds/001_8fd4c8e74d13a2d2.txt", import.meta.url),
  ).catch(() => null);
  const res = await apiJson(server, null, "/api/v1/openapi.json");
  assert.equal(res.status, 200);
  const doc = res.body;
  const paths = [
    "/api/v1/w/{wId}/mcp/heartbeat",
    "/api/v1/w/{wId}/mcp/register",
    "/api/v1/w/{wId}/mcp/requests",
    "/api/v1/w/{wId}/mcp/results",
    "/api/v1/w/{wId}/spaces/{spaceId}/mcp_server_views",
  ];
  for (const p of paths) assert.ok(doc.paths[p], p);
  assert.ok(doc.components.schemas.MCPServerView);
  assert.ok(doc.components.securitySchemes.BearerAuth);
  if (seedText !== null) {
    const seed = yaml.parse(seedText.slice(seedText.indexOf("openapi: 3.0.0")));
    for (const p of paths) assert.deepEqual(doc.paths[p], seed.paths[p], p);
    assert.deepEqual(doc.components.schemas.MCPServerView, seed.components.schemas.MCPServerView);
  }
});
