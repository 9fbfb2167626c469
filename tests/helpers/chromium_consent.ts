/**
 * Drive Debian's chromium (playwright-core) through sign-in and consent, as a separate process:
 * playwright-core probes paths under /proc at import time, which Deno grants only with
 * --allow-all, and the test runner runs with explicit permissions. Run by
 * tests/oauth/browser_test.ts:
 *
 *   deno run -A tests/helpers/chromium_consent.ts <authorizeUrl> <email> <password> <callbackPrefix>
 *
 * Prints one JSON line: { heading, scopes, finalUrl }.
 */
import { chromium } from "playwright-core";

const [authorizeUrl, email, password, callbackPrefix] = Deno.args;
const profile = await Deno.makeTempDir({ prefix: "dust-mcp-chromium-" });
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  timeout: 60_000,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(authorizeUrl);
  const heading = await page.locator("h1").textContent();
  await page.click("text=Open dust-mcp sign-in");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("button[value=approve]");
  const scopes = await page.locator("li[data-scope]").evaluateAll((els) =>
    els.map((e) => e.getAttribute("data-scope"))
  );
  const title = await page.locator("h1").textContent();
  await page.click("button[value=approve]");
  await page.waitForURL((u) => u.href.startsWith(callbackPrefix));
  console.log(JSON.stringify({ heading, title, scopes, finalUrl: page.url() }));
} finally {
  await context.close();
  await Deno.remove(profile, { recursive: true }).catch(() => {});
}
