/**
 * The relay with real parts on both ends: Dust's own client (`DustMcpServerTransport` from
 * `@dust-tt/client` 1.2.8) hosting an MCP SDK server, and the server side's MCP SDK `Client`
 * over {@link RelayClientTransport}.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { startLocalMcpServer } from "../helpers/local_mcp.ts";
import { createConversationWithMessage } from "../helpers/actors.ts";
import { connectRelayClient } from "../../src/relay/transport.ts";

Deno.test("[relay] an MCP SDK client lists and calls a tool of a DustMcpServerTransport server", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  await using local = await startLocalMcpServer(server, alice, { secret: "s3cr3t" });
  assert.match(local.serverId, /^mcp-client-side:local_tools\.[0-9a-f]{16}$/);

  const target = await createConversationWithMessage(server, alice);
  const client = await connectRelayClient(server.deps, { serverId: local.serverId, ...target });
  try {
    const tools = await client.listTools();
    assert.deepEqual(tools.tools.map((t) => t.name), ["get_secret", "progress_tool"]);
    const res = await client.callTool({ name: "get_secret", arguments: { label: "door" } });
    assert.deepEqual(res.content, [{ type: "text", text: "door: s3cr3t" }]);
    assert.deepEqual(local.calls, [{ label: "door" }]);
  } finally {
    await client.close();
  }
  // Every answered request left the replay log; only the last notification may remain.
  const left = await server.deps.db.get(
    "SELECT count(*) AS n FROM relay_requests WHERE request_id IS NOT NULL",
  ) as { n: number };
  assert.equal(left.n, 0);
});
