/**
 * Two instances in one process on one PostgreSQL database (each with its own pool, bus
 * listener and instance id, as two processes would have): what they share besides rows.
 * Runs only with `DUST_MCP_TEST_DATABASE=postgres`.
 */
import assert from "node:assert/strict";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { createPgTestDatabase } from "../helpers/pg_test_db.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { createMcpUser, mintOAuthToken } from "../mcp/helpers.ts";
import { mcpRequest } from "../helpers/durability_ledger.ts";
import { rotateSigningKey } from "../../src/core/signing_keys.ts";
import { revokeGrantById } from "../../src/core/oauth_grants.ts";
import { issueAccessToken, verifyAccessToken } from "../../src/auth/jwt.ts";
import { AUTH_REVOKED_CHANNEL } from "../../src/auth/revocations.ts";
import { mcpResourceUrl } from "../../src/config.ts";

const ignore = testEngine() !== "postgres";
const PUBLIC_URL = "http://127.0.0.1:9";

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Two instances on a fresh database (the template's: migrated, no user). */
async function twoInstances(flags: Record<string, string> = {}) {
  const pg = await createPgTestDatabase();
  const all = { ...flags, "database-url": pg.url };
  const a = await startTestServer({ flags: all, publicUrl: PUBLIC_URL });
  const b = await startTestServer({ flags: all, publicUrl: PUBLIC_URL }).catch(async (e) => {
    await a.stop();
    throw e;
  });
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await a.stop();
      await b.stop();
      await pg.drop();
    },
  };
}

function setupToken(s: TestServer): string {
  assert.ok(s.setupUrl, "a first start on an empty database prints a setup link");
  return new URL(s.setupUrl).searchParams.get("token")!;
}

async function setupStatus(s: TestServer, token: string): Promise<number> {
  const res = await fetch(`${s.url}/setup?token=${token}`);
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name: "[multi] each instance's setup link works on the other; the first setup done ends both",
  ignore,
  fn: async () => {
    await using t = await twoInstances();
    const [ta, tb] = [setupToken(t.a), setupToken(t.b)];
    assert.notEqual(ta, tb);
    for (const s of [t.a, t.b]) {
      assert.equal(await setupStatus(s, ta), 200);
      assert.equal(await setupStatus(s, tb), 200);
    }
    const done = await fetch(`${t.b.url}/setup`, {
      method: "POST",
      body: new URLSearchParams({
        token: ta,
        name: "Grace Hopper",
        email: "grace@example.com",
        password: "a long enough password",
        workspace: "Compilers",
      }),
    });
    await done.body?.cancel();
    assert.equal(done.status, 201, "set up through B with the link A printed");
    for (const s of [t.a, t.b]) {
      assert.equal(await setupStatus(s, ta), 410);
      assert.equal(await setupStatus(s, tb), 410);
    }
  },
});

Deno.test({
  name: "[multi] a signing key rotated by an operator command reaches every instance at once",
  ignore,
  fn: async () => {
    await using t = await twoInstances();
    const before = t.b.deps.keys.current.kid;
    assert.equal(t.a.deps.keys.current.kid, before, "one key ring for both");
    const { kid } = await rotateSigningKey(t.a.deps.db);
    // Well within a cluster tick (10 s): the database trigger's note, not the periodic check.
    await until(() => t.b.deps.keys.current.kid === kid, 5_000, "the new key on B");
    await until(() => t.a.deps.keys.current.kid === kid, 5_000, "the new key on A");
    const alice = await createMcpUser(t.a, { email: "alice@example.com", role: "user" });
    const { token } = await mintOAuthToken(t.a, alice);
    assert.equal(JSON.parse(atob(token.split(".")[0])).kid, kid, "A signs with the new key");
    assert.equal((await mcpRequest(t.b.url, token, "tools/list", {})).status, 200);
    // A token signed by the previous key still verifies until the next rotation.
    assert.ok(t.b.deps.keys.all.some((k) => k.kid === before));
  },
});

