/**
 * `/mcp` authentication and transport rules: one test per case of mcp-auth.md sections A
 * and K and of Dust's 401/403 shapes (dust.md §2.3–2.6).
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createApiKey } from "../helpers/fixtures.ts";
import { actorOf } from "../helpers/knowledge.ts";
import { createMcpUser, errorOf, mintOAuthToken, rawMcp, rpcOf, TOOLS_CALL } from "./helpers.ts";
import { revokeMcpToken } from "../../src/core/mcp_tokens.ts";
import { revokeGrantById } from "../../src/core/oauth_grants.ts";
import { updateMcpSettings } from "../../src/core/workspace_settings.ts";
import { registerDynamicClient } from "../../src/core/oauth_clients.ts";
import { mcpResourceUrl } from "../../src/config.ts";
import type { McpUser } from "./helpers.ts";

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Parse `Bearer k="v", k2="v2"` into a map. */
function challengeOf(header: string | null): Record<string, string> {
  assert.ok(header, "WWW-Authenticate is present");
  assert.match(header, /^Bearer /);
  const out: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

async function withUser(fn: (s: TestServer, u: McpUser) => Promise<void>): Promise<void> {
  await using server = await startTestServer();
  const u = await createMcpUser(server, { email: "alice@example.com", role: "admin" });
  await fn(server, u);
}

function settings(patch: Record<string, unknown>) {
  return {
    mcpEnabled: true,
    redirectPolicy: "all" as "all" | "allowlist",
    allowedRedirectUris: ["http://localhost:*", "http://127.0.0.1:*"],
    allowTokenInUrl: true,
    ...patch,
  };
}

Deno.test("[mcp auth] A1 no token: 401 with a Bearer challenge, also on initialize", async () => {
  await withUser(async (s) => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "t", version: "1" },
      },
    };
    const r = await rawMcp(s, init);
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), {
      error: "invalid_token",
      error_description: "Authorization needed",
    });
    // RFC 6750 §3.1: no credential was sent, so the challenge carries no error code.
    const c = challengeOf(r.headers.get("www-authenticate"));
    assert.equal(c.error, undefined);
    assert.equal(c.error_description, undefined);
    assert.equal(
      c.resource_metadata,
      `${s.config.publicUrl}/.well-known/oauth-protected-resource/mcp`,
    );
    assert.equal(c.scope, "read write");
  });
});

Deno.test("[mcp auth] A1 a bad token: the challenge says invalid_token and why", async () => {
  await withUser(async (s) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth("dmcp_" + "B".repeat(43)));
    assert.equal(r.status, 401);
    const c = challengeOf(r.headers.get("www-authenticate"));
    assert.equal(c.error, "invalid_token");
    assert.equal(c.error_description, "Invalid API token");
  });
});

Deno.test("[mcp auth] A2 resource_metadata is the absolute path-inserted PRM URL and resolves", async () => {
  await withUser(async (s) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"));
    const url = challengeOf(r.headers.get("www-authenticate")).resource_metadata;
    assert.equal(url, `${s.config.publicUrl}/.well-known/oauth-protected-resource/mcp`);
    const prm = await fetch(url);
    assert.equal(prm.status, 200);
    const body = await prm.json();
    assert.equal(body.resource, mcpResourceUrl(s.config));
  });
});

Deno.test("[mcp auth] A3 the challenge carries the baseline scope", async () => {
  await withUser(async (s) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth("dmcp_" + "x".repeat(43)));
    assert.equal(challengeOf(r.headers.get("www-authenticate")).scope, "read write");
  });
});

Deno.test("[mcp auth] API key on /mcp: 401 Token does not have required MCP access", async () => {
  await withUser(async (s, u) => {
    const key = await createApiKey(s, u.workspace);
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(key));
    assert.equal(r.status, 401);
    const c = challengeOf(r.headers.get("www-authenticate"));
    assert.equal(c.error_description, "Token does not have required MCP access");
  });
});

