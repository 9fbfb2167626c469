/**
 * Hostile input on `/mcp`: broken JSON, wrong JSON-RPC shapes, batches, huge ids, unknown
 * methods, odd protocol headers and credentials; and `tools/call` on every tool the server
 * lists (read from `tools/list`, so new tools are covered) with arguments built from the tool's
 * own input schema plus path traversal, FTS syntax, SQL fragments and the other workspace's
 * ids. Answers are JSON-RPC errors or tool results, never 5xx, and never carry workspace B's
 * data to workspace A's token.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type FuzzWorld, startFuzzWorld } from "../helpers/fuzz_world.ts";
import {
  credential,
  fromSchema,
  hostileJson,
  hostileString,
  NASTY_STRINGS,
  scopedPath,
} from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send, tally } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";

const RPC_RUNS = 150;
const RUNS_PER_TOOL = 30;

/** Headers of a well-behaved MCP client (2025-06-18). */
const MCP_HEADERS = {
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  "MCP-Protocol-Version": "2025-06-18",
};

const HUGE_IDS: unknown[] = [
  2 ** 53 + 1,
  -1,
  1e308,
  0.5,
  "x".repeat(10_000),
  "",
  null,
  { nested: true },
  [1],
  true,
];

function rpcMessage(): fc.Arbitrary<unknown> {
  const id = fc.oneof(fc.integer(), fc.constantFrom(...HUGE_IDS), hostileString());
  const method = fc.oneof(
    fc.constantFrom(
      "initialize",
      "tools/list",
      "tools/call",
      "resources/list",
      "resources/read",
      "prompts/list",
      "prompts/get",
      "ping",
      "logging/setLevel",
      "completion/complete",
      "notifications/initialized",
      "notifications/cancelled",
      "server/discover",
      "rpc.discover",
      "__proto__",
    ),
    hostileString(),
  );
  const params = fc.oneof(
    hostileJson(2),
    fc.record({
      name: fc.oneof(fc.constantFrom("search", "files_cat", "identity", "nope"), hostileString()),
      arguments: hostileJson(2),
      protocolVersion: fc.constantFrom("2025-06-18", "2026-07-28", "1999-01-01", ""),
      capabilities: hostileJson(1),
      clientInfo: hostileJson(1),
      cursor: hostileString(),
      uri: hostileString(),
      _meta: hostileJson(1),
    }, { requiredKeys: [] }),
  );
  const message = fc.record({
    jsonrpc: fc.oneof(fc.constant("2.0"), fc.constantFrom("1.0", 2, null, "")),
    id,
    method,
    params,
  }, { requiredKeys: [] });
  return fc.oneof(
    { weight: 6, arbitrary: message },
    { weight: 1, arbitrary: fc.array(message, { maxLength: 5 }) },
    { weight: 1, arbitrary: hostileJson(2) },
  );
}

function rawBody(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: rpcMessage().map((m) => JSON.stringify(m)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        "{",
        '{"jsonrpc":"2.0","id":1,"method":"tools/list"',
        "[]",
        "[" + "[".repeat(5000),
        "\u0000",
        "null",
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"\\ud800"}}}',
      ),
    },
    { weight: 1, arbitrary: hostileString() },
  );
}

function headerVariants(): fc.Arbitrary<Record<string, string>> {
  return fc.record({
    "Content-Type": fc.constantFrom("application/json", "text/plain", "", "application/json; x"),
    Accept: fc.constantFrom(
      "application/json, text/event-stream",
      "application/json",
      "text/event-stream",
      "*/*",
      "",
    ),
    "MCP-Protocol-Version": fc.constantFrom(
      "2025-06-18",
      "2025-03-26",
      "2025-11-25",
      "2026-07-28",
      "1.0",
      "",
      "9999-99-99",
    ),
    Origin: fc.constantFrom("", "http://evil.example", "null"),
    "Mcp-Session-Id": fc.constantFrom("", "abc", "../../x"),
    Host: fc.constantFrom(
      "",
      "evil.example",
      "127.0.0.1:1",
      "localhost",
      "[::1]:80",
      "a".repeat(300),
    ),
    "Last-Event-ID": fc.constantFrom("", "0", "-1", "x"),
  }, { requiredKeys: [] }).map((h) =>
    Object.fromEntries(Object.entries(h).filter(([, v]) => v !== ""))
  );
}

