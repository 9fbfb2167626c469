import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect } from "../helpers/oauth_flow.ts";

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "a12", version: "1" },
  },
};

async function post(url: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  return res;
}

Deno.test("[oauth] A12 /mcp hands out no session id: the bearer authenticates every request", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const c = await connect(server.url, alice);
  const url = `${server.url}/mcp`;
  const init = await post(url, INIT, { authorization: `Bearer ${c.tokens.access_token}` });
  assert.equal(init.status, 200);
  assert.equal(init.headers.get("mcp-session-id"), null);
  const noBearer = await post(
    url,
    { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
    { "mcp-session-id": "anything", "mcp-protocol-version": "2025-06-18" },
  );
  assert.equal(noBearer.status, 401, "a session id alone never authenticates");
});
