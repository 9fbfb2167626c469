/**
 * Secrets absent from logs. One run exercises every way a secret enters the server — the setup
 * link, passwords (right, wrong, changed), the browser session and its CSRF token, the consent
 * request id, OAuth client secrets (DCR and static), codes, PKCE verifiers, access and refresh
 * tokens (issued, refreshed, revoked, misused), API keys, personal tokens, MCP tokens (header,
 * `?token=` URL, the refused `?access_token=` form), the model provider key, uploaded bytes,
 * garbage bearer values, a file written through MCP — against a server whose JSON log lines are
 * captured at debug level. The whole log is then searched for every one of them, raw and
 * URL-encoded, and so are the bodies of the refusals along the way.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import { authorizeUrl, postForm, register } from "../helpers/oauth_flow.ts";
import { apiJson, bearer } from "../helpers/fixtures.ts";
import { rawMcp, rpcOf, TOOLS_CALL } from "../mcp/helpers.ts";
import { issuePersonalToken } from "../../src/core/personal_tokens.ts";
import { findUserByEmail } from "../../src/core/users.ts";
import { randomString } from "../../src/util/ids.ts";
import { flushAuditLog } from "../../src/core/audit.ts";

const secrets = new Map<string, string>();
/** Bodies of refused requests: secrets are never echoed in errors either. */
const refusals: string[] = [];
function refused(body: unknown): void {
  refusals.push(typeof body === "string" ? body : JSON.stringify(body));
}
function keep(label: string, value: string | null | undefined): string {
  assert.ok(value && value.length >= 8, `${label} was not captured: ${value}`);
  secrets.set(label, value);
  return value;
}

interface Admin {
  browser: BrowserHttp;
  email: string;
  password: string;
  wId: string;
  csrf: string;
}

async function setupAndSignIn(s: TestServer): Promise<Admin> {
  const token = keep("setup token", new URL(s.setupUrl!).searchParams.get("token"));
  const browser = new BrowserHttp(s.url);
  await browser.get(`/setup?token=${token}`);
  const email = "admin@example.com";
  const password = keep("admin password", `first passphrase ${randomString(12)}`);
  const done = await browser.post("/setup", {
    token,
    name: "Ada",
    email,
    password,
    workspace: "W",
  });
  assert.equal(done.status, 201);
  const wrong = keep("wrong password", `wrong passphrase ${randomString(12)}`);
  const failed = await browser.post("/login", { email, password: wrong });
  assert.equal(failed.status, 401);
  refused(failed.text);
  await browser.signIn(email, password);
  keep("session cookie", browser.cookies.get("dmcp_session"));
  const account = await browser.get("/account");
  const csrf = keep("CSRF token", formValue(account.text, "csrf"));
  const wId = (await s.deps.db.get("SELECT s_id FROM workspaces") as { s_id: string }).s_id;
  return { browser, email, password, wId, csrf };
}

async function useMcpToken(s: TestServer, a: Admin): Promise<void> {
  const page = await a.browser.post(`/w/${a.wId}/integrations/token`, { csrf: a.csrf });
  const token = keep("MCP token", /id="new-token">([^<]+)</.exec(page.text)?.[1]);
  assert.equal((await rawMcp(s, TOOLS_CALL("identity"), bearer(token))).status, 200);
  assert.equal((await rawMcp(s, TOOLS_CALL("identity"), {}, `/mcp?token=${token}`)).status, 200);
  const inQuery = await rawMcp(s, TOOLS_CALL("identity"), {}, `/mcp?access_token=${token}`);
  assert.equal(inQuery.status, 401);
  refused(inQuery.text);
  const conv = await rawMcp(
    s,
    TOOLS_CALL("create_conversation", { title: "files", agentName: null }),
    bearer(token),
  );
  const result = rpcOf(conv.text).result as { content: { text: string }[] };
  const cId = JSON.parse(result.content[0].text).conversationId;
  const content = keep("file written through MCP", `mcp-content-${randomString(24)}`);
  const made = await rawMcp(
    s,
    TOOLS_CALL("files_create", {
      scope: { type: "conversation", conversation_id: cId },
      path: `conversation-${cId}/notes.txt`,
      content,
      content_type: "text/plain",
    }),
    bearer(token),
  );
  assert.ok(!made.text.includes('"isError":true'), made.text);
}