Deno.test("[mcp auth] unknown MCP token: 401 Invalid API token", async () => {
  await withUser(async (s) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth("dmcp_" + "A".repeat(43)));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).error_description, "Invalid API token");
  });
});

Deno.test("[mcp auth] revoked MCP token: 401 Invalid API token on the very next request", async () => {
  await withUser(async (s, u) => {
    const ok = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(ok.status, 200);
    await revokeMcpToken(s.deps.db, actorOf(u), u.mcpTokenSId);
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).error_description, "Invalid API token");
  });
});

Deno.test("[mcp auth] expired MCP token: 401 Invalid API token", async () => {
  await withUser(async (s, u) => {
    await s.deps.db.run(
      "UPDATE mcp_tokens SET expires_at = ? WHERE s_id = ?",
      Date.now() - 1000,
      u.mcpTokenSId,
    );
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).error_description, "Invalid API token");
  });
});

Deno.test("[mcp auth] A7 access_token in the query string is refused", async () => {
  await withUser(async (s, u) => {
    const { token } = await mintOAuthToken(s, u);
    const r = await rawMcp(s, TOOLS_CALL("identity"), {}, `/mcp?access_token=${token}`);
    assert.equal(r.status, 401);
    const r2 = await rawMcp(s, TOOLS_CALL("identity"), {}, `/mcp?token=${token}`);
    assert.equal(r2.status, 401, "an OAuth token is never accepted from ?token= either");
    assert.match(JSON.parse(r2.text).error_description, /Authorization header/);
  });
});

Deno.test("[mcp auth] MCP token in the URL works when the workspace allows it", async () => {
  await withUser(async (s, u) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"), {}, `/mcp?token=${u.mcpToken}`);
    assert.equal(r.status, 200);
    assert.equal((rpcOf(r.text).result as { isError?: boolean }).isError, undefined);
    assert.ok(!s.logs.some((l) => l.includes(u.mcpToken)), "the token never reaches the logs");
  });
});

Deno.test("[mcp auth] MCP token in the URL is refused when the workspace turned it off", async () => {
  await withUser(async (s, u) => {
    await updateMcpSettings(s.deps.db, actorOf(u), settings({ allowTokenInUrl: false }));
    const r = await rawMcp(s, TOOLS_CALL("identity"), {}, `/mcp?token=${u.mcpToken}`);
    assert.equal(r.status, 401);
    assert.match(JSON.parse(r.text).error_description, /does not accept tokens in the URL/);
    const viaHeader = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(viaHeader.status, 200);
  });
});

Deno.test("[mcp auth] A8 access token minted for another audience is refused", async () => {
  await withUser(async (s, u) => {
    const { token } = await mintOAuthToken(s, u, { audience: `${s.config.publicUrl}/api/v1` });
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(token));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text).error_description, "Access token validation failed");
  });
});

Deno.test("[mcp auth] A8 a revoked grant stops its access token on the next request", async () => {
  await withUser(async (s, u) => {
    const { token, grantId } = await mintOAuthToken(s, u);
    assert.equal((await rawMcp(s, TOOLS_CALL("identity"), auth(token))).status, 200);
    await revokeGrantById(s.deps.db, grantId, "test");
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(token));
    assert.equal(r.status, 401);
    assert.ok(challengeOf(r.headers.get("www-authenticate")).resource_metadata);
  });
});

Deno.test("[mcp auth] A8 a tampered access token is refused", async () => {
  await withUser(async (s, u) => {
    const { token } = await mintOAuthToken(s, u);
    const [h, p, sig] = token.split(".");
    const bad = `${h}.${p}.${sig.slice(0, -4)}AAAA`;
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(bad));
    assert.equal(r.status, 401);
  });
});

Deno.test("[mcp auth] a user removed from the workspace is refused at once", async () => {
  await withUser(async (s, u) => {
    assert.equal((await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken))).status, 200);
    await s.deps.db.run("DELETE FROM memberships WHERE user_id = ?", u.user.id);
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(r.status, 401);
  });
});

