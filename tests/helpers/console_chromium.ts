/**
 * A driver for Debian's chromium (playwright-core), run as a separate process (playwright-core
 * probes /proc at import time, which needs --allow-all; the test runner grants explicit
 * permissions): it reads one JSON command per line on stdin and answers one JSON line on
 * stdout, so a test interleaves browser steps with its own checks (MCP calls, database).
 * Each `open` is a fresh browser context (one member's cookies). `axe` runs axe-core
 * (injected through the DevTools protocol, which the page's CSP does not govern) and returns
 * the serious and critical violations. Console messages about the Content-Security-Policy and
 * page errors are collected per page (`problems`). Used by {@link ConsoleBrowser}.
 *
 *   deno run -A tests/helpers/console_chromium.ts
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";
import axe from "axe-core";

export type Command =
  | { op: "open"; cookies: { name: string; value: string; url: string }[]; javaScript?: boolean }
  | { op: "goto"; page: number; url: string }
  | { op: "axe"; page: number }
  | { op: "fill"; page: number; selector: string; value: string }
  | { op: "select"; page: number; selector: string; value: string }
  | { op: "setFile"; page: number; selector: string; path: string }
  | { op: "submit"; page: number; selector: string }
  | { op: "text"; page: number; selector: string }
  | { op: "waitText"; page: number; selector: string; text: string; timeoutMs?: number }
  | { op: "waitGone"; page: number; selector: string; timeoutMs?: number }
  | { op: "state"; page: number }
  | { op: "screenshot"; page: number; path: string }
  | { op: "quit" };

const AXE_SOURCE = (axe as unknown as { source: string }).source;

const browser = await chromium.launch({
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
const pages: { page: Page; context: BrowserContext; problems: string[]; status: number | null }[] =
  [];

function pageOf(i: number) {
  const p = pages[i];
  if (!p) throw new Error(`no page ${i}`);
  return p;
}

async function run(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case "open": {
      const context = await browser.newContext({
        javaScriptEnabled: cmd.javaScript ?? true,
        viewport: { width: 1280, height: 900 },
      });
      if (cmd.cookies.length) await context.addCookies(cmd.cookies);
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      const entry = { page, context, problems: [] as string[], status: null as number | null };
      page.on("console", (m) => {
        if (/Content.Security.Policy|Refused to/i.test(m.text())) entry.problems.push(m.text());
      });
      page.on("pageerror", (e) => entry.problems.push(`page error: ${e.message}`));
      page.on("response", (r) => {
        if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
          entry.status = r.status();
        }
      });
      pages.push(entry);
      return { page: pages.length - 1 };
    }
    case "goto": {
      const p = pageOf(cmd.page);
      const r = await p.page.goto(cmd.url, { waitUntil: "load" });
      return { status: r?.status() ?? null, url: p.page.url() };
    }
    case "axe": {
      const { page } = pageOf(cmd.page);
      await page.evaluate(AXE_SOURCE);
      // A string: evaluated in the page (its globals), not type-checked here.
      const result = await page.evaluate(
        `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help,
          targets: v.nodes.slice(0, 3).map((n) => String(n.target)) })))`,
      );
      return {
        violations: (result as { impact: string }[]).filter((v) =>
          v.impact === "serious" || v.impact === "critical"
        ),
        minor: (result as { id: string; impact: string }[]).filter((v) =>
          v.impact !== "serious" && v.impact !== "critical"
        ).map((v) => `${v.id} (${v.impact})`),
      };
    }
    case "fill":
      await pageOf(cmd.page).page.fill(cmd.selector, cmd.value);
      return {};
    case "select":
      await pageOf(cmd.page).page.selectOption(cmd.selector, cmd.value);
      return {};
    case "setFile":
      await pageOf(cmd.page).page.setInputFiles(cmd.selector, cmd.path);
      return {};
    case "submit": {
      const p = pageOf(cmd.page);
      await Promise.all([
        p.page.waitForNavigation({ waitUntil: "load" }),
        p.page.click(cmd.selector),
      ]);
      return { url: p.page.url(), status: p.status };
    }
    case "text":
      return { text: await pageOf(cmd.page).page.locator(cmd.selector).first().textContent() };
    case "waitText": {
      const { page } = pageOf(cmd.page);
      // A locator wait, not waitForFunction with a string: the pages' CSP forbids eval, and
      // Playwright evaluates a string predicate with eval when it polls again after a change.
      await page.locator(cmd.selector, { hasText: cmd.text }).first().waitFor({
        state: "attached",
        timeout: cmd.timeoutMs ?? 20_000,
      });
      return {};
    }
    case "waitGone": {
      const { page } = pageOf(cmd.page);
      await page.waitForSelector(cmd.selector, {
        state: "detached",
        timeout: cmd.timeoutMs ?? 20_000,
      });
      await page.waitForLoadState("load");
      return {};
    }
    case "state": {
      const p = pageOf(cmd.page);
      return {
        url: p.page.url(),
        status: p.status,
        text: await p.page.locator("body").innerText(),
        problems: p.problems,
      };
    }
    case "screenshot":
      await pageOf(cmd.page).page.screenshot({ path: cmd.path, fullPage: true });
      return {};
    case "quit":
      return {};
  }
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffer = "";
const encoder = new TextEncoder();
try {
  outer: for await (const chunk of lines) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.trim()) continue;
      const cmd = JSON.parse(line) as Command;
      let answer: unknown;
      try {
        answer = { ok: true, value: await run(cmd) };
      } catch (e) {
        answer = { ok: false, error: e instanceof Error ? e.message : String(e) };
      }
      await Deno.stdout.write(encoder.encode(JSON.stringify(answer) + "\n"));
      if (cmd.op === "quit") break outer;
    }
  }
} finally {
  await browser.close();
}
