import assert from "node:assert/strict";
import { engineEnv, startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { issueMcpToken, MCP_TOKEN_TTL_MS, verifyMcpToken } from "../../src/core/mcp_tokens.ts";
import { runCli } from "../../src/cli.ts";
import { Client, StreamableHTTPClientTransport } from "../helpers/sdk_v1.ts";

const CLIENTS = [
  "Claude (web",
  "Claude Code",
  "Cursor",
  "VS Code",
  "Windsurf",
  "ChatGPT",
  "Raycast",
  "Claude Desktop config",
  "Other MCP clients",
];

Deno.test("[mcp-tokens] one active token per user and workspace: a new one revokes the previous", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const db = server.deps.db;
  const first = await issueMcpToken(db, { userId: alice.user.id, workspaceId: alice.workspace.id });
  assert.ok(first.token.startsWith("dmcp_"));
  const ok = await verifyMcpToken(db, first.token);
  assert.deepEqual(ok, {
    ok: true,
    userSId: alice.user.sId,
    workspaceSId: alice.workspace.sId,
    tokenSId: first.sId,
  });
  const second = await issueMcpToken(db, {
    userId: alice.user.id,
    workspaceId: alice.workspace.id,
  });
  assert.deepEqual(await verifyMcpToken(db, first.token), { ok: false, reason: "revoked" });
  assert.equal((await verifyMcpToken(db, second.token)).ok, true);
});

Deno.test("[mcp-tokens] tokens expire after 365 days, are stored hashed, unknown ones refused", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const db = server.deps.db;
  const t = await issueMcpToken(db, { userId: alice.user.id, workspaceId: alice.workspace.id });
  assert.equal(MCP_TOKEN_TTL_MS, 365 * 24 * 3600 * 1000);
  assert.deepEqual(await verifyMcpToken(db, t.token, t.expiresAt + 1), {
    ok: false,
    reason: "expired",
  });
  const rows = await db.all("SELECT token_hash, token_prefix FROM mcp_tokens") as {
    token_hash: string;
    token_prefix: string;
  }[];
  assert.ok(rows.every((r) => r.token_hash !== t.token && !t.token.startsWith(r.token_hash)));
  assert.ok(rows[0].token_prefix.length < 16);
  assert.deepEqual(await verifyMcpToken(db, `dmcp_${"A".repeat(43)}`), {
    ok: false,
    reason: "unknown",
  });
  assert.deepEqual(await verifyMcpToken(db, "sk-123"), { ok: false, reason: "malformed" });
});

Deno.test("[mcp-tokens] Integrations page: MCP URL, every client's setup, token shown once and usable", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const b = new BrowserHttp(server.url);
  await b.signIn(alice.email, alice.password);
  const path = `/w/${alice.workspace.sId}/integrations`;
  const page = await b.get(path);
  assert.equal(page.status, 200);
  assert.ok(page.text.includes(`${server.config.publicUrl}/mcp`));
  for (const name of CLIENTS) assert.ok(page.text.includes(name), name);
  assert.match(page.text, /claude mcp add --transport http dust/);
  assert.match(page.text, /mcp-remote/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  const noCsrf = await b.post(`${path}/token`, {});
  assert.equal(noCsrf.status, 403);
  const gen = await b.post(`${path}/token`, { csrf: formValue(page.text, "csrf")! });
  assert.equal(gen.status, 200);
  const token = /<pre id="new-token">([^<]+)<\/pre>/.exec(gen.text)![1];
  assert.ok(gen.text.includes(`Bearer ${token}`), "snippets carry the real token");
  assert.ok(gen.text.includes(`/mcp?token=${token}`), "URL form while allowed");
  const again = await b.get(path);
  assert.ok(!again.text.includes(token), "shown once");
  const client = new Client({ name: "token", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  assert.ok((await client.listTools()).tools.length > 0);
  await client.close();
});

Deno.test("[mcp-tokens] the ?token= URL form is not offered when the workspace turns it off", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  await server.deps.db.run(
    "UPDATE workspaces SET allow_token_in_url = 0 WHERE id = ?",
    alice.workspace.id,
  );
  const b = new BrowserHttp(server.url);
  await b.signIn(alice.email, alice.password);
  const page = await b.get(`/w/${alice.workspace.sId}/integrations`);
  assert.ok(!page.text.includes("?token="));
  assert.match(page.text, /Tokens in URLs are turned off/);
});

Deno.test("[mcp-tokens] operator command mcp-tokens create prints a working token once", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const out: string[] = [], err: string[] = [];
  const io = {
    out: (l: string) => out.push(l),
    err: (l: string) => err.push(l),
    readStdin: () => Promise.resolve(""),
  };
  const code = await runCli(
    [
      "mcp-tokens",
      "create",
      "--workspace",
      alice.workspace.sId,
      "--email",
      alice.email,
      "--data-dir",
      server.dataDir,
    ],
    io,
    await engineEnv(server.dataDir),
  );
  assert.equal(code, 0, err.join("\n"));
  assert.equal(out.length, 1);
  assert.equal((await verifyMcpToken(server.deps.db, out[0])).ok, true);
  const bad = await runCli(
    [
      "mcp-tokens",
      "create",
      "--workspace",
      alice.workspace.sId,
      "--email",
      "nobody@example.com",
      "--data-dir",
      server.dataDir,
    ],
    io,
    await engineEnv(server.dataDir),
  );
  assert.equal(bad, 2);
});
