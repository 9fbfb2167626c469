/**
 * A headless Debian chromium (playwright-core) driven over standard input, one JSON command a
 * line, one JSON answer a line. It runs as a separate process because playwright-core probes
 * /proc at import time, which Deno grants only with --allow-all (tests/helpers/browser.ts
 * starts it and speaks the protocol):
 *
 *   deno run -A tests/helpers/browser_driver.ts
 *
 * Every page gets, before its own scripts, a listener recording Content-Security-Policy
 * violations (`csp`), and `axe` runs axe-core (npm, injected through the DevTools protocol,
 * which the page's CSP does not govern) and answers its serious and critical violations.
 * @module
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";
import axe from "axe-core";
import { Buffer } from "node:buffer";

type Command =
  | { op: "goto"; url: string }
  | { op: "cookie"; url: string; name: string; value: string }
  | { op: "clearCookies" }
  | { op: "fill"; selector: string; value: string }
  | { op: "select"; selector: string; value: string }
  | { op: "check"; selector: string }
  | { op: "click"; selector: string; navigate?: boolean }
  | { op: "text"; selector: string }
  | { op: "texts"; selector: string }
  | { op: "count"; selector: string }
  | { op: "attr"; selector: string; name: string }
  | { op: "eval"; expression: string }
  | { op: "csp" }
  | { op: "axe" }
  | { op: "screenshot"; path: string; fullPage?: boolean; width?: number; height?: number }
  | { op: "viewport"; width: number; height: number }
  | { op: "setInputFile"; selector: string; name: string; mimeType: string; base64: string }
  | { op: "close" };

const RECORD_CSP = `
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
  });
`;

async function start(): Promise<{ context: BrowserContext; page: Page; profile: string }> {
  const profile = await Deno.makeTempDir({ prefix: "dust-mcp-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    timeout: 60_000,
    viewport: { width: 1280, height: 800 },
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
  await context.addInitScript(RECORD_CSP);
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(30_000);
  return { context, page, profile };
}

const { context, page, profile } = await start();
const consoleErrors: string[] = [];
page.on("console", (m) => {
  if (m.type() === "error") consoleErrors.push(m.text());
});

async function run(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case "goto": {
      consoleErrors.length = 0;
      const res = await page.goto(cmd.url, { waitUntil: "load" });
      return { status: res?.status() ?? 0, url: page.url(), title: await page.title() };
    }
    case "cookie":
      await context.addCookies([{ url: cmd.url, name: cmd.name, value: cmd.value }]);
      return null;
    case "clearCookies":
      await context.clearCookies();
      return null;
    case "fill":
      await page.fill(cmd.selector, cmd.value);
      return null;
    case "select":
      await page.selectOption(cmd.selector, cmd.value);
      return null;
    case "check":
      await page.check(cmd.selector);
      return null;
    case "click": {
      if (!cmd.navigate) {
        await page.click(cmd.selector);
        return { url: page.url() };
      }
      consoleErrors.length = 0;
      const [res] = await Promise.all([
        page.waitForNavigation({ waitUntil: "load" }),
        page.click(cmd.selector),
      ]);
      return { status: res?.status() ?? 0, url: page.url(), title: await page.title() };
    }
    case "text":
      return await page.locator(cmd.selector).first().textContent();
    case "texts":
      return await page.locator(cmd.selector).allTextContents();
    case "count":
      return await page.locator(cmd.selector).count();
    case "attr":
      return await page.locator(cmd.selector).first().getAttribute(cmd.name);
    case "eval":
      return await page.evaluate(cmd.expression);
    case "csp":
      return {
        violations: await page.evaluate("window.__csp || []"),
        consoleErrors: [...consoleErrors],
      };
    case "axe": {
      await page.evaluate(axe.source);
      const result = await page.evaluate(`axe.run(document, {
        resultTypes: ["violations"],
      }).then((r) => r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })))`);
      return result;
    }
    case "viewport":
      await page.setViewportSize({ width: cmd.width, height: cmd.height });
      return null;
    case "screenshot":
      if (cmd.width && cmd.height) {
        await page.setViewportSize({ width: cmd.width, height: cmd.height });
      }
      await page.screenshot({ path: cmd.path, fullPage: cmd.fullPage ?? false });
      return null;
    case "setInputFile":
      await page.setInputFiles(cmd.selector, {
        name: cmd.name,
        mimeType: cmd.mimeType,
        buffer: Buffer.from(cmd.base64, "base64"),
      });
      return null;
    case "close":
      return null;
  }
}

const decoder = new TextDecoder();
let buffered = "";
const encoder = new TextEncoder();
const reply = (v: unknown) => Deno.stdout.writeSync(encoder.encode(JSON.stringify(v) + "\n"));
try {
  outer: for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      const cmd = JSON.parse(line) as Command;
      try {
        reply({ ok: true, value: await run(cmd) });
      } catch (e) {
        reply({ ok: false, error: (e as Error).message.split("\n").slice(0, 6).join("\n") });
      }
      if (cmd.op === "close") break outer;
    }
  }
} finally {
  await context.close();
  await Deno.remove(profile, { recursive: true }).catch(() => {});
}