Deno.test({
  name: "[multi] a key made on one instance is found by another when a token names it",
  ignore,
  fn: async () => {
    await using t = await twoInstances();
    const alice = await createMcpUser(t.a, { email: "alice@example.com", role: "user" });
    await rotateSigningKey(t.a.deps.db);
    await t.a.deps.keys.reload!(true);
    // B is told nothing here (its ring may not have the key yet): the unknown kid reloads it.
    const token = await issueAccessToken(t.a.deps.keys, {
      issuer: PUBLIC_URL,
      userSId: alice.user.sId,
      workspaceSId: alice.workspace.sId,
      audience: mcpResourceUrl(t.b.config),
      scopes: ["read"],
      clientId: "c",
      region: t.b.config.regionId,
      ttlSeconds: 60,
    });
    const claims = await verifyAccessToken(t.b.deps.keys, t.b.deps.tokenCache, token, {
      issuer: PUBLIC_URL,
      audience: mcpResourceUrl(t.b.config),
    });
    assert.equal(claims?.sub, alice.user.sId);
  },
});

Deno.test({
  name:
    "[multi] a grant revoked through one instance's database leaves the other's verified-token cache at once",
  ignore,
  fn: async () => {
    await using t = await twoInstances();
    const alice = await createMcpUser(t.a, { email: "alice@example.com", role: "user" });
    const { token, grantId, grantSId } = await mintOAuthToken(t.a, alice);
    const notes: unknown[] = [];
    t.b.deps.events.subscribe(AUTH_REVOKED_CHANNEL, (n) => notes.push(n));
    assert.equal((await mcpRequest(t.b.url, token, "tools/list", {})).status, 200);
    assert.equal(t.b.deps.tokenCache.size, 1, "B memoised the verified token");
    await revokeGrantById(t.a.deps.db, grantId, "test");
    // Well before the cache's own TTL (60 s).
    await until(() => t.b.deps.tokenCache.size === 0, 5_000, "the cache entry dropped on B");
    assert.ok(
      notes.some((n) => (n as { sId?: string }).sId === grantSId),
      "B heard the revocation",
    );
    assert.equal((await mcpRequest(t.b.url, token, "tools/list", {})).status, 401);
  },
});

Deno.test({
  name: "[multi] /mcp budgets are shared out: each of two instances allows its half",
  ignore,
  fn: async () => {
    await using t = await twoInstances({ "mcp-rate-requests": "4" });
    await t.a.deps.cluster.tick();
    assert.equal(t.a.deps.cluster.liveInstances, 2);
    const alice = await createMcpUser(t.a, { email: "alice@example.com", role: "user" });
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await mcpRequest(t.a.url, alice.mcpToken, "tools/list", {})).status);
    }
    assert.deepEqual(statuses, [200, 200, 429], "2 of the 4 per minute on this instance");
  },
});

Deno.test({
  name: "[multi] an instance starting leaves another live instance's upload reservations alone",
  ignore,
  fn: async () => {
    const pg = await createPgTestDatabase();
    try {
      await using a = await startTestServer({ flags: { "database-url": pg.url } });
      const alice = await createUserWithToken(a, { email: "alice@example.com", role: "user" });
      await a.deps.db.run(
        `INSERT INTO storage_reservations (workspace_id, user_id, bytes, created_at, instance_id)
         VALUES (?, ?, 1000, ?, ?)`,
        alice.workspace.id,
        alice.user.id,
        Date.now(),
        a.deps.instanceId,
      );
      await using b = await startTestServer({ flags: { "database-url": pg.url } });
      await b.deps.cluster.idle();
      const left = await b.deps.db.all("SELECT instance_id FROM storage_reservations");
      assert.deepEqual(left.map((r) => r.instance_id), [a.deps.instanceId]);
    } finally {
      await pg.drop();
    }
  },
});
