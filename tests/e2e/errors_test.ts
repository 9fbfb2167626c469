import assert from "node:assert/strict";
import { z } from "zod";
import { HTTPException } from "hono/http-exception";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { BODY_LIMITS, renderError } from "../../src/app.ts";
import { AppError, MAX_ERROR_MESSAGE, rateLimited } from "../../src/errors.ts";
import { OAuthError } from "../../src/core/oauth_error.ts";

Deno.test("[errors] an unexpected error answers 500, generic, with the request id; the log has the stack", async () => {
  await using server = await startTestServer();
  const err = new Error("db password is hunter2");
  const res = renderError(err, "req-abc", server.deps);
  assert.equal(res.status, 500);
  assert.equal(res.headers.get("x-request-id"), "req-abc");
  const text = await res.text();
  assert.ok(!text.includes("hunter2"), "the message is never shown");
  assert.deepEqual(JSON.parse(text), {
    error: {
      type: "internal_server_error",
      message: "Internal server error (request id req-abc).",
    },
  });
  const line = JSON.parse(server.logs.find((l) => l.includes('"unhandled error"'))!);
  assert.equal(line.level, "error");
  assert.equal(line.requestId, "req-abc");
  assert.equal(line.stack, err.stack);
});

Deno.test("[errors] an AppError is rendered in Dust's envelope with its status and extras", async () => {
  await using server = await startTestServer();
  const res = renderError(
    new AppError(409, "workspace_in_different_region", "Elsewhere.", { redirect: "https://eu" }),
    "r1",
    server.deps,
  );
  assert.equal(res.status, 409);
  assert.deepEqual(await res.json(), {
    error: { type: "workspace_in_different_region", message: "Elsewhere.", redirect: "https://eu" },
  });
  const limited = renderError(rateLimited("Slow down.", 2.5), "r2", server.deps);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "3");
  await limited.body?.cancel();
});

Deno.test("[errors] a ZodError answers 400 invalid_request_error naming the field", async () => {
  await using server = await startTestServer();
  const parsed = z.object({ title: z.string() }).safeParse({ title: 3 });
  assert.ok(!parsed.success);
  const res = renderError(parsed.error, "r", server.deps);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.type, "invalid_request_error");
  assert.match(body.error.message, /^title: /);
});

Deno.test("[errors] an HTTPException keeps its status and WWW-Authenticate header", async () => {
  await using server = await startTestServer();
  const res = renderError(
    new HTTPException(401, {
      message: "Missing token.",
      res: new Response(null, { headers: { "WWW-Authenticate": 'Bearer realm="x"' } }),
    }),
    "r",
    server.deps,
  );
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="x"');
  assert.deepEqual(await res.json(), {
    error: { type: "not_authenticated", message: "Missing token." },
  });
});

Deno.test("[errors] an oversized body answers 413 in the envelope (declared length)", async () => {
  await using server = await startTestServer();
  const big = JSON.stringify({ data: "x".repeat(BODY_LIMITS.default + 1) });
  for (const path of ["/setup", "/api/v1/w/any/assistant/conversations"]) {
    const res = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: big,
    });
    assert.equal(res.status, 413, path);
    const body = await res.json();
    assert.equal(body.error.type, "payload_too_large");
    assert.match(body.error.message, new RegExp(`larger than ${BODY_LIMITS.default} bytes`));
  }
});

Deno.test("[errors] an oversized chunked body answers 413 in the envelope", async () => {
  await using server = await startTestServer();
  const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
  const chunks = Math.ceil(BODY_LIMITS.default / chunk.length) + 2;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent++ < chunks) c.enqueue(chunk);
      else c.close();
    },
  });
  const res = await fetch(`${server.url}/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.type, "payload_too_large");
});

Deno.test("[errors] a body within the limit is accepted", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/setup`, {
    method: "POST",
    body: new URLSearchParams({ token: "x", pad: "y".repeat(BODY_LIMITS.default - 100) }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 410, "reached the handler, which refused the token");
});

Deno.test("[server] responses carry secure headers and a request id", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "abc-123" } });
  await res.body?.cancel();
  assert.equal(res.headers.get("x-request-id"), "abc-123", "a well-formed id is kept");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  const odd = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "a b<c>" } });
  await odd.body?.cancel();
  assert.match(
    odd.headers.get("x-request-id") ?? "",
    /^[A-Za-z0-9]{16}$/,
    "an odd one is replaced",
  );
  const logged = server.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
  assert.ok(logged.some((l) => l.requestId === "abc-123" && l.status === 200));
});

Deno.test("[errors] a message quoting a huge client value is bounded (REST envelope and OAuth)", async () => {
  const huge = "h".repeat(300_000);
  const app = new AppError(404, "workspace_user_not_found", `User ${huge} not found.`);
  assert.ok(app.message.length <= MAX_ERROR_MESSAGE + 20);
  assert.match(app.message, /^User h+… \(truncated\)$/);
  const oauth = new OAuthError("unsupported_grant_type", `grant_type ${huge} is not supported.`);
  assert.ok(JSON.stringify(oauth.toJSON()).length < MAX_ERROR_MESSAGE + 100);
  assert.equal(new AppError(400, "invalid_request_error", "short").message, "short");

  // Over HTTP: a 300 kB user id in a space-member add comes back bounded.
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@bound.test", role: "admin" });
  const w = `/api/v1/w/${admin.workspace.sId}`;
  const space = await apiJson(server, admin.token, `${w}/spaces`, {
    method: "POST",
    body: { kind: "regular", name: "Bounded" },
  });
  assert.equal(space.status, 200, JSON.stringify(space.body));
  const res = await apiJson(server, admin.token, `${w}/spaces/${space.body.space.sId}/members`, {
    method: "POST",
    body: { userId: huge, role: "member" },
  });
  assert.equal(res.status, 404);
  assert.equal(res.body.error.type, "workspace_user_not_found");
  assert.ok(res.body.error.message.length <= MAX_ERROR_MESSAGE + 20);
});
