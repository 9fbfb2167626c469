/**
 * The protocol surface of `/mcp`, byte-level: each of the four revisions the product serves
 * (2026-07-28 stateless, and 2025-11-25 / 2025-06-18 / 2025-03-26 through `initialize`) is
 * answered on the same path with the server's identity, its `instructions` and the tool list;
 * `identity` answers with `structuredContent` matching its declared `outputSchema`.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createMcpUser, rawMcp, rpcOf, TOOLS_CALL } from "./helpers.ts";
import { MCP_INSTRUCTIONS } from "../../src/mcp/server.ts";

const LEGACY = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
const CURRENT = "2026-07-28";

// deno-lint-ignore no-explicit-any
type Json = any;

function assertServerIdentity(s: TestServer, info: Json): void {
  assert.equal(info.name, "Dust");
  assert.equal(typeof info.version, "string");
  assert.match(info.description, /workspace/);
  assert.equal(info.icons[0].src, `${s.config.publicUrl}/static/mcp/dust.svg`);
}

function assertInstructions(text: string): void {
  assert.equal(text, MCP_INSTRUCTIONS);
  for (
    const term of [
      /Workspace:/,
      /Conversation:/,
      /Pod:/,
      /"conversation-<id>\/…" or "pod-<id>\/…"/,
      /Search:/,
      /hasMore/,
    ]
  ) {
    assert.match(text, term);
  }
}

function assertIdentityResult(result: Json, u: { user: { sId: string } }): void {
  const payload = JSON.parse(result.content[0].text);
  assert.equal(payload.id, u.user.sId);
  assert.deepEqual(result.structuredContent, payload, "structuredContent mirrors the text");
}

for (const version of LEGACY) {
  Deno.test(`[mcp protocol] ${version}: initialize, tools/list and tools/call on /mcp`, async () => {
    await using s = await startTestServer();
    const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
    const auth = { Authorization: `Bearer ${u.mcpToken}` };
    const init = await rawMcp(s, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: version,
        capabilities: {},
        clientInfo: { name: "raw", version: "0" },
      },
    }, { ...auth, "MCP-Protocol-Version": null });
    assert.equal(init.status, 200, init.text);
    const r = rpcOf(init.text).result as Json;
    assert.equal(r.protocolVersion, version, "the server answers in the client's revision");
    assert.ok(r.capabilities.tools);
    assertServerIdentity(s, r.serverInfo);
    assertInstructions(r.instructions);
    assert.equal(init.headers.get("mcp-session-id"), null, "stateless: no session id");

    const headers = { ...auth, "MCP-Protocol-Version": version };
    const list = await rawMcp(s, { jsonrpc: "2.0", id: 2, method: "tools/list" }, headers);
    const tools = (rpcOf(list.text).result as Json).tools as Json[];
    const identity = tools.find((t) => t.name === "identity");
    assert.equal(identity.annotations.readOnlyHint, true);
    assert.deepEqual(
      Object.keys(identity.outputSchema.properties).sort(),
      ["id", "name", "workspaceId", "workspaceName"],
    );
    assert.equal(tools.length, 17);
    const call = await rawMcp(s, TOOLS_CALL("identity", {}, 3), headers);
    assertIdentityResult(rpcOf(call.text).result, u);
  });
}

/** A 2026-07-28 request: the `_meta` envelope plus the Mcp-Method / Mcp-Name headers. */
function modern(token: string, method: string, params: Json = {}, name?: string) {
  const meta = {
    "io.modelcontextprotocol/protocolVersion": CURRENT,
    "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  return {
    body: { jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: meta } },
    headers: {
      Authorization: `Bearer ${token}`,
      "MCP-Protocol-Version": CURRENT,
      "Mcp-Method": method,
      ...(name ? { "Mcp-Name": name } : {}),
    },
  };
}

Deno.test(`[mcp protocol] ${CURRENT}: server/discover, tools/list and tools/call without a handshake`, async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const send = async (m: ReturnType<typeof modern>) => {
    const r = await rawMcp(s, m.body, m.headers);
    assert.equal(r.status, 200, r.text);
    return rpcOf(r.text).result as Json;
  };
  const discover = await send(modern(u.mcpToken, "server/discover"));
  assert.ok(discover.supportedVersions.includes(CURRENT));
  assertInstructions(discover.instructions);
  assertServerIdentity(s, discover._meta["io.modelcontextprotocol/serverInfo"]);
  const list = await send(modern(u.mcpToken, "tools/list"));
  assert.equal(list.tools.length, 17);
  const call = await send(
    modern(u.mcpToken, "tools/call", { name: "identity", arguments: {} }, "identity"),
  );
  assertIdentityResult(call, u);
});
