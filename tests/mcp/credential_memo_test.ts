/**
 * `/mcp` reuses its per-request credential check while nothing it reads has changed
 * (src/db/credential_epoch.ts). These tests change those rows from ANOTHER connection — an
 * operator command in another process on SQLite, another instance on PostgreSQL — where this
 * process's own statements cannot move the epoch, and expect the very next requests to see
 * it. (tests/mcp/auth_test.ts covers writes made through the server's own connection.)
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { createMcpUser, rawMcp, TOOLS_CALL } from "./helpers.ts";
import { dataPaths } from "../../src/server.ts";
import type { PostgresDb } from "../../src/db/postgres.ts";

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Run one statement on a connection of its own (not the server's), closed at once. */
async function writeElsewhere(s: TestServer, sql: string, ...params: (string | number)[]) {
  if (testEngine() === "postgres") {
    const other = postgres((s.deps.db as PostgresDb).url, { max: 1, onnotice: () => {} });
    try {
      let i = 0;
      await other.unsafe(sql.replace(/\?/g, () => `$${++i}`), params);
    } finally {
      await other.end({ timeout: 5 });
    }
    return;
  }
  const other = new DatabaseSync(dataPaths(s.config.dataDir).db);
  try {
    other.exec("PRAGMA busy_timeout = 5000");
    other.prepare(sql).run(...params);
  } finally {
    other.close();
  }
}

/**
 * The status of the next `/mcp` call, on both engines: SQLite's probe is at most 1 ms stale, and
 * PostgreSQL's committed counter is read after the request arrived (no note is waited for).
 */
async function nextStatus(s: TestServer, token: string): Promise<number> {
  if (testEngine() === "sqlite") await new Promise((r) => setTimeout(r, 5));
  return (await rawMcp(s, TOOLS_CALL("identity"), auth(token))).status;
}

async function withWarmUser(
  fn: (s: TestServer, u: Awaited<ReturnType<typeof createMcpUser>>) => Promise<void>,
) {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  // Several calls: the credential and its state are memoised.
  for (let i = 0; i < 3; i++) {
    assert.equal((await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken))).status, 200);
  }
  await fn(s, u);
}

Deno.test("[mcp credential memo] a token revoked by another process is refused on the next request", async () => {
  await withWarmUser(async (s, u) => {
    await writeElsewhere(
      s,
      "UPDATE mcp_tokens SET revoked_at = ?, revoked_reason = 'operator' WHERE s_id = ?",
      Date.now(),
      u.mcpTokenSId,
    );
    assert.equal(await nextStatus(s, u.mcpToken), 401);
  });
});

Deno.test("[mcp credential memo] MCP turned off by another process: the next request is refused", async () => {
  await withWarmUser(async (s, u) => {
    await writeElsewhere(s, "UPDATE workspaces SET mcp_enabled = 0 WHERE id = ?", u.workspace.id);
    assert.equal(await nextStatus(s, u.mcpToken), 403);
  });
});

Deno.test("[mcp credential memo] a token whose expiry another process moved into the past is refused", async () => {
  await withWarmUser(async (s, u) => {
    await writeElsewhere(
      s,
      "UPDATE mcp_tokens SET expires_at = ? WHERE s_id = ?",
      Date.now() - 1000,
      u.mcpTokenSId,
    );
    assert.equal(await nextStatus(s, u.mcpToken), 401);
  });
});

Deno.test("[mcp credential memo] a membership removed by another process is refused", async () => {
  await withWarmUser(async (s, u) => {
    await writeElsewhere(s, "DELETE FROM memberships WHERE user_id = ?", u.user.id);
    assert.equal(await nextStatus(s, u.mcpToken), 401);
  });
});
