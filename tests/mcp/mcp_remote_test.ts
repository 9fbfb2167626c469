/**
 * mcp-remote (npm, 0.15.1) as a stdio proxy in front of `/mcp` in token-header mode — the
 * setup Cursor, Windsurf and Claude Desktop configs use — driven by the v1 SDK's stdio
 * client: it lists the tools and calls them. mcp-remote runs under Node from the tools
 * directory `.ci/run` installs from `tests/helpers/node_tools.json`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { startTestServer } from "../helpers/server.ts";
import { createMcpUser } from "./helpers.ts";
import { flushAuditLog } from "../../src/core/audit.ts";

function nodeTools(): string {
  const dir = Deno.env.get("DUST_MCP_NODE_TOOLS") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache/dust-mcp/node-tools/node_modules");
  const proxy = join(dir, "mcp-remote/dist/proxy.js");
  try {
    Deno.statSync(proxy);
  } catch {
    throw new Error(
      `mcp-remote is not installed at ${proxy}: install tests/helpers/node_tools.json (see .ci/run)`,
    );
  }
  return proxy;
}

Deno.test("[mcp remote] mcp-remote stdio proxy with a bearer header lists and calls tools", async () => {
  const proxy = nodeTools();
  await using server = await startTestServer();
  const u = await createMcpUser(server, { email: "alice@example.com", role: "admin" });
  const configDir = await Deno.makeTempDir({ prefix: "mcp-remote-" });
  const transport = new StdioClientTransport({
    command: "/usr/bin/node",
    args: [
      proxy,
      `${server.url}/mcp`,
      "--transport",
      "http-only",
      "--header",
      `Authorization: Bearer ${u.mcpToken}`,
      "--silent",
    ],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir },
    stderr: "ignore",
  });
  const client = new Client({ name: "cursor-like", version: "1.0.0" });
  try {
    await client.connect(transport);
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t: { name: string }) => t.name === "files_grep"));
    assert.equal(tools.tools.length, 17);
    const r = await client.callTool({ name: "identity", arguments: {} });
    const me = JSON.parse((r.content as { text: string }[])[0].text);
    assert.equal(me.id, u.user.sId);
    const pods = await client.callTool({ name: "list_pods", arguments: {} });
    assert.deepEqual(JSON.parse((pods.content as { text: string }[])[0].text), {
      count: 0,
      pods: [],
    });
  } finally {
    await client.close();
    await Deno.remove(configDir, { recursive: true }).catch(() => {});
  }
  await flushAuditLog(server.deps.db);
  const rows = await server.deps.db.all(
    "SELECT tool FROM audit_log WHERE credential_id = ? ORDER BY id",
    u.mcpTokenSId,
  ) as { tool: string }[];
  assert.deepEqual(
    rows.map((r) => r.tool),
    ["identity", "list_pods"],
    "calls through the proxy are audited",
  );
});
