import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createUser } from "../../src/core/users.ts";

const VALID = {
  name: "Grace Hopper",
  email: "grace@example.com",
  password: "a long enough password",
  workspace: "Compilers",
};

function tokenOf(server: TestServer): string {
  assert.ok(server.setupUrl, "a first start has a setup link");
  return new URL(server.setupUrl).searchParams.get("token")!;
}

async function postSetup(server: TestServer, fields: Record<string, string>) {
  const res = await fetch(`${server.url}/setup`, {
    method: "POST",
    body: new URLSearchParams(fields),
  });
  return { status: res.status, headers: res.headers, html: await res.text() };
}

async function count(server: TestServer, sql: string): Promise<number> {
  return (await server.deps.db.get(sql) as { n: number }).n;
}

Deno.test("[setup] a first start returns a one-time setup link on the public URL", async () => {
  await using server = await startTestServer();
  assert.ok(server.setupUrl);
  const url = new URL(server.setupUrl);
  assert.equal(url.origin, server.config.publicUrl);
  assert.equal(url.pathname, "/setup");
  assert.match(url.searchParams.get("token") ?? "", /^.{32,}$/, "an unguessable token");
});

Deno.test("[setup] GET with the link shows the form, unframeable and uncached", async () => {
  await using server = await startTestServer();
  const res = await fetch(server.setupUrl!.replace(server.config.publicUrl, server.url));
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<form method="post" action="\/setup">/);
  assert.ok(html.includes(`name="token" value="${tokenOf(server)}"`));
  for (const field of ["name", "email", "password", "workspace"]) {
    assert.ok(html.includes(`name="${field}"`), field);
  }
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  assert.equal(res.headers.get("cache-control"), "no-store");
});

