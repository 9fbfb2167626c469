/**
 * Finding 5 of issue 10: every OAuth authorization obeys the workspace's settings, for BOTH
 * resources (`/mcp` and `/api/v1`). The MCP switch and the redirect-URI allowlist are checked
 * when the user picks the workspace (consent), when a code is exchanged, on every refresh, and
 * on every request an access token makes (`/mcp`, REST, and the re-check of open streams).
 * Turning access back on restores grants that were not revoked.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  createPasswordUser,
  pageActorOf,
  type PasswordUser,
  pkcePair,
} from "../helpers/oauth_client.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import {
  authorizeUrl,
  connect,
  exchange,
  obtainCode,
  postForm,
  register,
} from "../helpers/oauth_flow.ts";
import { type McpSettingsInput, updateMcpSettings } from "../../src/core/workspace_settings.ts";
import { postConversation } from "../../src/core/conversations.ts";
import { isCredentialActive } from "../../src/core/credential_state.ts";
import { insertApiKey } from "../../src/core/api_keys.ts";
import { issuePersonalToken } from "../../src/core/personal_tokens.ts";
import { addMember, createWorkspace } from "../../src/core/workspaces.ts";

const LOOPBACK = "http://127.0.0.1:53682/callback";
const OPEN: McpSettingsInput = {
  mcpEnabled: true,
  redirectPolicy: "all",
  allowedRedirectUris: ["http://localhost:*"],
  allowTokenInUrl: true,
};
/** The configuration of finding 5: MCP off, allowlist of localhost only. */
const LOCKED: McpSettingsInput = {
  mcpEnabled: false,
  redirectPolicy: "allowlist",
  allowedRedirectUris: ["http://localhost:*"],
  allowTokenInUrl: false,
};
const MCP_OFF: McpSettingsInput = { ...OPEN, mcpEnabled: false };
const LOCALHOST_ONLY: McpSettingsInput = { ...OPEN, redirectPolicy: "allowlist" };

interface World {
  server: TestServer;
  alice: PasswordUser;
  bob: PasswordUser;
  bobBrowser: BrowserHttp;
  conversationId: string;
  resources: { mcp: string; api: string };
}

