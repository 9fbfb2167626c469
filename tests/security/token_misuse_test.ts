/**
 * Token scope and audience misuse, as one matrix: every kind of credential the server issues
 * (and forged or stale ones) against every surface that takes a bearer — REST reads and
 * writes, `/api/v1/me`, MCP read and write tools, the relay, conversation event streams.
 * Each cell is what the product rules allow; anything else is refused with a 401/403 and no
 * effect. The single rules (one error message, one challenge) are tested per area; this file
 * proves no credential works where it must not.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { createMcpUser, type McpUser, mintOAuthToken, rawMcp, TOOLS_CALL } from "../mcp/helpers.ts";
import { holdAgentRuns, messageBody, readSse } from "../helpers/conversations.ts";
import { issueAccessToken } from "../../src/auth/jwt.ts";
import { buildSecurityWorld, digestWorkspace } from "../helpers/security_world.ts";
import { listOperations, probesOf, sendProbe } from "../helpers/security_probe.ts";
import { apiResourceUrl, mcpResourceUrl } from "../../src/config.ts";
import { revokePersonalToken } from "../../src/core/personal_tokens.ts";

type Cell = "ok" | "no";
const SURFACES = ["rest", "restWrite", "me", "mcp", "mcpWrite", "relay", "events"] as const;
type Surface = typeof SURFACES[number];

interface Ctx {
  s: TestServer;
  alice: McpUser;
  conv: string;
}

/** Use `token` on one surface; "ok" when it was served, else the refusal status. */
async function use(ctx: Ctx, token: string, surface: Surface): Promise<string> {
  const w = `/api/v1/w/${ctx.alice.workspace.sId}`;
  const rest = async (path: string, body?: unknown) => {
    const r = await apiJson(ctx.s, token, path, body ? { method: "POST", body } : {});
    return r.status === 200 ? "ok" : String(r.status);
  };
  const mcp = async (name: string, args: Record<string, unknown>) => {
    const r = await rawMcp(ctx.s, TOOLS_CALL(name, args), bearer(token));
    if (r.status !== 200) return String(r.status);
    return r.text.includes('"isError":true') ? "tool error" : "ok";
  };
  switch (surface) {
    case "rest":
      return await rest(`${w}/spaces`);
    case "restWrite":
      return await rest(`${w}/assistant/conversations`, { title: "misuse" });
    case "me":
      return await rest("/api/v1/me");
    case "mcp":
      return await mcp("identity", {});
    case "mcpWrite":
      return await mcp("create_conversation", { title: "misuse", agentName: null });
    case "relay":
      return await rest(`${w}/mcp/register`, { serverName: "Misuse tools" });
    case "events": {
      const r = await readSse(
        `${ctx.s.url}${w}/assistant/conversations/${ctx.conv}/events`,
        token,
        () => true,
        1000,
      );
      return r.status === 200 ? "ok" : String(r.status);
    }
  }
}

/** The row of a credential: the surfaces where it must work (every other one refuses). */
async function assertRow(ctx: Ctx, name: string, token: string, allowed: Surface[]) {
  const got: Record<string, string> = {};
  for (const surface of SURFACES) got[surface] = await use(ctx, token, surface);
  const want: Record<string, Cell> = {};
  for (const surface of SURFACES) want[surface] = allowed.includes(surface) ? "ok" : "no";
  const seen: Record<string, Cell> = {};
  for (const surface of SURFACES) seen[surface] = got[surface] === "ok" ? "ok" : "no";
  assert.deepEqual(seen, want, `${name}: ${JSON.stringify(got)}`);
  for (const surface of SURFACES) {
    if (got[surface] !== "ok") {
      assert.ok(["401", "403"].includes(got[surface]), `${name} on ${surface}: ${got[surface]}`);
    }
  }
}

