import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";

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
