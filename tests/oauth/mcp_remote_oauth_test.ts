/**
 * mcp-remote (npm 0.15.1, under Node) doing the whole OAuth flow itself against a fresh
 * server, as a Cursor / Claude Desktop config without a token does: it discovers the
 * protected-resource and authorization-server metadata, registers with DCR, prints the
 * authorize URL (no browser can open here: BROWSER is a no-op), and waits on its loopback
 * callback. The test plays the user over plain HTTP (sign-in + consent) and hands the code to
 * mcp-remote's callback listener; the v1 SDK's stdio client then lists and calls tools
 * through the proxy. mcp-remote comes from the tools directory `.ci/run` installs from
 * `tests/helpers/node_tools.json`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";

function mcpRemoteProxy(): string {
  const dir = Deno.env.get("DUST_MCP_NODE_TOOLS") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache/dust-mcp/node-tools/node_modules");
  const proxy = join(dir, "mcp-remote/dist/proxy.js");
  try {
    Deno.statSync(proxy);
  } catch {
    throw new Error(`mcp-remote is not installed at ${proxy}: see tests/helpers/node_tools.json`);
  }
  return proxy;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Watch the child's stderr (a Node stream, kept flowing so the pipe never fills) until it
 * prints the authorize URL; rejects after `ms`.
 */
function authorizeUrlFrom(stderr: NodeJS.ReadableStream, ms: number): Promise<string> {
  let text = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`mcp-remote printed no authorize URL:\n${text}`)),
      ms,
    );
    stderr.on("data", (chunk: Uint8Array | string) => {
      text += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      const m = /Please authorize this client by visiting:\s*\n(\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

Deno.test("[oauth] mcp-remote completes discovery, DCR, consent and the code exchange by itself", async () => {
  const proxy = mcpRemoteProxy();
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const configDir = await Deno.makeTempDir({ prefix: "mcp-remote-oauth-" });
  const port = freePort();
  const transport = new StdioClientTransport({
    command: "/usr/bin/node",
    args: [
      proxy,
      `${server.url}/mcp`,
      String(port),
      "--host",
      "127.0.0.1",
      "--transport",
      "http-only",
    ],
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: configDir,
      MCP_REMOTE_CONFIG_DIR: configDir,
      BROWSER: "/bin/true",
    },
    stderr: "pipe",
  });
  const client = new Client({ name: "cursor-like", version: "1.0.0" });
  const connecting = client.connect(transport);
  connecting.catch(() => {}); // awaited below; a failure before that must not be unhandled
  try {
    const url = await authorizeUrlFrom(transport.stderr!, 60_000);
    const authorize = new URL(url);
    assert.equal(authorize.origin + authorize.pathname, `${server.config.publicUrl}/authorize`);
    assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
    assert.equal(authorize.searchParams.get("resource"), `${server.config.publicUrl}/mcp`);
    assert.equal(
      authorize.searchParams.get("redirect_uri"),
      `http://127.0.0.1:${port}/oauth/callback`,
    );
    const browser = new BrowserHttp(server.url);
    await browser.signIn(alice.email, alice.password);
    const callback = await browser.approve(url);
    assert.equal(callback.searchParams.get("iss"), server.config.publicUrl);
    const res = await fetch(callback);
    await res.body?.cancel();
    assert.equal(res.status, 200);
    await connecting;
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t: { name: string }) => t.name === "identity"));
    const r = await client.callTool({ name: "identity", arguments: {} });
    assert.equal(JSON.parse((r.content as { text: string }[])[0].text).id, alice.user.sId);
    const client_ = await server.deps.db.get(
      "SELECT client_name, kind FROM oauth_clients WHERE kind = 'dcr'",
    ) as { client_name: string; kind: string };
    assert.equal(client_.kind, "dcr", "mcp-remote registered itself");
  } finally {
    await client.close();
    await Deno.remove(configDir, { recursive: true }).catch(() => {});
  }
});