async function oauthFlow(s: TestServer, a: Admin): Promise<void> {
  const redirectUri = "http://127.0.0.1:53682/callback";
  const dcr = await register(s.url, { client_name: "Secretive", redirect_uris: [redirectUri] });
  const clientId = dcr.body.client_id as string;
  const basic = { authorization: `Basic ${btoa(`${clientId}:${dcr.body.client_secret}`)}` };
  keep("DCR client secret", dcr.body.client_secret);
  const { verifier, challenge } = pkcePair();
  keep("PKCE verifier", verifier);
  const url = authorizeUrl(s.url, { clientId, challenge, redirectUri, state: randomString(20) });
  const { url: consentUrl } = await a.browser.openConsent(url);
  keep("consent request id", new URL(consentUrl, s.url).searchParams.get("request"));
  // Signed out, the consent page links to sign-in with the request in `next`.
  const signedOut = await new BrowserHttp(s.url).get(consentUrl);
  const login = /href="(\/login\?next=[^"]+)"/.exec(signedOut.text)?.[1];
  assert.ok(login, "the sign-in link carries the consent request");
  assert.equal((await new BrowserHttp(s.url).get(login.replaceAll("&amp;", "&"))).status, 200);
  const callback = await a.browser.approve(url, { workspace: a.wId });
  const code = keep("authorization code", callback.searchParams.get("code"));
  const exchange = { grant_type: "authorization_code", code, redirect_uri: redirectUri };
  const t = await postForm(`${s.url}/token`, { ...exchange, code_verifier: verifier }, basic);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  keep("access token", t.body.access_token);
  keep("refresh token", t.body.refresh_token);
  const r = await postForm(`${s.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: t.body.refresh_token,
  }, basic);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  keep("refreshed access token", r.body.access_token);
  keep("rotated refresh token", r.body.refresh_token);
  assert.equal((await rawMcp(s, TOOLS_CALL("identity"), bearer(r.body.access_token))).status, 200);
  const reuse = await postForm(`${s.url}/token`, {
    grant_type: "refresh_token",
    refresh_token: t.body.refresh_token,
  }, basic);
  assert.equal(reuse.status, 400, "refresh-token reuse is refused");
  refused(reuse.body);
  const replay = await postForm(`${s.url}/token`, { ...exchange, code_verifier: verifier }, basic);
  assert.equal(replay.status, 400, "the replayed code is refused (and logged as such)");
  await postForm(`${s.url}/revoke`, { token: r.body.refresh_token }, basic);
  assert.equal((await rawMcp(s, TOOLS_CALL("identity"), bearer(r.body.access_token))).status, 401);
  const api = await apiJson(s, r.body.access_token, `/api/v1/w/${a.wId}/spaces`);
  assert.equal(api.status, 401, "a /mcp token on REST");
}

async function adminPages(a: Admin): Promise<void> {
  const created = await a.browser.post(`/w/${a.wId}/settings/clients`, {
    csrf: a.csrf,
    name: "Static",
    redirect_uris: "http://127.0.0.1:9/cb",
    auth_method: "client_secret_basic",
  });
  keep("static client secret", /id="new-client-secret">([^<]+)</.exec(created.text)?.[1]);
  const modelKey = keep("model API key", `sk-model-${randomString(24)}`);
  const model = await a.browser.post("/admin/model", {
    csrf: a.csrf,
    base_url: "http://127.0.0.1:9/v1",
    model: "m",
    api_key: modelKey,
  });
  assert.equal(model.status, 200, model.text.slice(0, 300));
}

async function restWithKeys(s: TestServer, a: Admin): Promise<void> {
  const user = (await findUserByEmail(s.deps.db, a.email))!;
  const ws = await s.deps.db.get("SELECT id FROM workspaces") as { id: number };
  const pat = keep(
    "personal token",
    (await issuePersonalToken(s.deps.db, { workspaceId: ws.id, userId: user.id, name: "t" }))
      .secret,
  );
  const w = `/api/v1/w/${a.wId}`;
  const key = await apiJson(s, pat, `${w}/api_keys`, { method: "POST", body: { name: "k" } });
  assert.equal(key.status, 200, JSON.stringify(key.body));
  const secret = keep("API key", key.body.secret);
  assert.equal((await apiJson(s, secret, `${w}/spaces`)).status, 200);
  const keyOnMcp = await rawMcp(s, TOOLS_CALL("identity"), bearer(secret));
  assert.equal(keyOnMcp.status, 401);
  refused(keyOnMcp.text);
  const garbage = keep("garbage bearer", `garbage${randomString(24)}`);
  const bad = await apiJson(s, garbage, `${w}/spaces`);
  assert.equal(bad.status, 401);
  refused(bad.body);
  await apiJson(s, pat, `${w}/mcp/register`, { method: "POST", body: { serverName: "Tools x" } });
  const content = keep("uploaded bytes", `upload-${randomString(24)}`);
  const bytes = new TextEncoder().encode(content);
  const file = await apiJson(s, pat, `${w}/files`, {
    method: "POST",
    body: { contentType: "text/plain", fileName: "a.txt", fileSize: bytes.length, useCase: "x" },
  });
  const form = new FormData();
  form.append("file", new File([bytes], "a.txt"));
  const up = await fetch(`${s.url}${w}/files/${file.body.file?.sId}`, {
    method: "POST",
    headers: bearer(pat),
    body: form,
  });
  await up.body?.cancel();
}

Deno.test("[security] logs: no token, code, secret, password or upload of a full run appears in the log", async () => {
  secrets.clear();
  refusals.length = 0;
  await using s = await startTestServer();
  const a = await setupAndSignIn(s);
  await useMcpToken(s, a);
  await oauthFlow(s, a);
  await adminPages(a);
  await restWithKeys(s, a);
  const next = keep("changed password", `second passphrase ${randomString(12)}`);
  const changed = await a.browser.post("/account/password", {
    csrf: a.csrf,
    current: a.password,
    next,
  });
  assert.ok(changed.status < 400, changed.text.slice(0, 200));
  const log = s.logs.join("\n");
  for (const path of ["/setup", "/token", "/mcp", "/api_keys", "/files/", "/admin/model"]) {
    assert.ok(log.includes(path), `the run was logged (${path})`);
  }
  assert.ok(secrets.size >= 20, `${secrets.size} secrets`);
  for (const [label, value] of secrets) {
    for (const form of new Set([value, encodeURIComponent(value)])) {
      assert.ok(!log.includes(form), `the log contains the ${label}`);
    }
  }
  // The audit log keeps (short) tool arguments by design, never credentials.
  await flushAuditLog(s.deps.db);
  const audit = JSON.stringify(await s.deps.db.all("SELECT * FROM audit_log"));
  assert.ok(audit.includes("files_create"), "MCP calls were audited");
  for (const [label, value] of secrets) {
    if (label === "file written through MCP") continue;
    assert.ok(!audit.includes(value), `the audit log contains the ${label}`);
  }
  assert.ok(refusals.length >= 5);
  const echoed = refusals.join("\n");
  for (const [label, value] of secrets) {
    assert.ok(!echoed.includes(value), `a refusal echoes the ${label}`);
  }
});
