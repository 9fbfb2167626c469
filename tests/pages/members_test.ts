/**
 * Members on the console: invitations (a one-time link shown once, for its email only,
 * expiring, revocable; sign up or sign in to accept), role changes and removal (which revokes
 * what the member holds in the workspace, and only there), and the last admin rule.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue, startSessionFor } from "../helpers/browser_http.ts";
import { type ConsoleWorld, seedConsoleWorld } from "../helpers/console_admin_world.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { mintOAuthToken, rawMcp, TOOLS_CALL } from "../mcp/helpers.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";
import { issuePersonalToken } from "../../src/core/personal_tokens.ts";
import { registerRelayServer } from "../../src/core/relay_registry.ts";
import { pageActorOf } from "../helpers/oauth_client.ts";
import { createSpace } from "../../src/core/spaces.ts";

async function adminBrowser(w: ConsoleWorld): Promise<{ b: BrowserHttp; csrf: string }> {
  const b = new BrowserHttp(w.s.url);
  await startSessionFor(w.s, b, w.admin.user.id);
  const page = await b.get(`/w/${w.ws.sId}/members`);
  return { b, csrf: formValue(page.text, "csrf")! };
}

async function invite(w: ConsoleWorld, email: string, role = "user"): Promise<string> {
  const { b, csrf } = await adminBrowser(w);
  const r = await b.post(`/w/${w.ws.sId}/members/invite`, { csrf, email, role, days: "7" });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const url = /<pre id="invite-url">([^<]+)<\/pre>/.exec(r.text)?.[1];
  assert.ok(url, "the page shows the link");
  return url.replaceAll("&amp;", "&");
}

const count = async (w: ConsoleWorld, sql: string, ...params: (string | number)[]) =>
  Number((await w.s.deps.db.get(sql, ...params) as { n: number }).n);

Deno.test("[members] an invitation link is shown once, creates the account, joins, and works once", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const link = await invite(w, "Nina@Acme.example", "builder");
  const token = new URL(link).searchParams.get("token")!;
  assert.equal(new URL(link).origin, s.config.publicUrl);
  const { b } = await adminBrowser(w);
  const later = await b.get(`/w/${w.ws.sId}/members`);
  assert.ok(!later.text.includes(token), "never shown again");
  assert.ok(later.text.includes("nina@acme.example"), "listed, pending");
  assert.ok(
    !JSON.stringify(await s.deps.db.all("SELECT * FROM invitations")).includes(token),
    "stored hashed",
  );
  assert.ok(!s.logs.some((l) => l.includes(token)), "never logged");

  const nina = new BrowserHttp(s.url);
  const page = await nina.get(`/invite?token=${encodeURIComponent(token)}`);
  assert.equal(page.status, 200);
  assert.match(page.text, /Create account and join/);
  assert.match(page.text, /nina@acme\.example/);
  const short = await nina.post("/invite/accept", {
    token,
    action: "signup",
    name: "Nina",
    password: "short",
  });
  assert.equal(short.status, 400, "a bad password is shown on the page");
  assert.match(short.text, /at least 8 characters/);
  const done = await nina.post("/invite/accept", {
    token,
    action: "signup",
    name: "Nina Newcomer",
    password: "a long enough password",
  });
  assert.equal(done.status, 303);
  assert.equal(done.location, `/w/${w.ws.sId}`);
  const home = await nina.get(`/w/${w.ws.sId}`);
  assert.equal(home.status, 200, "signed in and a member");
  assert.match(home.text, /a builder of this workspace/);
  const again = await new BrowserHttp(s.url).get(`/invite?token=${encodeURIComponent(token)}`);
  assert.equal(again.status, 410);
  assert.match(again.text, /already been used/);
  const reuse = await new BrowserHttp(s.url).post("/invite/accept", {
    token,
    action: "signup",
    name: "Mallory",
    password: "a long enough password",
  });
  assert.equal(reuse.status, 410);
  assert.equal(await count(w, "SELECT count(*) AS n FROM users WHERE email LIKE 'nina%'"), 1);
});

Deno.test("[members] an existing account signs in to accept; another account cannot use the link", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const token = new URL(await invite(w, w.outsider.email)).searchParams.get("token")!;
  // Someone else, signed in, holding the link: refused, nothing changes.
  const uma = new BrowserHttp(s.url);
  await startSessionFor(s, uma, w.user.user.id);
  const seen = await uma.get(`/invite?token=${encodeURIComponent(token)}`);
  assert.match(seen.text, /Sign out, then open the invitation/);
  const stolen = await uma.post("/invite/accept", { token, action: "join" });
  assert.equal(stolen.status, 409);
  const olga = new BrowserHttp(s.url);
  const form = await olga.get(`/invite?token=${encodeURIComponent(token)}`);
  assert.match(form.text, /Sign in and join/);
  const wrong = await olga.post("/invite/accept", { token, action: "signin", password: "nope" });
  assert.equal(wrong.status, 401);
  assert.equal(
    await count(w, "SELECT count(*) AS n FROM memberships WHERE workspace_id = ?", w.ws.id),
    3,
    "nobody joined",
  );
  const ok = await olga.post("/invite/accept", {
    token,
    action: "signin",
    password: w.outsider.password,
  });
  assert.equal(ok.status, 303);
  assert.equal((await olga.get(`/w/${w.ws.sId}`)).status, 200);
  assert.equal((await olga.get(`/w/${w.outsider.workspace.sId}`)).status, 200, "keeps her own");
});

Deno.test("[members] revoked and expired invitations answer 410 and join no one", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const revoked = new URL(await invite(w, "rex@acme.example")).searchParams.get("token")!;
  const expired = new URL(await invite(w, "exa@acme.example")).searchParams.get("token")!;
  const { b, csrf } = await adminBrowser(w);
  const id =
    (await s.deps.db.get("SELECT s_id FROM invitations WHERE email = ?", "rex@acme.example") as {
      s_id: string;
    }).s_id;
  const r = await b.post(`/w/${w.ws.sId}/members/invitations/revoke`, { csrf, invitation: id });
  assert.equal(r.status, 200);
  await s.deps.db.run(
    "UPDATE invitations SET expires_at = ? WHERE email = ?",
    Date.now() - 1,
    "exa@acme.example",
  );
  for (const [token, why] of [[revoked, /revoked/], [expired, /expired/]] as const) {
    const page = await new BrowserHttp(s.url).get(`/invite?token=${encodeURIComponent(token)}`);
    assert.equal(page.status, 410);
    assert.match(page.text, why);
    const post = await new BrowserHttp(s.url).post("/invite/accept", {
      token,
      action: "signup",
      name: "X",
      password: "a long enough password",
    });
    assert.equal(post.status, 410);
  }
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM users WHERE email IN ('rex@acme.example', 'exa@acme.example')",
    ),
    0,
  );
  const unknown = await new BrowserHttp(s.url).get("/invite?token=dinv_guess");
  assert.equal(unknown.status, 404);
});

Deno.test("[members] removing a member revokes what they hold here (not elsewhere) and they lose access at once", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const u = w.user;
  const wsRef = { user: u.user, workspace: w.ws };
  const oauth = await mintOAuthToken(s, wsRef);
  const mcp = await issueMcpToken(s.deps.db, { userId: u.user.id, workspaceId: w.ws.id });
  const pat = await issuePersonalToken(s.deps.db, {
    workspaceId: w.ws.id,
    userId: u.user.id,
    name: "script",
  });
  const relay = await registerRelayServer(s.deps, await pageActorOf(s, u), {
    serverName: "Uma Tools",
  });
  // Uma in another workspace too: what she holds there stays.
  const elsewhere = await createUserWithToken(s, {
    email: u.email,
    role: "user",
    workspace: w.outsider.workspace,
  });
  // The only editor of a Pod: its longest member becomes editor.
  const umaActor = await pageActorOf(s, u);
  await s.deps.db.run(
    "UPDATE memberships SET role = 'builder' WHERE user_id = ? AND workspace_id = ?",
    u.user.id,
    w.ws.id,
  );
  const soloPod = await createSpace(s.deps, { ...umaActor, role: "builder" }, {
    kind: "project",
    name: "Uma's Pod",
    memberIds: [w.builder.user.sId],
  });
  assert.equal((await apiJson(s, pat.secret, `/api/v1/w/${w.ws.sId}/spaces`)).status, 200);

  const { b, csrf } = await adminBrowser(w);
  const confirm = await b.post(`/w/${w.ws.sId}/members/remove`, { csrf, user: u.user.sId });
  assert.equal(confirm.status, 200);
  assert.match(confirm.text, /Remove uma@acme\.example\?/, "first a confirmation");
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM memberships WHERE user_id = ? AND workspace_id = ?",
      u.user.id,
      w.ws.id,
    ),
    1,
    "nothing removed before the confirmation",
  );
  const done = await b.post(`/w/${w.ws.sId}/members/remove`, {
    csrf,
    user: u.user.sId,
    confirm: "1",
  });
  assert.equal(done.status, 200);
  assert.match(
    done.text,
    /uma@acme\.example was removed: 1 OAuth grant\(s\), 1 MCP token\(s\) and 1 personal/,
  );

  const db = s.deps.db;
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM memberships WHERE user_id = ? AND workspace_id = ?",
      u.user.id,
      w.ws.id,
    ),
    0,
  );
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM oauth_grants WHERE s_id = ? AND revoked_at IS NOT NULL",
      oauth.grantSId,
    ),
    1,
  );
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM mcp_tokens WHERE user_id = ? AND workspace_id = ? AND revoked_at IS NULL",
      u.user.id,
      w.ws.id,
    ),
    0,
  );
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM personal_tokens WHERE user_id = ? AND workspace_id = ? AND revoked_at IS NULL",
      u.user.id,
      w.ws.id,
    ),
    0,
  );
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM relay_registrations WHERE server_id = ?",
      relay.serverId,
    ),
    0,
  );
  assert.equal(
    await count(
      w,
      "SELECT count(*) AS n FROM space_members sm JOIN spaces sp ON sp.id = sm.space_id WHERE sm.user_id = ? AND sp.workspace_id = ?",
      u.user.id,
      w.ws.id,
    ),
    0,
    "left every space and Pod",
  );
  assert.equal(
    await count(w, "SELECT count(*) AS n FROM group_members WHERE user_id = ?", u.user.id),
    0,
  );
  const editor = await db.get(
    `SELECT u.email FROM space_members sm JOIN users u ON u.id = sm.user_id
     JOIN spaces sp ON sp.id = sm.space_id WHERE sp.s_id = ? AND sm.role = 'editor'`,
    soloPod.sId,
  ) as { email: string };
  assert.equal(editor.email, w.builder.email, "the Pod keeps an editor");
  // Elsewhere untouched.
  assert.equal(
    (await apiJson(s, elsewhere.token, `/api/v1/w/${w.outsider.workspace.sId}/spaces`)).status,
    200,
  );
  // Here: every credential refused at once.
  assert.equal((await apiJson(s, pat.secret, `/api/v1/w/${w.ws.sId}/spaces`)).status, 401);
  for (const token of [mcp.token, oauth.token]) {
    const r = await rawMcp(s, TOOLS_CALL("identity"), { Authorization: `Bearer ${token}` });
    assert.equal(r.status, 401, r.text.slice(0, 200));
  }
  const gone = new BrowserHttp(s.url);
  await startSessionFor(s, gone, u.user.id);
  assert.equal((await gone.get(`/w/${w.ws.sId}`)).status, 404);
});

Deno.test("[members] role changes take effect; the last admin can be neither demoted nor removed", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const { b, csrf } = await adminBrowser(w);
  const base = `/w/${w.ws.sId}/members`;
  const demote = await b.post(`${base}/role`, { csrf, user: w.admin.user.sId, role: "user" });
  assert.equal(demote.status, 400);
  assert.match(demote.text, /needs an admin/);
  const remove = await b.post(`${base}/remove`, { csrf, user: w.admin.user.sId, confirm: "1" });
  assert.equal(remove.status, 400);
  const promote = await b.post(`${base}/role`, { csrf, user: w.user.user.sId, role: "admin" });
  assert.equal(promote.status, 200);
  assert.match(promote.text, /uma@acme\.example is now admin/);
  const uma = new BrowserHttp(s.url);
  await startSessionFor(s, uma, w.user.user.id);
  assert.equal((await uma.get(base)).status, 200, "the new admin manages members");
  // Now Ada may step down: Uma is an admin.
  const step = await b.post(`${base}/role`, { csrf, user: w.admin.user.sId, role: "builder" });
  assert.equal(step.status, 200);
  assert.equal((await b.get(base)).status, 403, "and no longer manages members");
});