Deno.test("[mcp auth] A9 write tool with a read-only token: 403 insufficient_scope naming the scope", async () => {
  await withUser(async (s, u) => {
    const { token } = await mintOAuthToken(s, u, { scopes: ["read"] });
    const read = await rawMcp(s, TOOLS_CALL("identity"), auth(token));
    assert.equal(read.status, 200, "read tools still work");
    const r = await rawMcp(s, TOOLS_CALL("create_conversation", { title: "x" }), auth(token));
    assert.equal(r.status, 403);
    const c = challengeOf(r.headers.get("www-authenticate"));
    assert.equal(c.error, "insufficient_scope");
    assert.equal(c.scope, "read write");
    assert.equal(
      c.resource_metadata,
      `${s.config.publicUrl}/.well-known/oauth-protected-resource/mcp`,
    );
    const n = await s.deps.db.get("SELECT count(*) AS n FROM conversations") as { n: number };
    assert.equal(n.n, 0, "nothing was created");
  });
});

Deno.test("[mcp auth] MCP disabled for the workspace: 403 forbidden with a description", async () => {
  await withUser(async (s, u) => {
    await updateMcpSettings(s.deps.db, actorOf(u), settings({ mcpEnabled: false }));
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(r.status, 403);
    assert.deepEqual(JSON.parse(r.text), {
      error: "forbidden",
      error_description: "MCP server is disabled for this workspace",
    });
    assert.equal(r.headers.get("www-authenticate"), null, "terminal: no challenge");
  });
});

Deno.test("[mcp auth] client refused by the redirect-URI allowlist: 403 forbidden", async () => {
  await withUser(async (s, u) => {
    const client = await registerDynamicClient(s.deps.db, {
      redirect_uris: ["https://evil.example/callback"],
      client_name: "Evil",
    });
    const { token } = await mintOAuthToken(s, u, { clientId: client.client.clientId });
    assert.equal((await rawMcp(s, TOOLS_CALL("identity"), auth(token))).status, 200);
    await updateMcpSettings(s.deps.db, actorOf(u), settings({ redirectPolicy: "allowlist" }));
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(token));
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.text).error, "forbidden");
    const mcpTokenCall = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
    assert.equal(mcpTokenCall.status, 200, "MCP tokens have no redirect URIs to check");
  });
});

Deno.test("[mcp auth] A13 a foreign Origin is refused with 403", async () => {
  await withUser(async (s, u) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"), {
      ...auth(u.mcpToken),
      Origin: "http://evil.example.com",
    });
    assert.equal(r.status, 403);
    const ok = await rawMcp(s, TOOLS_CALL("identity"), {
      ...auth(u.mcpToken),
      Origin: "http://localhost:6274",
    });
    assert.equal(ok.status, 200, "a localhost origin is allowed on a loopback bind");
  });
});

