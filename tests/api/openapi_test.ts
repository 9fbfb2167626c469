import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { createApp } from "../../src/app.ts";
import { openApiPath } from "../../src/api/openapi.ts";

Deno.test("[api/openapi] openapi.json is OpenAPI 3.1 with this area's routes and zod-derived schemas", async () => {
  await using server = await startTestServer();
  const r = await apiJson(server, null, "/api/v1/openapi.json");
  assert.equal(r.status, 200);
  const doc = r.body;
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.servers[0].url, server.config.publicUrl);
  for (
    const [path, method] of [
      ["/api/v1/me", "get"],
      ["/api/v1/w/{wId}/assistant/agent_configurations", "get"],
      ["/api/v1/w/{wId}/assistant/agent_configurations/{sId}", "get"],
      ["/api/v1/w/{wId}/spaces", "get"],
      ["/api/v1/w/{wId}/spaces", "post"],
      ["/api/v1/w/{wId}/spaces/{spaceId}/project_metadata", "patch"],
      ["/api/v1/w/{wId}/spaces/{spaceId}/tasks/{taskId}", "delete"],
      ["/api/v1/w/{wId}/api_keys", "post"],
    ]
  ) {
    assert.ok(doc.paths[path]?.[method], `${method} ${path} is documented`);
  }
  const create = doc.paths["/api/v1/w/{wId}/spaces"].post;
  const body = create.requestBody.content["application/json"].schema;
  assert.deepEqual(body.required.sort(), ["kind", "name"]);
  assert.deepEqual(body.properties.kind.enum, ["regular", "project"]);
  assert.deepEqual(create.parameters.map((p: { name: string }) => p.name), ["wId"]);
  const list = doc.paths["/api/v1/w/{wId}/assistant/agent_configurations"].get;
  const view = list.parameters.find((p: { name: string }) => p.name === "view");
  assert.equal(view.in, "query");
  assert.ok(view.schema.enum.includes("all_unrestricted"));
  assert.ok(
    list.responses["200"].content["application/json"].schema.properties.agentConfigurations,
  );
  assert.deepEqual(doc.paths["/api/v1/me"].get.security, [{ bearer: [] }]);
});

Deno.test("[api/openapi] every /api/v1 route the app serves is in openapi.json", async () => {
  await using server = await startTestServer();
  const doc = (await apiJson(server, null, "/api/v1/openapi.json")).body;
  const served = createApp(server.deps).routes
    .filter((r) => r.method !== "ALL" && r.path.startsWith("/api/v1/"))
    .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`);
  const documented = new Set(
    Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`)
    ),
  );
  const missing = [...new Set(served)].filter((k) => !documented.has(k));
  assert.deepEqual(missing, [], "undocumented routes");
});

Deno.test("[api/openapi] every documented route is served (no 'No route' 404 with a valid token)", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const doc = (await apiJson(server, null, "/api/v1/openapi.json")).body;
  for (const [path, ops] of Object.entries(doc.paths as Record<string, object>)) {
    for (const method of Object.keys(ops)) {
      if (path.includes("/events") || path.includes("/mcp/requests")) continue; // streams
      const url = path.replace("{wId}", alice.workspace.sId).replace(/\{[^}]+\}/g, "x");
      const r = await apiJson(server, alice.token, url, {
        method: method.toUpperCase(),
        ...(method === "get" || method === "delete" ? {} : { body: {} }),
      });
      assert.notEqual(r.body?.error?.type, "not_found", `${method} ${path}`);
    }
  }
});

Deno.test("[api/openapi] the reference page lists the routes as an unframeable page with no inline script", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/api/v1/reference`);
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  // The console's one script, from the binary, with this response's nonce; nothing inline.
  const nonce = /script-src 'nonce-([^']+)'/.exec(res.headers.get("content-security-policy")!)![1];
  for (const [tag] of html.matchAll(/<script\b[^>]*>/gi)) {
    assert.match(tag, new RegExp(`src="/static/[a-z]+-[0-9a-f]{8}\\.js" nonce="${nonce}"`), tag);
  }
  assert.ok(html.includes("GET /api/v1/w/{wId}/spaces"));
  assert.ok(html.includes("openapi.json"));
});
