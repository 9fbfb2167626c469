/**
 * Credentials in one place: the MCP token, personal access tokens and (admins) API keys are
 * shown once when made, work, and stop working when revoked; members cannot make API keys.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue, startSessionFor } from "../helpers/browser_http.ts";
import { seedConsoleWorld, type Viewer, viewerOf } from "../helpers/console_admin_world.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { rawMcp, TOOLS_CALL } from "../mcp/helpers.ts";

const secretOf = (html: string, kind: string) =>
  new RegExp(`<pre id="new-${kind}">([^<]+)</pre>`).exec(html)?.[1];

Deno.test("[credentials] MCP token, personal token and API key: shown once, usable, revocable", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const open = async (who: Viewer) => {
    const b = new BrowserHttp(s.url);
    await startSessionFor(s, b, viewerOf(w, who).user.id);
    const page = await b.get(`/w/${w.ws.sId}/credentials`);
    return { b, csrf: formValue(page.text, "csrf")! };
  };
  const base = `/w/${w.ws.sId}/credentials`;
  const { b, csrf } = await open("user");
  const mcp = secretOf((await b.post(`${base}/mcp-token`, { csrf })).text, "mcp")!;
  assert.match(mcp, /^dmcp_/);
  const call = await rawMcp(s, TOOLS_CALL("identity"), { Authorization: `Bearer ${mcp}` });
  assert.equal(call.status, 200);
  const pat = secretOf(
    (await b.post(`${base}/personal-tokens`, { csrf, name: "backup script", days: "30" })).text,
    "pat",
  )!;
  assert.match(pat, /^pat_/);
  assert.equal((await apiJson(s, pat, `/api/v1/w/${w.ws.sId}/spaces`)).status, 200);
  const again = await b.get(base);
  for (const secret of [mcp, pat]) assert.ok(!again.text.includes(secret), "shown once");
  assert.match(again.text, /backup script/);
  const id = /data-pat="(pat_[^"]+)"[\s\S]*?backup script/.exec(again.text)![1];
  const revoked = await b.post(`${base}/personal-tokens/revoke`, { csrf, id });
  assert.match(revoked.text, /Token “backup script” revoked/);
  assert.equal((await apiJson(s, pat, `/api/v1/w/${w.ws.sId}/spaces`)).status, 401);
  const key = await b.post(`${base}/api-keys`, { csrf, name: "mine" });
  assert.equal(key.status, 403, "members make no API keys");
  assert.equal(secretOf(key.text, "key"), undefined);

  const admin = await open("admin");
  const made = await admin.b.post(`${base}/api-keys`, { csrf: admin.csrf, name: "Deploy bot" });
  const sk = secretOf(made.text, "key")!;
  assert.match(sk, /^sk-/);
  assert.equal((await apiJson(s, sk, `/api/v1/w/${w.ws.sId}/spaces`)).status, 200);
  const keyId = /data-key="(key_[^"]+)"[\s\S]*?<td>Deploy bot<\/td>/.exec(made.text)?.[1] ??
    /data-key="(key_[^"]+)"><td>Deploy bot</.exec(made.text)![1];
  await admin.b.post(`${base}/api-keys/revoke`, { csrf: admin.csrf, id: keyId });
  assert.equal((await apiJson(s, sk, `/api/v1/w/${w.ws.sId}/spaces`)).status, 401);
});
