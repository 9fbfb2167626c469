/**
 * MCP logging through real clients: nothing is sent before the client asks; on the 2025
 * revisions `logging/setLevel` (v1 and v2 clients) sets the level for the next calls of that
 * credential and client only, whose logs arrive on the call's own response stream; on
 * 2026-07-28 the level travels in each request's `_meta` (v2 client). Capabilities declare
 * logging and no list that could change.
 */
import assert from "node:assert/strict";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { startTestServer } from "../helpers/server.ts";
import { type AnyClient, connectV1, connectV2, createMcpUser } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Collect the log notifications a client receives. */
function collectLogs(c: AnyClient): Json[] {
  const logs: Json[] = [];
  if (c.sdk === "v1") {
    c.raw.setNotificationHandler(LoggingMessageNotificationSchema, (n: Json) => {
      logs.push(n.params);
    });
  } else {
    c.raw.setNotificationHandler("notifications/message", (n: Json) => {
      logs.push(n.params);
    });
  }
  return logs;
}

for (const sdk of ["v1", "v2"] as const) {
  Deno.test(`[mcp logging] ${sdk} client on 2025-11-25: logging/setLevel, then logs of its calls at that level`, async () => {
    await using s = await startTestServer();
    const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
    const bob = await createMcpUser(s, {
      email: "bob@example.com",
      role: "user",
      workspace: alice.workspace,
    });
    await using c = sdk === "v1"
      ? await connectV1(s, alice.mcpToken)
      : await connectV2(s, alice.mcpToken, "legacy");
    const caps = c.raw.getServerCapabilities();
    assert.deepEqual(caps.logging, {});
    assert.deepEqual(caps.tools, { listChanged: false });
    assert.deepEqual(caps.prompts, { listChanged: false });
    assert.equal(caps.resources.listChanged, false);
    assert.equal(caps.resources.subscribe, false, "no session: updates cannot be delivered");
    const logs = collectLogs(c);
    await c.callTool({ name: "identity" });
    assert.equal(logs.length, 0, "no level asked: no logs");

    await c.raw.setLoggingLevel("debug");
    await c.callTool({ name: "identity" });
    await c.callTool({ name: "get_pod", arguments: { podId: "vlt_nope" } });
    assert.deepEqual(logs.map((l) => [l.level, l.logger, l.data.tool, l.data.outcome]), [
      ["debug", "dust", "identity", "success"],
      ["warning", "dust", "get_pod", "error"],
    ]);
    assert.equal(logs[1].data.error, "Pod not found or you do not have access.");

    await c.raw.setLoggingLevel("error");
    logs.length = 0;
    await c.callTool({ name: "identity" });
    await c.callTool({ name: "get_pod", arguments: { podId: "vlt_nope" } });
    assert.equal(logs.length, 0, "below the level");

    // Another credential did not ask for logs.
    await using other = sdk === "v1"
      ? await connectV1(s, bob.mcpToken)
      : await connectV2(s, bob.mcpToken, "legacy");
    const otherLogs = collectLogs(other);
    await other.callTool({ name: "get_pod", arguments: { podId: "vlt_nope" } });
    assert.equal(otherLogs.length, 0);
  });
}

Deno.test("[mcp logging] v2 client on 2026-07-28: the level travels in each request's _meta", async () => {
  await using s = await startTestServer();
  const alice = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  await using c = await connectV2(s, alice.mcpToken, "auto");
  assert.equal(c.protocolVersion(), "2026-07-28");
  assert.deepEqual(c.raw.getServerCapabilities().logging, {});
  const logs = collectLogs(c);
  await c.callTool({ name: "identity" });
  assert.equal(logs.length, 0);
  const meta = { "io.modelcontextprotocol/logLevel": "debug" };
  await c.raw.callTool({ name: "identity", arguments: {}, _meta: meta });
  await c.raw.callTool({ name: "get_pod", arguments: { podId: "vlt_nope" }, _meta: meta });
  assert.deepEqual(logs.map((l) => [l.level, l.data.tool]), [
    ["debug", "identity"],
    ["warning", "get_pod"],
  ]);
  logs.length = 0;
  await c.raw.callTool({
    name: "identity",
    arguments: {},
    _meta: { "io.modelcontextprotocol/logLevel": "warning" },
  });
  assert.equal(logs.length, 0);
});
