/**
 * The OAuth trace of real clients' attempts: a confidential client's whole path (register →
 * authorize → consent → token → first MCP call) is recorded once per step, with timings,
 * attached to the workspace, and holds none of the secrets the attempt used; refusals keep the
 * server's reason; a grant's first MCP call is traced once however many follow; old and excess
 * rows are pruned; only admins read it, and attempts that never reached a workspace stay
 * hidden when several workspaces share the server.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { authorizeUrl, postForm, register } from "../helpers/oauth_flow.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { userActorOf } from "../helpers/actors.ts";
import {
  listTraceAttempts,
  pruneTraces,
  recordTrace,
  TRACE_TTL_MS,
} from "../../src/core/oauth_traces.ts";
import { updateMcpSettings } from "../../src/core/workspace_settings.ts";
import { AppError } from "../../src/errors.ts";

const REDIRECT = "http://127.0.0.1:53682/callback";

async function mcpCall(server: TestServer, token: string, id: number, method: string) {
  const res = await fetch(`${server.url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${token}`,
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method,
      params: method === "initialize"
        ? {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "t", version: "1" },
        }
        : {},
    }),
  });
  await res.body?.cancel();
  return res.status;
}

async function traceRows(server: TestServer) {
  return await server.deps.db.all(
    "SELECT * FROM oauth_traces ORDER BY created_at, id",
  ) as Record<string, unknown>[];
}

/** A confidential client through the browser's consent; returns every secret it used. */
async function confidentialAttempt(server: TestServer) {
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const reg = await register(server.url, {
    client_name: "Trace client",
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "client_secret_post",
  });
  assert.equal(reg.status, 201);
  const { client_id: clientId, client_secret: secret } = reg.body;
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const { verifier, challenge } = pkcePair();
  const state = "state-never-stored-8d1f";
  const authorize = await browser.get(
    authorizeUrl(server.url, { clientId, challenge, state, redirectUri: REDIRECT }),
  );
  const requestId = new URL(authorize.location!, server.url).searchParams.get("request")!;
  const callback = await browser.approve(
    authorizeUrl(server.url, { clientId, challenge, state, redirectUri: REDIRECT }),
    { workspace: alice.workspace.sId },
  );
  const code = callback.searchParams.get("code")!;
  const token = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: clientId,
    client_secret: secret,
  });
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const access = token.body.access_token as string;
  for (let i = 1; i <= 3; i++) assert.equal(await mcpCall(server, access, i, "tools/list"), 200);
  const refreshed = await postForm(`${server.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: token.body.refresh_token,
    client_id: clientId,
    client_secret: secret,
  });
  assert.equal(refreshed.status, 200);
  assert.equal(await mcpCall(server, refreshed.body.access_token, 9, "tools/list"), 200);
  const secrets = {
    secret,
    code,
    verifier,
    state,
    requestId,
    access,
    refresh: token.body.refresh_token as string,
    access2: refreshed.body.access_token as string,
    refresh2: refreshed.body.refresh_token as string,
  };
  return { alice, clientId, secrets };
}

Deno.test("trace: a real attempt is traced step by step, attached to its workspace, and holds no secret", async () => {
  await using server = await startTestServer();
  const { alice, clientId, secrets } = await confidentialAttempt(server);
  const rows = await traceRows(server);
  assert.deepEqual(
    rows.map((r) => r.step),
    ["register", "authorize", "authorize", "consent", "token", "mcp", "token"],
  );
  assert.ok(rows.every((r) => Number(r.ok) === 1), JSON.stringify(rows));
  assert.ok(rows.every((r) => r.client_id === clientId));
  // The registration and authorization were attached to the workspace the attempt reached.
  assert.ok(rows.every((r) => Number(r.workspace_id) === alice.workspace.id));
  assert.ok(rows.every((r) => Number(r.duration_ms) >= 0));
  // Three calls with the first token and one with the refreshed one: one first call traced.
  assert.equal(rows.filter((r) => r.step === "mcp").length, 1);
  const dump = JSON.stringify(rows);
  for (const [name, value] of Object.entries(secrets)) {
    assert.ok(typeof value === "string" && value.length >= 16, name);
    assert.ok(!dump.includes(value), `the trace holds the ${name}`);
  }
  const admin = await userActorOf(server, {
    user: alice.user,
    workspace: alice.workspace,
    role: "admin",
    token: "",
  });
  const view = await listTraceAttempts(server.deps.db, admin);
  assert.equal(view.attempts.length, 1);
  assert.equal(view.attempts[0].clientName, "Trace client");
  assert.deepEqual(view.attempts[0].steps.map((s) => s.step), rows.map((r) => r.step));
});

Deno.test("trace: refusals keep the server's reason (bad verifier, MCP switched off)", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const reg = await register(server.url, {
    client_name: "Refused client",
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
  });
  const clientId = reg.body.client_id as string;
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const { verifier, challenge } = pkcePair();
  const code = (await browser.approve(authorizeUrl(server.url, { clientId, challenge }), {
    workspace: alice.workspace.sId,
  })).searchParams.get("code")!;
  const wrong = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT,
    code_verifier: "x".repeat(43),
    client_id: clientId,
  });
  assert.equal(wrong.status, 400);
  const good = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: clientId,
  });
  assert.equal(good.status, 200);
  const actor = await userActorOf(server, {
    user: alice.user,
    workspace: alice.workspace,
    role: "admin",
    token: "",
  });
  await updateMcpSettings(server.deps.db, actor, {
    mcpEnabled: false,
    redirectPolicy: "all",
    allowedRedirectUris: [],
    allowTokenInUrl: false,
  });
  assert.equal(await mcpCall(server, good.body.access_token, 1, "tools/list"), 403);
  const rows = await traceRows(server);
  const refusedToken = rows.find((r) => r.step === "token" && Number(r.ok) === 0)!;
  assert.match(String(refusedToken.reason), /invalid_grant: code_verifier does not match/);
  assert.equal(Number(refusedToken.status), 400);
  const mcp = rows.find((r) => r.step === "mcp")!;
  assert.equal(Number(mcp.ok), 0);
  assert.equal(Number(mcp.status), 403);
  assert.match(String(mcp.reason), /MCP server is disabled/);
  // An authorization request with an unregistered redirect is traced with its reason.
  const bad = await fetch(authorizeUrl(server.url, {
    clientId,
    challenge,
    redirectUri: "http://127.0.0.1:1/elsewhere",
  }));
  await bad.body?.cancel();
  const refusedAuth = (await traceRows(server)).find((r) =>
    r.step === "authorize" && Number(r.ok) === 0
  )!;
  assert.match(String(refusedAuth.reason), /redirect_uri is not registered/);
  assert.match(String(refusedAuth.detail), /redirect_uri=http:\/\/127\.0\.0\.1:1\/elsewhere/);
});

Deno.test("trace: rows past 24 hours and past the per-workspace bound are pruned", async () => {
  await using server = await startTestServer();
  const a = await createUserWithToken(server, { email: "a@example.com", role: "admin" });
  const db = server.deps.db;
  const now = Date.now();
  const row = (at: number, workspaceId: number | null) =>
    recordTrace(db, {
      step: "register",
      clientId: "dcr_x",
      workspaceId,
      ok: true,
      status: 201,
      durationMs: 1,
    }, at);
  for (let i = 0; i < 3; i++) await row(now - TRACE_TTL_MS - 1000 * (i + 1), a.workspace.id);
  for (let i = 0; i < 8; i++) await row(now - 1000 * (i + 1), a.workspace.id);
  for (let i = 0; i < 7; i++) await row(now - 1000 * (i + 1), null);
  // (The server's own `oauth-trace-prune` job may already have removed the day-old rows.)
  await pruneTraces(db, now, 5);
  const left = await db.all(
    "SELECT workspace_id, created_at FROM oauth_traces ORDER BY created_at DESC",
  ) as { workspace_id: number | null; created_at: number }[];
  assert.ok(left.every((r) => Number(r.created_at) > now - TRACE_TTL_MS));
  const mine = left.filter((r) => r.workspace_id !== null);
  assert.equal(mine.length, 5);
  // The newest are the ones kept.
  assert.ok(mine.every((r) => Number(r.created_at) >= now - 5000));
  assert.equal(left.filter((r) => r.workspace_id === null).length, 5);
});

Deno.test("trace: admins only; attempts without a workspace stay hidden on a shared server", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "a@example.com", role: "admin" });
  const builder = await createUserWithToken(server, {
    email: "b@example.com",
    role: "builder",
    workspace: admin.workspace,
  });
  const db = server.deps.db;
  await recordTrace(db, {
    step: "authorize",
    clientId: "dcr_unattached",
    ok: false,
    status: 400,
    reason: "redirect_uri is not registered for this client.",
    durationMs: 2,
  });
  const adminActor = await userActorOf(server, admin);
  const single = await listTraceAttempts(db, adminActor);
  assert.equal(single.attempts.length, 1);
  assert.equal(single.unattributedHidden, 0);
  await assert.rejects(
    () => listTraceAttempts(db, { ...adminActor, role: "builder" }),
    (e: unknown) => e instanceof AppError && e.status === 403,
  );
  assert.equal(builder.role, "builder");
  await createUserWithToken(server, { email: "other@example.com", role: "admin" });
  const shared = await listTraceAttempts(db, adminActor);
  assert.equal(shared.attempts.length, 0);
  assert.equal(shared.unattributedHidden, 1);
});

Deno.test("trace: a token refused at /mcp (minted for the REST API) is its grant's traced first call", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const reg = await register(server.url, {
    client_name: "Wrong audience",
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
  });
  const clientId = reg.body.client_id as string;
  const browser = new BrowserHttp(server.url);
  await browser.signIn(alice.email, alice.password);
  const { verifier, challenge } = pkcePair();
  const resource = `${server.config.publicUrl}/api/v1`;
  const code = (await browser.approve(authorizeUrl(server.url, { clientId, challenge, resource }), {
    workspace: alice.workspace.sId,
  })).searchParams.get("code")!;
  const token = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: clientId,
  });
  assert.equal(token.status, 200);
  for (let i = 1; i <= 2; i++) {
    assert.equal(await mcpCall(server, token.body.access_token, i, "tools/list"), 401);
  }
  const mcp = (await traceRows(server)).filter((r) => r.step === "mcp");
  assert.equal(mcp.length, 1);
  assert.equal(Number(mcp[0].ok), 0);
  assert.equal(Number(mcp[0].status), 401);
  assert.match(String(mcp[0].reason), /invalid_token: Access token validation failed/);
  assert.equal(Number(mcp[0].workspace_id), alice.workspace.id);
});