Deno.test("[fuzz/mcp] malformed JSON-RPC, batches, huge ids, unknown methods and odd headers", async () => {
  await using world = await startFuzzWorld();
  const arb = fc.record({
    body: rawBody(),
    headers: fc.oneof(fc.constant(MCP_HEADERS), headerVariants()),
    creds: credential(world, ["a_mcp", "a_mcp", "a_oauth", "a_key", "b_mcp", "none", "garbage"]),
    method: fc.constantFrom("POST", "POST", "POST", "GET", "DELETE", "PUT"),
    inUrl: fc.boolean(),
    path: fc.constantFrom("/mcp", "/mcp/"),
  });
  await checkProperty(world, "/mcp raw", arb, async (c) => {
    const auth = c.creds.header.Authorization;
    const token = c.inUrl && auth?.startsWith("Bearer ") ? auth.slice(7) : null;
    const headers = { ...c.headers, ...(token ? {} : c.creds.header) };
    const req: FuzzRequest = {
      method: c.method,
      path: token ? `${c.path}?token=${encodeURIComponent(token)}` : c.path,
      headers,
      body: c.method === "GET" ? null : c.body,
      as: c.creds.as,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "mcp");
  }, RPC_RUNS);
});

/** The tools the server lists to A's MCP token, with their input schemas. */
async function listTools(
  world: FuzzWorld,
): Promise<Array<{ name: string; inputSchema: Record<string, unknown> }>> {
  const req: FuzzRequest = {
    method: "POST",
    path: "/mcp",
    headers: { ...MCP_HEADERS, Authorization: `Bearer ${world.a.mcpToken}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    as: world.a,
  };
  const res = await send(world, req);
  assert.equal(res.status, 200, res.text);
  const text = res.text.trim();
  const json = text.startsWith("{")
    ? JSON.parse(text)
    : JSON.parse(text.split("\n").find((l) => l.startsWith("data: "))!.slice(6));
  return json.result.tools;
}

/** Hostile strings tuned for tools: traversal, FTS5 syntax, SQL, regex bombs, ids. */
function toolString(world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    scopedPath(world, true),
    fc.constantFrom(...NASTY_STRINGS),
    fc.constantFrom(
      "(a+)+$",
      "[",
      "\\",
      "(?<x>a)\\k<y>",
      "a{1,99999}",
      ".*".repeat(50),
      `../../conversation-${world.b.ids.cId}`,
      world.b.ids.documentId,
      world.b.ids.fileId,
      `${world.b.ids.dsId}/${world.b.ids.documentId}`,
    ),
  );
}

Deno.test("[fuzz/mcp] tools/call on every listed tool with schema-shaped and hostile arguments", async () => {
  await using world = await startFuzzWorld();
  const tools = await listTools(world);
  assert.ok(tools.length >= 16, `only ${tools.length} tools`);
  for (const tool of tools) {
    const keys = Object.keys((tool.inputSchema.properties ?? {}) as Record<string, unknown>);
    const args = fc.boolean().chain((hostile) =>
      fc.oneof(
        { weight: 8, arbitrary: fromSchema({ world, root: {}, hostile }, tool.inputSchema) },
        {
          weight: 2,
          arbitrary: fc.dictionary(
            fc.constantFrom(...(keys.length ? keys : ["q"])),
            toolString(world),
          ),
        },
        { weight: 1, arbitrary: hostileJson(1) },
      )
    );
    const arb = fc.record({
      args,
      creds: credential(world, ["a_mcp", "a_mcp", "a_oauth", "b_mcp"]),
    });
    await checkProperty(world, `tools/call ${tool.name}`, arb, async (c) => {
      const req: FuzzRequest = {
        method: "POST",
        path: "/mcp",
        headers: { ...MCP_HEADERS, ...c.creds.header },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 7,
          method: "tools/call",
          params: { name: tool.name, arguments: c.args },
        }),
        as: c.creds.as,
      };
      const res = await send(world, req);
      checkResponse(world, req, res, "mcp");
      assert.equal(res.status, 200, `${tool.name}: ${res.status} ${res.text.slice(0, 300)}`);
      tally(`${tool.name} ${outcomeOf(res.text)}`);
    }, RUNS_PER_TOOL);
  }
});

/** "ok", "isError" or "rpc <code>" of a tools/call answer (JSON or one SSE event). */
function outcomeOf(text: string): string {
  const t = text.trim();
  const line = t.startsWith("{") ? t : t.split("\n").find((l) => l.startsWith("data: "))?.slice(6);
  const m = line ? JSON.parse(line) : null;
  if (m?.error) return `rpc ${m.error.code}`;
  return m?.result?.isError ? "isError" : "ok";
}

/** A 2026-07-28 stateless request: the `_meta` envelope, and Mcp-Method / Mcp-Name headers. */
function modernRequest(world: FuzzWorld) {
  const validMeta = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": { name: "fuzz", version: "0" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  const hostileMeta = fc.record({
    "io.modelcontextprotocol/protocolVersion": fc.oneof(
      fc.constantFrom("2026-07-28", "2025-06-18", "2099-01-01"),
      hostileJson(0),
    ),
    "io.modelcontextprotocol/clientInfo": hostileJson(1),
    "io.modelcontextprotocol/clientCapabilities": hostileJson(1),
  }, { requiredKeys: [] });
  const method = fc.constantFrom(
    "server/discover",
    "tools/list",
    "tools/call",
    "tools/call",
    "initialize",
    "ping",
    "resources/list",
  );
  const tools = fc.constantFrom("search", "identity", "files_cat", "get_pod", "nope");
  return fc.record({
    method,
    name: tools,
    // Which part (if any) is wrong: the headers must echo the body in this revision.
    broken: fc.constantFrom("none", "none", "none", "method", "name", "meta"),
    junk: hostileString().map(headerSafe),
    meta: hostileMeta,
    args: fc.oneof(
      fc.constant({ query: "alpha" }),
      fc.constant({ podId: world.b.ids.podId }),
      fc.constant({ scope: { type: "pod", pod_id: world.b.ids.podId }, path: "notes-b.txt" }),
      hostileJson(1),
    ),
    creds: credential(world, ["a_mcp", "a_mcp", "a_oauth", "b_mcp", "none"]),
  }).map((c) => ({ ...c, validMeta }));
}

/** Header values are ByteStrings: keep printable ASCII. */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "").slice(0, 500);
}

Deno.test("[fuzz/mcp] 2026-07-28 requests with hostile envelopes and mismatched Mcp-Method / Mcp-Name", async () => {
  await using world = await startFuzzWorld();
  await checkProperty(world, "/mcp 2026-07-28", modernRequest(world), async (c) => {
    const meta = c.broken === "meta" ? c.meta : c.validMeta;
    const params = c.method === "tools/call"
      ? { name: c.name, arguments: c.args, _meta: meta }
      : { _meta: meta };
    const headers: Record<string, string> = {
      ...MCP_HEADERS,
      "MCP-Protocol-Version": "2026-07-28",
      "Mcp-Method": c.broken === "method" ? c.junk : c.method,
      ...c.creds.header,
    };
    if (c.method === "tools/call") headers["Mcp-Name"] = c.broken === "name" ? c.junk : c.name;
    const req: FuzzRequest = {
      method: "POST",
      path: "/mcp",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: c.method, params }),
      as: c.creds.as,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "mcp");
    tally(`2026 ${c.method} ${c.broken} ${res.status}`);
  }, 100);
});

Deno.test("[fuzz/mcp] catastrophic files_grep patterns are answered, never stopped at the grep time limit", async () => {
  await using world = await startFuzzWorld();
  const scope = { type: "pod", pod_id: world.a.ids.podId };
  const path = `pod-${world.a.ids.podId}/bomb.txt`;
  const call = async (name: string, args: Record<string, unknown>) => {
    const req: FuzzRequest = {
      method: "POST",
      path: "/mcp",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${world.a.mcpToken}` },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name, arguments: args },
      }),
      as: world.a,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "mcp");
    return res;
  };
  const content = "a".repeat(40_000) + "!\n" + "ab".repeat(100) + "\n";
  await call("files_create", { scope, path, content, content_type: "text/plain" });
  // Before RE2, each of these ran on a worker until the 2 s limit, and terminate() did not stop
  // the RegExp: every call left a thread burning a core for the life of the process. (The CPU
  // itself is not measured here: `deno test --parallel` runs other modules in this process.)
  for (const pattern of ["(a+)+$", "(a|a)*b", "(a*)*b", "^(a|aa)+$", "(?:a+){10}b", "(.*a){12}"]) {
    const res = await call("files_grep", { scope, path, pattern });
    assert.equal(res.status, 200);
    // Deterministic, unlike a timing: the old engine answered the 2 s time-limit message.
    assert.doesNotMatch(res.text, /took longer than/, `${pattern}: ${res.text.slice(0, 300)}`);
    assert.doesNotMatch(res.text, /"isError":true/, `${pattern}: ${res.text.slice(0, 300)}`);
  }
});