async function setup(): Promise<Ctx> {
  const s = await startTestServer();
  holdAgentRuns(s);
  const alice = await createMcpUser(s, { email: "alice@a.example", role: "admin" });
  const created = await apiJson(
    s,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/assistant/conversations`,
    // Visible to the workspace, so the content rule lets every credential read it and the
    // matrix tests the credential rules alone (API keys never read a private conversation:
    // tests/security/api_key_conversations_test.ts).
    {
      method: "POST",
      body: { title: "matrix", visibility: "workspace", message: messageBody("hi", []) },
    },
  );
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return { s, alice, conv: created.body.conversation.sId };
}

function oauth(
  ctx: Ctx,
  audience: "mcp" | "api",
  extra: Parameters<typeof mintOAuthToken>[2] = {},
) {
  const aud = audience === "mcp" ? mcpResourceUrl(ctx.s.config) : apiResourceUrl(ctx.s.config);
  return mintOAuthToken(ctx.s, ctx.alice, { audience: aud, ...extra });
}

Deno.test("[security] tokens: each credential works only on the surfaces the product rules give it", async () => {
  const ctx = await setup();
  await using _ = ctx.s;
  const { alice } = ctx;
  await assertRow(ctx, "personal token", alice.token, [
    "rest",
    "restWrite",
    "me",
    "relay",
    "events",
  ]);
  // A key acts as the workspace (Dust lets it start conversations), never as a user.
  await assertRow(ctx, "API key", await createApiKey(ctx.s, alice.workspace), [
    "rest",
    "restWrite",
    "events",
  ]);
  await assertRow(ctx, "MCP token", alice.mcpToken, ["mcp", "mcpWrite"]);
  await assertRow(ctx, "OAuth /mcp", (await oauth(ctx, "mcp")).token, ["mcp", "mcpWrite"]);
  await assertRow(ctx, "OAuth /api/v1", (await oauth(ctx, "api")).token, [
    "rest",
    "restWrite",
    "me",
    "relay",
    "events",
  ]);
  const roMcp = (await oauth(ctx, "mcp", { scopes: ["read"] })).token;
  await assertRow(ctx, "read-only OAuth /mcp", roMcp, ["mcp"]);
  const roApi = (await oauth(ctx, "api", { scopes: ["read"] })).token;
  await assertRow(ctx, "read-only OAuth /api/v1", roApi, ["rest", "me", "events"]);
});

Deno.test("[security] tokens: expired, revoked and removed-member credentials work nowhere", async () => {
  const ctx = await setup();
  await using _ = ctx.s;
  const { s, alice } = ctx;
  for (const aud of ["mcp", "api"] as const) {
    const expired = (await oauth(ctx, aud, { ttlSeconds: -5 })).token;
    await assertRow(ctx, `expired OAuth ${aud}`, expired, []);
  }
  const pat = await createUserWithToken(s, {
    email: "alice@a.example",
    role: "admin",
    workspace: alice.workspace,
  });
  const patId =
    (await s.deps.db.get("SELECT s_id FROM personal_tokens ORDER BY id DESC LIMIT 1") as {
      s_id: string;
    }).s_id;
  await revokePersonalToken(s.deps.db, {
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    tokenId: patId,
  });
  await assertRow(ctx, "revoked personal token", pat.token, []);

  const grant = await oauth(ctx, "api");
  const grantMcp = await oauth(ctx, "mcp");
  await s.deps.db.run(
    "UPDATE oauth_grants SET revoked_at = ? WHERE id IN (?, ?)",
    Date.now(),
    grant.grantId,
    grantMcp.grantId,
  );
  await assertRow(ctx, "OAuth /api/v1 of a revoked grant", grant.token, []);
  await assertRow(ctx, "OAuth /mcp of a revoked grant", grantMcp.token, []);

  const live = [alice.token, alice.mcpToken, (await oauth(ctx, "api")).token];
  live.push((await oauth(ctx, "mcp")).token);
  await s.deps.db.run("DELETE FROM memberships WHERE user_id = ?", alice.user.id);
  for (const [i, token] of live.entries()) await assertRow(ctx, `removed member #${i}`, token, []);
});

