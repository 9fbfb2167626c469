/**
 * The console's shell: a strict Content-Security-Policy with a fresh nonce per response (no
 * 'unsafe-inline'), scripts and styles that carry it, the assets served from the binary (and
 * the vendored uPlot byte-identical to the npm package), copy buttons hidden without scripts.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { BrowserHttp, startSessionFor } from "../helpers/browser_http.ts";
import { seedConsoleWorld } from "../helpers/console_admin_world.ts";
import { UPLOT_CSS, UPLOT_JS } from "../../src/pages/vendor/uplot.ts";
import npmJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import npmCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import { assetPath } from "../../src/pages/assets.ts";

Deno.test("[console] every page's CSP allows only this response's nonce: no unsafe-inline, no other origin", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s, { audit: 5 });
  const b = new BrowserHttp(s.url);
  await startSessionFor(s, b, w.admin.user.id);
  const seen = new Set<string>();
  for (const path of ["/login", `/w/${w.ws.sId}`, `/w/${w.ws.sId}/audit`, "/nope"]) {
    const r = await b.request(path, { headers: { accept: "text/html" } });
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/, `${path}: ${csp}`);
    const nonce = /script-src 'nonce-([A-Za-z0-9_-]{16,})'/.exec(csp)?.[1];
    assert.ok(nonce, `${path}: a script nonce`);
    assert.match(csp, new RegExp(`style-src 'nonce-${nonce}'`));
    assert.match(csp, /frame-ancestors 'none'/);
    assert.ok(!seen.has(nonce), "a fresh nonce per response");
    seen.add(nonce);
    const tags = [...r.text.matchAll(/<(script|style|link rel="stylesheet")\b[^>]*>/g)];
    assert.ok(tags.length >= 2, `${path}: a style and the console script`);
    for (const [tag] of tags) assert.ok(tag.includes(`nonce="${nonce}"`), `${path}: ${tag}`);
    assert.doesNotMatch(r.text, /\sstyle="/, `${path}: no inline style attribute`);
    assert.doesNotMatch(r.text, /\son[a-z]+="/, `${path}: no inline event handler`);
  }
});

Deno.test("[console] the assets come from the binary, named by content, cached; uPlot is the npm package's", async () => {
  await using s = await startTestServer();
  assert.equal(UPLOT_JS, npmJs, "src/pages/vendor/uplot.ts is stale: run scripts/vendor_assets.ts");
  assert.equal(UPLOT_CSS, npmCss);
  for (
    const [key, type] of [["console.js", /javascript/], ["uplot.js", /javascript/], [
      "uplot.css",
      /css/,
    ]] as const
  ) {
    const path = assetPath(key);
    assert.match(path, /^\/static\/[a-z]+-[0-9a-f]{8}\.(js|css)$/);
    const r = await fetch(`${s.url}${path}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", type);
    assert.match(r.headers.get("cache-control") ?? "", /max-age=31536000, immutable/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.ok((await r.text()).length > 100);
  }
  const stale = await fetch(`${s.url}/static/console-00000000.js`);
  assert.equal(stale.status, 404);
  await stale.body?.cancel();
});

Deno.test("[console] copy buttons are hidden until the script runs; the text is there without it", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const b = new BrowserHttp(s.url);
  await startSessionFor(s, b, w.user.user.id);
  const page = await b.get(`/w/${w.ws.sId}/integrations`);
  const buttons = [...page.text.matchAll(/<button[^>]*data-copy="([^"]+)"[^>]*>/g)];
  assert.ok(buttons.length >= 10, "a copy button per snippet");
  for (const [tag, target] of buttons) {
    assert.match(tag, /\shidden(\s|>|=)/, "hidden without scripts");
    assert.ok(page.text.includes(`<pre id="${target}">`), `${target} exists`);
  }
  // The Integrations page folds each client's setup: far shorter than a card per client.
  const { clientSetups } = await import("../../src/pages/integration_snippets.ts");
  assert.equal(
    (page.text.match(/<details id=/g) ?? []).length,
    clientSetups("http://x/mcp", "t", true).length,
  );
});

Deno.test("[console] consent: the redirect host and its note are spaced, Allow and Deny apart", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const b = new BrowserHttp(s.url);
  await startSessionFor(s, b, w.user.user.id);
  const { registerPublicClient, authorizeUrl } = await import("../helpers/oauth_flow.ts");
  const { pkcePair } = await import("../helpers/oauth_client.ts");
  const clientId = await registerPublicClient(s.url);
  const { page } = await b.openConsent(
    authorizeUrl(s.url, { clientId, challenge: pkcePair().challenge }),
  );
  assert.match(page.text, /<\/strong><span class="muted"> \(an application on this computer\)/);
  assert.match(page.text, /<div class="actions"><button[^>]*value="approve"[\s\S]*?value="deny"/);
});
