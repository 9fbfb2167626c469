/**
 * Narrowed endpoints: `/mcp/x/<toolsets>` and `?toolsets=` serve only those toolsets' tools
 * (plus `identity`), `/mcp/readonly` only read tools whatever the token's scopes (a write tool
 * is unknown there, on the SDK path and on the fast path alike, and never asks for a scope),
 * the forms combine, bad URLs are refused before authentication, and every form is the same
 * OAuth resource: a token obtained through a narrowed URL works on all of them.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import {
  CLIENT_STYLES,
  CLIENTS,
  connectV1,
  createMcpUser,
  oauthTokenByFlow,
  payloadOf,
  rawMcp,
  rpcOf,
  TOOLS_CALL,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const READ_TOOLS = [
  "identity",
  "list_agents",
  "list_conversations",
  "get_conversation_messages",
  "list_pods",
  "get_pod",
  "get_pod_tasks",
  "search",
  "fetch",
  "files_list",
  "files_cat",
  "files_grep",
  "files_resolve",
];

for (const [label, connect] of Object.entries(CLIENTS)) {
  Deno.test(`[mcp endpoints] ${label}: toolsets in the path or the query, read-only, combined`, async () => {
    await using s = await startTestServer();
    const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
    const names = async (path: string) => {
      await using c = await connect(s, u.mcpToken, path);
      return (await c.listTools()).tools.map((t) => t.name);
    };
    assert.deepEqual(await names("/mcp/x/search,files"), [
      "identity",
      "search",
      "fetch",
      "files_list",
      "files_cat",
      "files_create",
      "files_grep",
      "files_resolve",
    ]);
    assert.deepEqual(await names("/mcp?toolsets=pods"), [
      "identity",
      "list_pods",
      "get_pod",
      "get_pod_tasks",
    ]);
    assert.deepEqual(await names("/mcp/readonly"), READ_TOOLS);
    assert.deepEqual(await names("/mcp?readonly=true"), READ_TOOLS);
    assert.deepEqual(await names("/mcp/x/conversations/readonly"), [
      "identity",
      "list_conversations",
      "get_conversation_messages",
    ]);
    await using ro = await connect(s, u.mcpToken, "/mcp/readonly");
    await assert.rejects(
      ro.callTool({
        name: "create_conversation",
        arguments: { title: "x" },
      }),
      /Tool create_conversation not found/,
    );
    assert.equal(payloadOf(await ro.callTool({ name: "identity" })).id, u.user.sId);
  });
}

Deno.test("[mcp endpoints] read-only refuses writes on the fast path too, without a scope challenge", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const auth = { Authorization: `Bearer ${u.mcpToken}` };
  const create = TOOLS_CALL("files_create", {
    scope: { type: "pod", pod_id: "vlt_x" },
    path: "pod-vlt_x/a.txt",
    content: "x",
    content_type: "text/plain",
  });
  for (const headers of [auth, { ...auth, "MCP-Protocol-Version": null }]) {
    const r = await rawMcp(s, create, headers, "/mcp/readonly");
    assert.equal(r.status, 200);
    const msg = rpcOf(r.text) as Json;
    assert.equal(msg.error.code, -32602);
    assert.equal(msg.error.message, "Tool files_create not found");
  }
  const narrowed = await rawMcp(s, TOOLS_CALL("search", { query: "x" }), auth, "/mcp/x/pods");
  assert.equal((rpcOf(narrowed.text) as Json).error.message, "Tool search not found");
  // The token in the URL works on every form.
  const viaUrl = await rawMcp(
    s,
    TOOLS_CALL("identity"),
    {},
    `/mcp/x/pods/readonly?token=${u.mcpToken}`,
  );
  assert.equal(JSON.parse((rpcOf(viaUrl.text) as Json).result.content[0].text).id, u.user.sId);
});

Deno.test("[mcp endpoints] bad endpoint URLs: unknown toolset 400, toolsets twice 400, unknown path 404", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  const auth = { Authorization: `Bearer ${u.mcpToken}` };
  const bad = await rawMcp(s, TOOLS_CALL("identity"), auth, "/mcp/x/search,nope");
  assert.equal(bad.status, 400);
  assert.match(
    (JSON.parse(bad.text) as Json).error.message,
    /Unknown toolset: nope\. Toolsets: identity, agents, conversations, pods, search, files\./,
  );
  const twice = await rawMcp(s, TOOLS_CALL("identity"), auth, "/mcp/x/search?toolsets=files");
  assert.equal(twice.status, 400);
  const unknown = await rawMcp(s, TOOLS_CALL("identity"), auth, "/mcp/other");
  assert.equal(unknown.status, 404);
  // Refused before authentication: no token needed to learn the URL is wrong.
  assert.equal((await rawMcp(s, TOOLS_CALL("identity"), {}, "/mcp/x/nope")).status, 400);
});

Deno.test("[mcp endpoints] OAuth through a narrowed URL (v1 and v2 auth()): the token is for /mcp and works everywhere", async () => {
  await using s = await startTestServer();
  const u = await createMcpUser(s, { email: "alice@example.com", role: "admin" });
  for (const sdk of ["v1", "v2"] as const) {
    const token = await oauthTokenByFlow(
      s,
      u,
      CLIENT_STYLES.claude,
      sdk,
      undefined,
      "/mcp/x/search/readonly",
    );
    await using narrowed = await connectV1(s, token, "/mcp/x/search/readonly");
    assert.deepEqual((await narrowed.listTools()).tools.map((t) => t.name), [
      "identity",
      "search",
      "fetch",
    ]);
    await using full = await connectV1(s, token);
    assert.equal((await full.listTools()).tools.length, 17);
  }
});

Deno.test("[mcp endpoints] the Integrations page builds the narrowed URL and every snippet uses it", async () => {
  await using s = await startTestServer();
  const alice = await createPasswordUser(s, { email: "alice@example.com" });
  const b = new BrowserHttp(s.url);
  await b.signIn(alice.email, alice.password);
  const path = `/w/${alice.workspace.sId}/integrations`;
  const plain = await b.get(path);
  assert.equal(
    /<pre id="endpoint-url">([^<]+)<\/pre>/.exec(plain.text)![1],
    `${s.config.publicUrl}/mcp`,
  );
  assert.match(plain.text, /<label for="toolset-search">search: /);
  const page = await b.get(`${path}?toolsets=search&toolsets=files&toolsets=bogus&readonly=1`);
  assert.equal(page.status, 200);
  const url = /<pre id="endpoint-url">([^<]+)<\/pre>/.exec(page.text)![1];
  assert.equal(url, `${s.config.publicUrl}/mcp/x/search,files/readonly`);
  assert.match(
    page.text,
    /claude mcp add --transport http dust http:\/\/[^ ]+\/mcp\/x\/search,files\/readonly/,
  );
  assert.match(page.text, /id="toolset-search" name="toolsets" value="search" checked/);
  // A token generated from the narrowed page keeps the choice in its snippets and works there.
  const gen = await b.post(`${path}/token?toolsets=search&readonly=1`, {
    csrf: formValue(page.text, "csrf")!,
  });
  const token = /<pre id="new-token">([^<]+)<\/pre>/.exec(gen.text)![1];
  assert.ok(gen.text.includes(`/mcp/x/search/readonly?token=${token}`));
  await using c = await connectV1(s, token, "/mcp/x/search/readonly");
  assert.deepEqual((await c.listTools()).tools.map((t) => t.name), ["identity", "search", "fetch"]);
});
