/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.2.0-alpha.12, run
 * under Deno as a subprocess) against a real test server reached with an MCP token in the URL
 * (the suite's server mode cannot send a bearer header). Scenarios: server-initialize, ping,
 * tools-list and dns-rebinding-protection, for the 2025-11-25 and 2026-07-28 revisions.
 *
 * Not run: `http-header-validation` — its requests drop the URL's query string, so they arrive
 * unauthenticated and get this server's 401 before any header check.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createMcpUser } from "./helpers.ts";

const SUITE = "npm:@modelcontextprotocol/conformance@0.2.0-alpha.12";
/** Scenarios per revision (initialize and ping do not exist in 2026-07-28: the suite skips them). */
const SCENARIOS: Record<string, string[]> = {
  "2025-11-25": ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"],
  "2026-07-28": ["tools-list", "dns-rebinding-protection"],
};

async function runScenario(url: string, scenario: string, spec: string, cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-lock",
      "--no-config",
      SUITE,
      "server",
      "--url",
      url,
      "--scenario",
      scenario,
      "--spec-version",
      spec,
    ],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(90_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

for (const [spec, scenarios] of Object.entries(SCENARIOS)) {
  Deno.test(`[mcp conformance] ${scenarios.join(", ")} pass (${spec}, token in the URL)`, async () => {
    await using server = await startTestServer();
    const u = await createMcpUser(server, { email: "alice@example.com", role: "admin" });
    const cwd = await Deno.makeTempDir({ prefix: "conformance-" });
    try {
      const url = `http://localhost:${server.port}/mcp?token=${u.mcpToken}`;
      for (const scenario of scenarios) {
        const r = await runScenario(url, scenario, spec, cwd);
        assert.equal(r.code, 0, `${scenario} (${spec}) failed:\n${r.text.slice(-3000)}`);
        assert.match(r.text, /Passed: (\d+)\/\1, 0 failed/, `${scenario} (${spec}) summary`);
      }
    } finally {
      await Deno.remove(cwd, { recursive: true }).catch(() => {});
    }
  });
}
