/**
 * The MCP server SDK (and RE2) load on first use, not at start-up (issue 15 item 5): what the
 * server repeats from the SDK must equal the SDK's, and the start-up import graph must not
 * reach it again.
 */
import assert from "node:assert/strict";
import * as sdk from "@modelcontextprotocol/server";
import {
  isInputRequiredResult,
  localhostAllowedHostnames,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
} from "../../src/mcp/sdk.ts";
import { checkHostHeader, checkOriginHeader } from "../../src/mcp/host_check.ts";

Deno.test("[lazy sdk] the constants and checks repeated from the SDK equal the SDK's", () => {
  assert.equal(LOG_LEVEL_META_KEY, sdk.LOG_LEVEL_META_KEY);
  assert.equal(PROTOCOL_VERSION_META_KEY, sdk.PROTOCOL_VERSION_META_KEY);
  assert.deepEqual(localhostAllowedHostnames(), sdk.localhostAllowedHostnames());
  const samples = [
    null,
    [],
    "input_required",
    { resultType: "input_required" },
    { resultType: "complete" },
    sdk.inputRequired({ requestState: "s" }),
    { content: [] },
  ];
  for (const v of samples) {
    assert.equal(isInputRequiredResult(v), sdk.isInputRequiredResult(v), JSON.stringify(v));
  }
});

Deno.test("[lazy sdk] Host and Origin checks answer as the SDK's validators", () => {
  const allowed = ["localhost", "127.0.0.1", "[::1]", "mcp.example.com"];
  const hosts = [
    undefined,
    "",
    "localhost",
    "localhost:4310",
    "127.0.0.1:1",
    "[::1]:80",
    "evil.example",
    "mcp.example.com",
    "mcp.example.com.evil.example",
    "a b",
    "localhost@evil.example",
  ];
  for (const h of hosts) {
    const ours = checkHostHeader(h, allowed);
    const theirs = sdk.validateHostHeader(h, allowed);
    assert.equal(ours.ok, theirs.ok, `Host ${h}`);
    if (!ours.ok && !theirs.ok) assert.equal(ours.message, theirs.message);
  }
  const origins = [
    undefined,
    "",
    "http://localhost:3000",
    "https://mcp.example.com",
    "https://evil.example",
    "null",
    "vscode-webview://abc",
    "file://",
    "http://[::1]:8080",
  ];
  for (const allow of [allowed, [...allowed, "vscode-webview://*"]]) {
    for (const o of origins) {
      const ours = checkOriginHeader(o, allow);
      const theirs = sdk.validateOriginHeader(o, allow);
      assert.equal(ours.ok, theirs.ok, `Origin ${o}`);
      if (!ours.ok && !theirs.ok) assert.equal(ours.message, theirs.message);
    }
  }
});

/** npm packages main.ts reaches through static imports only (what every start loads). */
async function staticNpmPackages(): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../../main.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, "deno info runs");
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    redirects?: Record<string, string>;
    modules: {
      specifier: string;
      dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const npm = new Set<string>();
  const stack = [...info.roots];
  while (stack.length > 0) {
    let s = stack.pop()!;
    s = info.redirects?.[s] ?? s;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      const target = d.code?.specifier;
      if (!target || d.isDynamic) continue;
      if (target.startsWith("npm:")) {
        // npm:/@scope/name@1.2.3/sub/path → @scope/name
        npm.add(/^((?:@[^/]+\/)?[^@/]+)/.exec(target.replace(/^npm:\/?/, ""))![1]);
      } else stack.push(target);
    }
  }
  return npm;
}

Deno.test("[lazy sdk] starting the server does not import the MCP server SDK or RE2", async () => {
  const npm = await staticNpmPackages();
  assert.ok(npm.has("hono"), `the walk finds the static packages (${[...npm].join(", ")})`);
  for (const lazy of ["@modelcontextprotocol/server", "@modelcontextprotocol/hono", "re2js"]) {
    assert.ok(![...npm].some((p) => p.startsWith(lazy)), `${lazy} is loaded on first use`);
  }
});