Deno.test("[security] tokens: another region's tokens, forged audiences and foreign signatures work nowhere", async () => {
  const ctx = await setup();
  await using _ = ctx.s;
  await using eu = await startTestServer({ flags: { region: "eu" } });
  const { s, alice } = ctx;
  const claims = (keys: typeof s.deps.keys, issuer: string, audience: string) =>
    issueAccessToken(keys, {
      issuer,
      userSId: alice.user.sId,
      workspaceSId: alice.workspace.sId,
      audience,
      scopes: ["read", "write"],
      clientId: "https://client.example/metadata.json",
      region: "europe-west1",
      ttlSeconds: 600,
    });
  const euIss = eu.config.publicUrl;
  const usIss = s.config.publicUrl;
  const rows: [string, string][] = [
    ["eu token for eu /mcp", await claims(eu.deps.keys, euIss, mcpResourceUrl(eu.config))],
    ["eu token for eu REST", await claims(eu.deps.keys, euIss, apiResourceUrl(eu.config))],
    ["eu key, us claims (/mcp)", await claims(eu.deps.keys, usIss, mcpResourceUrl(s.config))],
    ["eu key, us claims (REST)", await claims(eu.deps.keys, usIss, apiResourceUrl(s.config))],
    ["us key, eu audience", await claims(s.deps.keys, usIss, mcpResourceUrl(eu.config))],
    ["us key, eu issuer", await claims(s.deps.keys, euIss, apiResourceUrl(s.config))],
    ["us key, bare origin audience", await claims(s.deps.keys, usIss, usIss)],
  ];
  for (const [name, token] of rows) await assertRow(ctx, name, token, []);
  const [h, p] = (await oauth(ctx, "api")).token.split(".");
  const none = btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "");
  await assertRow(ctx, "alg none", `${none}.${p}.`, []);
  await assertRow(ctx, "header swapped, no signature", `${h}.${p}.`, []);
});

Deno.test("[security] tokens: a credential of workspace B is refused on A's paths on every surface", async () => {
  const ctx = await setup();
  await using _ = ctx.s;
  const carol = await createMcpUser(ctx.s, { email: "carol@b.example", role: "admin" });
  const apiToken = await mintOAuthToken(ctx.s, carol, { audience: apiResourceUrl(ctx.s.config) });
  const mcpToken = await mintOAuthToken(ctx.s, carol);
  // /me and /mcp are not workspace paths: each answers for the credential's own workspace.
  for (const [name, token] of [["PAT", carol.token], ["OAuth REST", apiToken.token]]) {
    await assertRow(ctx, `B's ${name}`, token, ["me"]);
  }
  await assertRow(ctx, "B's API key", await createApiKey(ctx.s, carol.workspace), []);
  for (const [name, token] of [["MCP token", carol.mcpToken], ["OAuth /mcp", mcpToken.token]]) {
    await assertRow(ctx, `B's ${name}`, token, ["mcp", "mcpWrite"]);
    const who = await rawMcp(ctx.s, TOOLS_CALL("identity"), bearer(token));
    assert.ok(
      who.text.includes(carol.workspace.sId) && !who.text.includes(ctx.alice.workspace.sId),
    );
  }
});

Deno.test("[security] tokens: a read-only token changes nothing through any REST write route (relay included)", async () => {
  await using s = await startTestServer();
  const w = await buildSecurityWorld(s);
  const ro = await mintOAuthToken(s, w.alice, {
    audience: apiResourceUrl(s.config),
    scopes: ["read"],
  });
  const before = await digestWorkspace(s, w.alice.workspace.id);
  const ops = (await listOperations(s)).filter((o) => o.template.includes("{wId}"));
  let sent = 0;
  // Dust's node search, the tokenizer and mention parsing are reads sent as POST (SDK
  // searchNodes, tokenize, parseForMentions).
  const readsByPost = new Set([
    "POST /api/v1/w/{wId}/search",
    "POST /api/v1/w/{wId}/assistant/mentions/parse",
    "POST /api/v1/w/{wId}/data_sources/{dsId}/tokenize",
  ]);
  const writes = ops.filter((o) => o.method !== "GET" && !readsByPost.has(`POST ${o.template}`));
  for (const op of writes) {
    for (const p of probesOf(op, w.alice.workspace.sId, w.ids)) {
      const r = await sendProbe(s, ro.token, p);
      assert.ok(r.status >= 400, `read-only ${p.method} ${p.path} → ${r.status} ${r.text}`);
      sent++;
    }
  }
  assert.ok(sent > 30);
  assert.equal(await digestWorkspace(s, w.alice.workspace.id), before, "a read-only token wrote");
  const read = await sendProbe(
    s,
    ro.token,
    probesOf(ops.find((o) => o.method === "GET")!, w.alice.workspace.sId, w.ids)[0],
  );
  assert.equal(read.status, 200, "control: the token reads");
});