Deno.test("[setup] the setup token never reaches the logs", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/setup?token=${tokenOf(server)}`);
  await res.body?.cancel();
  assert.ok(server.logs.some((l) => l.includes("/setup?token=REDACTED")));
  assert.ok(!server.logs.some((l) => l.includes(tokenOf(server))));
});

Deno.test("[setup] a wrong or missing token answers 410", async () => {
  await using server = await startTestServer();
  for (const path of ["/setup", "/setup?token=guess"]) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, 410, path);
    assert.match(await res.text(), /already been used or is not valid/);
  }
  const post = await postSetup(server, { ...VALID, token: "guess" });
  assert.equal(post.status, 410);
  assert.equal(await count(server, "SELECT count(*) AS n FROM users"), 0);
});

Deno.test("[setup] bad input shows a clear error, keeps the answers and the link valid", async () => {
  await using server = await startTestServer();
  const token = tokenOf(server);
  const cases: [Record<string, string>, RegExp][] = [
    [{ password: "short" }, /password: must be at least 8 characters/],
    [{ email: "not an email" }, /is not a valid email address/],
    [{ name: "   " }, /name: must be 1 to 255 characters/],
    [{ workspace: "" }, /name: must be 1 to 255 characters/],
  ];
  for (const [bad, message] of cases) {
    const res = await postSetup(server, { ...VALID, token, ...bad });
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.match(res.html, message);
    assert.match(res.html, /role="alert"/);
    assert.ok(res.html.includes(`name="token" value="${token}"`), "the form keeps the link");
    if (!("workspace" in bad)) {
      assert.ok(res.html.includes(`value="${VALID.workspace}"`), "keeps input");
    }
    assert.equal(await count(server, "SELECT count(*) AS n FROM users"), 0, "nothing half-created");
    assert.equal(await count(server, "SELECT count(*) AS n FROM workspaces"), 0);
  }
  const again = await fetch(`${server.url}/setup?token=${token}`);
  await again.body?.cancel();
  assert.equal(again.status, 200, "the link still works after bad input");
});

Deno.test("[setup] a valid form creates the instance admin, the workspace and its defaults", async () => {
  await using server = await startTestServer();
  const res = await postSetup(server, { ...VALID, token: tokenOf(server) });
  assert.equal(res.status, 201);
  assert.match(res.html, /grace@example\.com/);
  assert.ok(res.html.includes(`${server.config.publicUrl}/mcp`), "names the MCP URL");
  const db = server.deps.db;
  const user = await db.get(
    "SELECT id, is_instance_admin FROM users WHERE email = ?",
    VALID.email,
  ) as { id: number; is_instance_admin: number };
  assert.equal(user.is_instance_admin, 1);
  const ws = await db.get("SELECT id, s_id FROM workspaces WHERE name = ?", VALID.workspace) as {
    id: number;
    s_id: string;
  };
  assert.ok(res.html.includes(ws.s_id), "shows the workspace id");
  const role = await db.get(
    "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
    ws.id,
    user.id,
  ) as { role: string };
  assert.equal(role.role, "admin");
  const global = await db.get(
    "SELECT count(*) AS n FROM spaces WHERE workspace_id = ? AND kind = ?",
    ws.id,
    "global",
  ) as { n: number };
  assert.equal(global.n, 1, "the global space exists");
  const agent = await db.get(
    "SELECT scope, status FROM agent_configurations WHERE workspace_id = ? AND s_id = 'dust'",
    ws.id,
  ) as { scope: string; status: string };
  assert.deepEqual({ ...agent }, { scope: "global", status: "active" }, "the dust agent exists");
  // SQLite checks foreign keys on request; PostgreSQL never lets one be violated.
  if (db.engine === "sqlite") assert.deepEqual(await db.all("PRAGMA foreign_key_check"), []);
});

Deno.test("[setup] after setup the link answers 410 and cannot be reused", async () => {
  await using server = await startTestServer();
  const token = tokenOf(server);
  const done = await postSetup(server, { ...VALID, token });
  assert.equal(done.status, 201);
  const get = await fetch(`${server.url}/setup?token=${token}`);
  await get.body?.cancel();
  assert.equal(get.status, 410);
  const reuse = await postSetup(server, { ...VALID, email: "mallory@example.com", token });
  assert.equal(reuse.status, 410);
  assert.equal(await count(server, "SELECT count(*) AS n FROM users"), 1);
  assert.equal(await count(server, "SELECT count(*) AS n FROM workspaces"), 1);
});

Deno.test("[setup] with a user in the database there is no setup link", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-setup-" });
  try {
    {
      await using first = await startTestServer({ dataDir });
      assert.ok(first.setupUrl);
      await createUser(first.deps.db, {
        email: "op@example.com",
        name: "Operator",
        password: "operator password",
      });
    }
    await using second = await startTestServer({ dataDir });
    assert.equal(second.setupUrl, null);
    const res = await fetch(`${second.url}/setup`);
    await res.body?.cancel();
    assert.equal(res.status, 410);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[setup] a restart before setup replaces the link: only the newest works", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-setup-" });
  try {
    let oldToken: string;
    {
      await using first = await startTestServer({ dataDir });
      oldToken = tokenOf(first);
    }
    await using second = await startTestServer({ dataDir });
    const old = await fetch(`${second.url}/setup?token=${oldToken}`);
    await old.body?.cancel();
    assert.equal(old.status, 410);
    const fresh = await fetch(`${second.url}/setup?token=${tokenOf(second)}`);
    await fresh.body?.cancel();
    assert.equal(fresh.status, 200);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("[setup] two simultaneous submissions create exactly one admin and workspace", async () => {
  await using server = await startTestServer();
  const token = tokenOf(server);
  const results = await Promise.all([
    postSetup(server, { ...VALID, token }),
    postSetup(server, { ...VALID, email: "second@example.com", workspace: "Second", token }),
  ]);
  assert.deepEqual(results.map((r) => r.status).filter((s) => s === 201), [201]);
  assert.equal(await count(server, "SELECT count(*) AS n FROM users"), 1);
  assert.equal(await count(server, "SELECT count(*) AS n FROM workspaces"), 1);
});