Deno.test("[mcp auth] A13 a foreign Host header is refused with 403 (DNS rebinding)", async () => {
  await withUser(async (s, u) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    try {
      const body = JSON.stringify(TOOLS_CALL("identity"));
      const req =
        `POST /mcp HTTP/1.1\r\nHost: evil.example.com\r\nAuthorization: Bearer ${u.mcpToken}\r\n` +
        `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
      await conn.write(new TextEncoder().encode(req));
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      assert.match(head, /^HTTP\/1\.1 403/);
    } finally {
      conn.close();
    }
  });
});

Deno.test("[mcp auth] K2 CORS: preflight allows the MCP headers, a cross-origin 401 exposes the challenge", async () => {
  await withUser(async (s) => {
    const pre = await fetch(`${s.url}/mcp`, {
      method: "OPTIONS",
      headers: {
        Origin: "http://localhost:6274",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, mcp-protocol-version",
      },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 204);
    const allow = pre.headers.get("access-control-allow-headers") ?? "";
    for (
      const h of [
        "Authorization",
        "Content-Type",
        "Mcp-Session-Id",
        "MCP-Protocol-Version",
        "Mcp-Method",
        "Mcp-Name",
        "Last-Event-ID",
      ]
    ) {
      assert.ok(allow.includes(h), `allows ${h}`);
    }
    const r = await rawMcp(s, TOOLS_CALL("identity"), { Origin: "http://localhost:6274" });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("access-control-allow-origin"), "http://localhost:6274");
    const expose = r.headers.get("access-control-expose-headers") ?? "";
    for (const h of ["WWW-Authenticate", "Mcp-Session-Id", "Retry-After"]) {
      assert.ok(expose.includes(h));
    }
  });
});

Deno.test("[mcp auth] K4 /mcp/ is served, never redirected", async () => {
  await withUser(async (s, u) => {
    const r = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken), "/mcp/");
    assert.equal(r.status, 200);
    const anon = await rawMcp(s, TOOLS_CALL("identity"), {}, "/mcp/");
    assert.equal(anon.status, 401, "the slash form challenges like /mcp (no 307)");
  });
});

Deno.test("[mcp auth] HTTP request budget: 429 with Retry-After per token", async () => {
  await using s = await startTestServer({ flags: { "mcp-rate-requests": "3" } });
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  for (let i = 0; i < 3; i++) {
    assert.equal((await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken))).status, 200);
  }
  const r = await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken));
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get("retry-after")) >= 1);
  assert.equal(JSON.parse(r.text).error, "rate_limited");
  const other = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: u.workspace,
  });
  assert.equal(
    (await rawMcp(s, TOOLS_CALL("identity"), auth(other.mcpToken))).status,
    200,
    "keyed by token, not IP",
  );
});

Deno.test("[mcp auth] tool-call budget per user: a readable isError result, audited as rate_limited", async () => {
  await using s = await startTestServer({ flags: { "mcp-rate-user": "2" } });
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  for (let i = 0; i < 2; i++) {
    const ok = rpcOf((await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken))).text);
    assert.equal((ok.result as { isError?: boolean }).isError, undefined);
  }
  const r = rpcOf((await rawMcp(s, TOOLS_CALL("identity"), auth(u.mcpToken))).text);
  const text = errorOf(r.result as never);
  assert.match(text, /Rate limit exceeded: at most 2 tool calls per minute per user/);
  const { flushAuditLog } = await import("../../src/core/audit.ts");
  await flushAuditLog(s.deps.db);
  const row = await s.deps.db.get("SELECT outcome FROM audit_log ORDER BY id DESC LIMIT 1") as {
    outcome: string;
  };
  assert.equal(row.outcome, "rate_limited");
});

Deno.test("[mcp auth] tool-call budget per client: every user of one OAuth client shares it; other clients do not", async () => {
  await using s = await startTestServer({ flags: { "mcp-rate-client": "3" } });
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const bob = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const claude = "https://claude.example/metadata.json";
  const aliceClaude = (await mintOAuthToken(s, alice, { clientId: claude })).token;
  const bobClaude = (await mintOAuthToken(s, bob, { clientId: claude })).token;
  const bobCursor = (await mintOAuthToken(s, bob, { clientId: "https://cursor.example/c.json" }))
    .token;
  const call = async (token: string) =>
    rpcOf((await rawMcp(s, TOOLS_CALL("identity"), auth(token))).text).result as {
      isError?: boolean;
      content: { type: string; text: string }[];
    };
  for (const token of [aliceClaude, bobClaude, aliceClaude]) {
    assert.equal((await call(token)).isError, undefined);
  }
  assert.match(
    errorOf(await call(bobClaude)),
    /Rate limit exceeded: at most 3 tool calls per minute per client\. Retry in \d+ seconds\./,
  );
  assert.equal((await call(bobCursor)).isError, undefined, "keyed by client, not by user or IP");
  assert.equal((await call(bob.mcpToken)).isError, undefined, "an MCP token is its own client");
});
