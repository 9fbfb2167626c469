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
import { crc32, inflateSync } from "node:zlib";

const LEGACY = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
const CURRENT = "2026-07-28";

// deno-lint-ignore no-explicit-any
type Json = any;

function assertServerIdentity(s: TestServer, info: Json): void {
  assert.equal(info.name, "Dust");
  assert.equal(typeof info.version, "string");
  assert.match(info.description, /workspace/);
  assert.deepEqual(info.icons, [
    { src: `${s.config.publicUrl}/static/mcp/dust.svg`, mimeType: "image/svg+xml", sizes: ["any"] },
    { src: `${s.config.publicUrl}/static/mcp/dust.png`, mimeType: "image/png", sizes: ["48x48"] },
  ]);
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
  const send = async (m: Awaited<ReturnType<typeof modern>>) => {
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

Deno.test("[mcp protocol] both listed icons are served: the SVG, and a valid 48x48 RGBA PNG", async () => {
  await using s = await startTestServer();
  const svg = await fetch(`${s.url}/static/mcp/dust.svg`);
  assert.equal(svg.headers.get("content-type"), "image/svg+xml");
  assert.match(await svg.text(), /^<svg /);
  const res = await fetch(`${s.url}/static/mcp/dust.png`);
  assert.equal(res.headers.get("content-type"), "image/png");
  const png = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  // Walk the chunks: lengths, types and CRCs (checked with zlib's own crc32).
  const view = new DataView(png.buffer);
  const chunks = new Map<string, Uint8Array>();
  for (let at = 8; at < png.length;) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + len);
    assert.equal(view.getUint32(at + 8 + len), crc32(png.subarray(at + 4, at + 8 + len)), type);
    chunks.set(type, data);
    at += 12 + len;
  }
  assert.deepEqual([...chunks.keys()], ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(chunks.get("IHDR")!.slice().buffer);
  assert.deepEqual([ihdr.getUint32(0), ihdr.getUint32(4), ihdr.getUint8(8), ihdr.getUint8(9)], [
    48,
    48,
    8,
    6,
  ]);
  const raw = new Uint8Array(inflateSync(chunks.get("IDAT")!));
  assert.equal(raw.length, 48 * (1 + 48 * 4));
  const at = (x: number, y: number) => [...raw.subarray(y * 193 + 1 + x * 4, y * 193 + 5 + x * 4)];
  assert.deepEqual(at(17, 24), [0x41, 0x8b, 0x5c, 255], "the green dot");
  assert.deepEqual(at(0, 0), [0, 0, 0, 0], "transparent outside the rounded corner");
});
