/**
 * `deno run -A scripts/screenshots.ts`: the README's pictures of the console — a test server
 * with a seeded workspace (tests/helpers/console_admin_world.ts) in headless chromium, one PNG per
 * main page into docs/screenshots/ (1280×800, the top of the page).
 * @module
 */
import { startTestServer } from "../tests/helpers/server.ts";
import { seedConsoleWorld } from "../tests/helpers/console_admin_world.ts";
import { Browser } from "../tests/helpers/browser.ts";

const out = new URL("../docs/screenshots/", import.meta.url);
await Deno.mkdir(out, { recursive: true });
await using s = await startTestServer();
const w = await seedConsoleWorld(s, { audit: 400 });
await using b = await Browser.start();
await b.signInAs(s, w.admin.user.id);
const base = `${s.url}/w/${w.ws.sId}`;
const pages: [string, string][] = [
  ["home", base],
  ["pod", `${base}/pods/${w.podId}`],
  ["members", `${base}/members`],
  ["spaces", `${base}/spaces`],
  ["credentials", `${base}/credentials`],
  ["audit", `${base}/audit`],
  ["integrations", `${base}/integrations`],
];
for (const [name, url] of pages) {
  await b.goto(url);
  await b.screenshot(new URL(`${name}.png`, out).pathname, { width: 1280, height: 800 });
  console.log(`docs/screenshots/${name}.png`);
}