/** Alice (admin) and Bob (user) in one workspace; Bob has a private conversation. */
async function world(): Promise<World> {
  const server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const bob = await createPasswordUser(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const bobBrowser = new BrowserHttp(server.url);
  await bobBrowser.signIn(bob.email, bob.password);
  const posted = await postConversation(server.deps, await pageActorOf(server, bob), {
    title: "Bob's private notes",
    visibility: "unlisted",
    post: {
      content: "my salary negotiation notes",
      mentions: [],
      context: { username: "bob", timezone: "UTC" },
      contentFragments: [],
    },
  });
  const publicUrl = server.config.publicUrl;
  return {
    server,
    alice,
    bob,
    bobBrowser,
    conversationId: posted.conversation.sId,
    resources: { mcp: `${publicUrl}/mcp`, api: `${publicUrl}/api/v1` },
  };
}

async function setPolicy(w: World, input: McpSettingsInput) {
  await updateMcpSettings(w.server.deps.db, await pageActorOf(w.server, w.alice), input);
}

async function registerClient(w: World, redirectUri: string): Promise<string> {
  const r = await register(w.server.url, {
    client_name: "Some app",
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: "none",
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.client_id;
}

/** Bob opens the consent page for `clientId` and `resource` (after `/authorize`). */
async function openConsent(w: World, clientId: string, redirectUri: string, resource: string) {
  const { challenge } = pkcePair();
  const { page } = await w.bobBrowser.openConsent(
    authorizeUrl(w.server.url, { clientId, redirectUri, challenge, resource }),
  );
  return page;
}

/** Bob's approval of an open consent page (the form a browser would post). */
function approve(w: World, page: { text: string }) {
  return w.bobBrowser.post("/authorize/consent", {
    request: formValue(page.text, "request")!,
    csrf: formValue(page.text, "csrf")!,
    workspace: w.alice.workspace.sId,
    decision: "approve",
  });
}

/**
 * Bob tries to approve `clientId` for `resource`: the consent page when it already refuses,
 * otherwise the consent POST (303 with a code = authorized).
 */
async function consentStatus(w: World, clientId: string, redirectUri: string, resource: string) {
  const page = await openConsent(w, clientId, redirectUri, resource);
  return page.status === 200 ? await approve(w, page) : page;
}

async function readConversation(w: World, token: string): Promise<number> {
  const res = await fetch(
    `${w.server.url}/api/v1/w/${w.alice.workspace.sId}/assistant/conversations/${w.conversationId}`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  await res.body?.cancel();
  return res.status;
}

async function mcpStatus(w: World, token: string): Promise<number> {
  const res = await fetch(`${w.server.url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  });
  await res.body?.cancel();
  return res.status;
}

/** What a token may do on its own resource: the REST read or the `/mcp` call's status. */
function useToken(w: World, resource: string, token: string): Promise<number> {
  return resource.endsWith("/api/v1") ? readConversation(w, token) : mcpStatus(w, token);
}

function refresh(w: World, clientId: string, refreshToken: string) {
  return postForm(`${w.server.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: clientId,
  });
}

Deno.test("[policy] finding 5: MCP off + localhost allowlist refuse a rogue client's /api/v1 authorization at consent", async () => {
  const w = await world();
  await using _ = w.server;
  await setPolicy(w, LOCKED);
  const rogue = await registerClient(w, "https://rogue.example/cb");
  for (const resource of [w.resources.api, w.resources.mcp]) {
    const res = await consentStatus(w, rogue, "https://rogue.example/cb", resource);
    assert.equal(res.status, 403, `${resource}: ${res.status} ${res.location ?? ""}`);
    assert.equal(res.location, null, "no code travels to the rogue redirect");
    assert.match(res.text, /MCP server is disabled for this workspace/);
  }
});

Deno.test("[policy] the consent POST re-checks: a page opened while allowed cannot approve once access is off", async () => {
  const w = await world();
  await using _ = w.server;
  for (const resource of [w.resources.api, w.resources.mcp]) {
    await setPolicy(w, OPEN);
    const client = await registerClient(w, "https://app.example.com/cb");
    const page = await openConsent(w, client, "https://app.example.com/cb", resource);
    assert.equal(page.status, 200);
    await setPolicy(w, { ...OPEN, redirectPolicy: "allowlist" });
    const res = await approve(w, page);
    assert.equal(res.status, 403, `${resource}: ${res.location ?? ""}`);
    assert.equal(res.location, null);
    assert.match(res.text, /redirect URIs are not allowed for this workspace/);
  }
});

Deno.test("[policy] each setting alone governs both resources: MCP off refuses all, the allowlist refuses unlisted redirects", async () => {
  const w = await world();
  await using _ = w.server;
  const loopbackClient = await registerClient(w, "http://localhost:8787/cb");
  const httpsClient = await registerClient(w, "https://app.example.com/cb");
  for (const resource of [w.resources.api, w.resources.mcp]) {
    await setPolicy(w, MCP_OFF);
    const off = await consentStatus(w, loopbackClient, "http://localhost:8787/cb", resource);
    assert.equal(off.status, 403, `MCP off, ${resource}`);
    assert.match(off.text, /MCP server is disabled/);
    await setPolicy(w, LOCALHOST_ONLY);
    const unlisted = await consentStatus(w, httpsClient, "https://app.example.com/cb", resource);
    assert.equal(unlisted.status, 403, `allowlist, ${resource}`);
    assert.match(unlisted.text, /redirect URIs are not allowed/);
    const listed = await consentStatus(w, loopbackClient, "http://localhost:8787/cb", resource);
    assert.equal(
      listed.status,
      303,
      `allowlisted client, ${resource}: ${listed.text.slice(0, 200)}`,
    );
    assert.match(listed.location!, /code=/);
  }
});

Deno.test("[policy] a code issued before access was turned off is not exchanged (and not burnt) for either resource", async () => {
  const w = await world();
  await using _ = w.server;
  for (const resource of [w.resources.api, w.resources.mcp]) {
    await setPolicy(w, OPEN);
    const c = await obtainCode(w.server.url, w.bob, { browser: w.bobBrowser, resource });
    await setPolicy(w, MCP_OFF);
    const refused = await exchange(w.server.url, c);
    assert.equal(refused.status, 400, `${resource}: ${JSON.stringify(refused.body)}`);
    assert.equal(refused.body.error, "invalid_grant");
    assert.match(refused.body.error_description, /MCP server is disabled/);
    await setPolicy(w, OPEN);
    const ok = await exchange(w.server.url, c);
    assert.equal(ok.status, 200, `the refused exchange did not consume the code (${resource})`);
  }
});

Deno.test("[policy] after the grant, turning MCP off stops access tokens and refresh for both resources; turning it on restores them", async () => {
  const w = await world();
  await using _ = w.server;
  await setPolicy(w, OPEN);
  for (const resource of [w.resources.api, w.resources.mcp]) {
    const c = await connect(w.server.url, w.bob, { browser: w.bobBrowser, resource });
    assert.equal(await useToken(w, resource, c.tokens.access_token), 200, `control ${resource}`);
    await setPolicy(w, MCP_OFF);
    assert.equal(await useToken(w, resource, c.tokens.access_token), 403, `token ${resource}`);
    const r = await refresh(w, c.clientId, c.tokens.refresh_token);
    assert.equal(r.status, 400, `refresh ${resource}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error, "invalid_grant");
    await setPolicy(w, OPEN);
    assert.equal(await useToken(w, resource, c.tokens.access_token), 200, `restored ${resource}`);
    const again = await refresh(w, c.clientId, c.tokens.refresh_token);
    assert.equal(again.status, 200, `the refused refresh left the grant intact (${resource})`);
  }
});

Deno.test("[policy] tightening the allowlist after the grant cuts the client off REST, /mcp and refresh", async () => {
  const w = await world();
  await using _ = w.server;
  await setPolicy(w, OPEN);
  for (const resource of [w.resources.api, w.resources.mcp]) {
    const c = await connect(w.server.url, w.bob, { browser: w.bobBrowser, resource });
    await setPolicy(w, { ...LOCALHOST_ONLY, allowedRedirectUris: ["http://localhost:*"] });
    // The client's redirect is http://127.0.0.1:53682/callback: not on the list.
    assert.equal(c.redirectUri, LOOPBACK);
    assert.equal(await useToken(w, resource, c.tokens.access_token), 403, `token ${resource}`);
    const r = await refresh(w, c.clientId, c.tokens.refresh_token);
    assert.equal(r.status, 400, `refresh ${resource}`);
    assert.match(r.body.error_description, /redirect URIs are not allowed/);
    await setPolicy(w, { ...LOCALHOST_ONLY, allowedRedirectUris: ["http://127.0.0.1:*"] });
    assert.equal(await useToken(w, resource, c.tokens.access_token), 200, `listed ${resource}`);
    await setPolicy(w, OPEN);
  }
});

Deno.test("[policy] REST answers 403 workspace_auth_error naming the setting; API keys and personal tokens are not governed", async () => {
  const w = await world();
  await using _ = w.server;
  await setPolicy(w, OPEN);
  const c = await connect(w.server.url, w.bob, {
    browser: w.bobBrowser,
    resource: w.resources.api,
  });
  await setPolicy(w, MCP_OFF);
  const res = await fetch(`${w.server.url}/api/v1/w/${w.alice.workspace.sId}/spaces`, {
    headers: { authorization: `Bearer ${c.tokens.access_token}` },
  });
  assert.equal(res.status, 403);
  const body = await res.json();
  assert.equal(body.error.type, "workspace_auth_error");
  assert.match(body.error.message, /MCP server is disabled for this workspace/);
  const me = await fetch(`${w.server.url}/api/v1/me`, {
    headers: { authorization: `Bearer ${c.tokens.access_token}` },
  });
  assert.equal(me.status, 403, "/me is refused to the OAuth token too");
  await me.body?.cancel();
  // First-party credentials made in the console are not third-party applications.
  const db = w.server.deps.db;
  const key = await insertApiKey(db, {
    workspaceId: w.alice.workspace.id,
    name: "k",
    createdByUserId: w.alice.user.id,
  });
  const pat = await issuePersonalToken(db, {
    workspaceId: w.alice.workspace.id,
    userId: w.bob.user.id,
    name: "p",
  });
  for (const secret of [key.secret, pat.secret]) {
    const ok = await fetch(`${w.server.url}/api/v1/w/${w.alice.workspace.sId}/spaces`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(ok.status, 200, secret.slice(0, 4));
    await ok.body?.cancel();
  }
  assert.equal(await readConversation(w, pat.secret), 200, "Bob's own token reads his notes");
});

Deno.test("[policy] the stream re-check (isCredentialActive) follows the workspace's switch for OAuth credentials", async () => {
  const w = await world();
  await using _ = w.server;
  await setPolicy(w, OPEN);
  const c = await connect(w.server.url, w.bob, {
    browser: w.bobBrowser,
    resource: w.resources.api,
  });
  const claims = JSON.parse(atob(
    c.tokens.access_token.split(".")[1].replace(/-/g, "+")
      .replace(/_/g, "/"),
  ));
  const credential = {
    kind: "oauth" as const,
    id: claims.gid as string,
    clientId: c.clientId,
    expiresAt: claims.exp * 1000,
  };
  assert.equal(await isCredentialActive(w.server.deps.db, credential), true);
  await setPolicy(w, MCP_OFF);
  assert.equal(
    await isCredentialActive(w.server.deps.db, credential),
    false,
    "an open stream ends",
  );
  await setPolicy(w, OPEN);
  assert.equal(await isCredentialActive(w.server.deps.db, credential), true);
});

Deno.test("[policy] consent lists a refusing workspace as not selectable, with the reason; the settings page says what the switch governs", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  const other = await createWorkspace(db, { name: "Side project", adminUserId: w.bob.user.id });
  await addMember(db, { workspaceId: other.id, userId: w.bob.user.id, role: "admin" });
  await setPolicy(w, MCP_OFF);
  const client = await registerClient(w, LOOPBACK);
  const page = await openConsent(w, client, LOOPBACK, w.resources.api);
  assert.equal(page.status, 200, "another workspace still allows it");
  const options = [...page.text.matchAll(/<option[^>]*>[^<]*<\/option>/g)].map((m) => m[0]);
  const refused = options.find((o) => o.includes(w.alice.workspace.sId))!;
  const allowed = options.find((o) => o.includes(other.sId))!;
  assert.match(refused, /disabled/);
  assert.match(refused, /not allowed: MCP server is disabled for this workspace/);
  assert.doesNotMatch(allowed, /disabled/);
  const admin = new BrowserHttp(w.server.url);
  await admin.signIn(w.alice.email, w.alice.password);
  const settings = await admin.get(`/w/${w.alice.workspace.sId}/settings`);
  assert.match(
    settings.text,
    /govern every OAuth application, for the\s+MCP server and for the REST API/,
  );
});
