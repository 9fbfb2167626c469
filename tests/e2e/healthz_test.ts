import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";

Deno.test("[server] /healthz answers ok with the region and version", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/healthz`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.equal(body.status, "ok");
  assert.equal(body.region, "us-central1");
  assert.equal(typeof body.version, "string");
  assert.ok(res.headers.get("x-request-id"));
});

Deno.test("[server] an unknown route answers Dust's error envelope with 404", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/no/such/route`);
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.error.type, "not_found");
  assert.equal(typeof body.error.message, "string");
});

Deno.test("[server] a served path called with another method answers 405 method_not_supported_error with Allow", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const w = `/api/v1/w/${alice.workspace.sId}`;
  const headers = { Authorization: `Bearer ${alice.token}` };
  for (
    const [method, path, allow] of [
      ["DELETE", `${w}/spaces`, "GET, POST"],
      ["PUT", `${w}/files/fil_x`, "DELETE, GET, POST"],
      ["POST", "/healthz", "GET"],
    ]
  ) {
    const res = await fetch(`${server.url}${path}`, { method, headers });
    const body = await res.json();
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
    assert.equal(body.error.type, "method_not_supported_error");
  }
  const unknown = await fetch(`${server.url}${w}/nothing`, { method: "DELETE", headers });
  await unknown.body?.cancel();
  assert.equal(unknown.status, 404, "a path nobody serves stays a 404");
});
