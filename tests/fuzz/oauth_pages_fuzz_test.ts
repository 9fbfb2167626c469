/**
 * Hostile input on the signed-in pages (every form with a valid session + CSRF token and
 * hostile fields, including the other workspace's ids), and replays: an authorization code
 * and a rotated refresh token used twice, in sequence and raced.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { startFuzzWorld } from "../helpers/fuzz_world.ts";
import { hostileString, idValue } from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { exchange, obtainCode, postForm } from "../helpers/oauth_flow.ts";
import type { PasswordUser } from "../helpers/oauth_client.ts";
import { clientId, form, postReq, uriValue } from "../helpers/fuzz_oauth.ts";

Deno.test("[fuzz/oauth] signed-in page forms with a valid CSRF token and hostile fields", async () => {
  await using world = await startFuzzWorld();
  const browser = new BrowserHttp(world.server.url);
  await browser.signIn(world.a.email, world.a.password);
  const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  const account = await browser.get("/account");
  const csrf = formValue(account.text, "csrf")!;
  assert.ok(csrf, "no csrf on /account");
  const str = () => fc.oneof(hostileString(), fc.string({ maxLength: 20 }));
  const wId = fc.oneof(fc.constant(world.a.ids.wId), idValue(world, "wId"));
  const route = fc.constantFrom(
    "/w/:w/settings",
    "/w/:w/settings/clients",
    "/w/:w/settings/clients/delete",
    "/w/:w/integrations/token",
    "/w/:w/connected/revoke",
    "/account/password",
    "/logout",
  );
  const fields = form({
    csrf: fc.oneof(fc.constant(csrf), fc.constant(csrf), str()),
    mcp_enabled: fc.constantFrom("1", "0", ""),
    allow_token_in_url: fc.constantFrom("1", "0"),
    redirect_policy: fc.oneof(fc.constantFrom("all", "allowlist"), str()),
    allowed_redirect_uris: fc.oneof(uriValue(world), str()),
    name: str(),
    redirect_uris: fc.oneof(uriValue(world), str()),
    auth_method: fc.oneof(
      fc.constantFrom("none", "client_secret_basic", "client_secret_post"),
      str(),
    ),
    client_id: fc.oneof(fc.constant(world.b.oauth.clientId), clientId(world)),
    kind: fc.oneof(fc.constantFrom("grant", "relay", "mcp_token"), str()),
    id: fc.oneof(idValue(world, "serverId"), str()),
    current: str(),
    next: str(),
  });
  const arb = fc.tuple(route, wId, fields);
  await checkProperty(world, "page forms", arb, async ([r, w, f]) => {
    // Keep MCP on for A and never sign the fuzzer out: other runs need the session.
    if (r === "/logout") f = { ...f, csrf: "wrong" };
    const path = r.replace(":w", encodeURIComponent(w.toWellFormed().slice(0, 4000)));
    const req = { ...postReq(path, f, { cookie, Origin: world.server.url }), as: world.a };
    const res = await send(world, req);
    checkResponse(world, req, res, "oauth_page");
    const page: FuzzRequest = {
      method: "GET",
      path: path.replace(/\/(token|revoke|delete|clients)$/, ""),
      headers: { cookie },
      as: world.a,
    };
    checkResponse(world, page, await send(world, page), "oauth_page");
  }, 80);
});

Deno.test("[fuzz/oauth] replayed codes and refresh tokens are refused, also when raced", async () => {
  await using world = await startFuzzWorld();
  const base = world.server.url;
  // obtainCode reads only the email, the password and the workspace id.
  const pu = {
    email: world.a.email,
    password: world.a.password,
    workspace: { sId: world.a.ids.wId },
  } as unknown as PasswordUser;
  const check = (path: string, r: { status: number; headers: Headers; body: unknown }) => {
    const req: FuzzRequest = { method: "POST", path, as: null };
    const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
    checkResponse(
      world,
      req,
      { status: r.status, headers: r.headers, text, truncated: false },
      "oauth_json",
    );
  };

  // A code used twice: the second exchange fails and revokes the grant the first one created.
  const c1 = await obtainCode(base, pu);
  const first = await exchange(base, c1);
  assert.equal(first.status, 200);
  const replay = await exchange(base, c1);
  check("/token", replay);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, "invalid_grant");
  const refresh = (token: string, clientId: string) =>
    postForm(`${base}/token`, {
      grant_type: "refresh_token",
      refresh_token: token,
      client_id: clientId,
    });
  const revoked = await refresh(first.body.refresh_token, c1.clientId);
  check("/token", revoked);
  assert.equal(revoked.status, 400);

  // A code raced five times: exactly one exchange wins (and the losers' replays revoke it).
  const c2 = await obtainCode(base, pu);
  const raced = await Promise.all([1, 2, 3, 4, 5].map(() => exchange(base, c2)));
  for (const r of raced) check("/token", r);
  assert.equal(raced.filter((r) => r.status === 200).length, 1);

  // A rotated refresh token used again: refused, and reuse revokes the newer one too.
  const c3 = await obtainCode(base, pu);
  const t3 = await exchange(base, c3);
  assert.equal(t3.status, 200);
  const rotated = await refresh(t3.body.refresh_token, c3.clientId);
  assert.equal(rotated.status, 200);
  const reused = await refresh(t3.body.refresh_token, c3.clientId);
  check("/token", reused);
  assert.equal(reused.status, 400);
  const afterReuse = await refresh(rotated.body.refresh_token, c3.clientId);
  check("/token", afterReuse);
  assert.equal(afterReuse.status, 400);

  // A refresh token raced five times: at most one rotation succeeds.
  const c4 = await obtainCode(base, pu);
  const t4 = (await exchange(base, c4)).body;
  const racedRefresh = await Promise.all(
    [1, 2, 3, 4, 5].map(() => refresh(t4.refresh_token, c4.clientId)),
  );
  for (const r of racedRefresh) check("/token", r);
  assert.ok(racedRefresh.filter((r) => r.status === 200).length <= 1);
});
