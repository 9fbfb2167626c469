/**
 * A password change takes back everything a thief could hold (issue 10, finding 9): personal
 * access tokens (and the tokens they minted) stop at once, client-side MCP server
 * registrations are removed and their request streams end, and a conversation event stream
 * opened with a stolen token delivers nothing more and ends.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer } from "../helpers/fixtures.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { holdAgentRuns, messageBody } from "../helpers/conversations.ts";
import { issuePersonalToken } from "../../src/core/personal_tokens.ts";

/** An open SSE body read in the background until it ends (or is cancelled). */
function follow(s: TestServer, token: string, path: string) {
  const state = { text: "", ended: false };
  let reader: ReadableStreamDefaultReader<string> | undefined;
  const pump = fetch(`${s.url}${path}`, { headers: bearer(token) }).then(async (res) => {
    assert.equal(res.status, 200, path);
    reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) state.text += r.value;
    state.ended = true;
  });
  return {
    state,
    async close() {
      await reader?.cancel().catch(() => {});
      await pump.catch(() => {});
    },
  };
}

/** Wait (bounded) until `cond()` holds. */
async function until(cond: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

Deno.test("[security] a password change revokes personal access tokens and relay registrations and ends their streams", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const alice = await createPasswordUser(s, { email: "alice@a.example" });
  const w = `/api/v1/w/${alice.workspace.sId}`;
  const stolen = (await issuePersonalToken(s.deps.db, {
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    name: "laptop",
  })).secret;
  const minted = await apiJson(s, stolen, `${w}/personal_tokens`, {
    method: "POST",
    body: { name: "minted by the thief" },
  });
  assert.equal(minted.status, 200, "control: a personal token mints another");
  const conv = await apiJson(s, stolen, `${w}/assistant/conversations`, {
    method: "POST",
    body: { title: "t", message: messageBody("first", []) },
  });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const convPath = `${w}/assistant/conversations/${conv.body.conversation.sId}`;
  const reg = await apiJson(s, stolen, `${w}/mcp/register`, {
    method: "POST",
    body: { serverName: "Local Tools" },
  });
  assert.equal(reg.status, 200);
  const serverId = reg.body.serverId as string;
  const events = follow(s, stolen, `${convPath}/events`);
  const requests = follow(s, stolen, `${w}/mcp/requests?serverId=${encodeURIComponent(serverId)}`);
  try {
    await until(() => requests.state.text.includes("dust-handshake"));
    assert.ok(
      requests.state.text.includes("dust-handshake"),
      "control: the request stream is open",
    );

    const browser = new BrowserHttp(s.url);
    await browser.signIn(alice.email, alice.password);
    const csrf = formValue((await browser.get("/account")).text, "csrf")!;
    const changed = await browser.post("/account/password", {
      csrf,
      current: alice.password,
      next: "a brand new passphrase",
    });
    assert.equal(changed.status, 200);
    assert.match(changed.text, /2 personal access token\(s\) revoked/);
    assert.match(changed.text, /1 client-side MCP server registration\(s\) removed/);

    // The registration is gone and its request stream ends at once.
    await until(() => requests.state.ended);
    assert.ok(requests.state.ended, "the relay request stream ends");
    assert.ok(requests.state.text.endsWith("data: done\n\n"));
    const row = await s.deps.db.get(
      "SELECT 1 FROM relay_registrations WHERE server_id = ?",
      serverId,
    );
    assert.equal(row, undefined, "the registration is removed");

    // Every personal token stops, including the one the thief minted; nothing more is minted.
    for (const token of [stolen, minted.body.secret as string]) {
      assert.equal((await apiJson(s, token, "/api/v1/me")).status, 401);
    }
    const more = await apiJson(s, stolen, `${w}/personal_tokens`, {
      method: "POST",
      body: { name: "one more" },
    });
    assert.equal(more.status, 401, "a revoked token mints nothing");

    // The conversation stream opened with the stolen token delivers nothing more and ends.
    const fresh = (await issuePersonalToken(s.deps.db, {
      workspaceId: alice.workspace.id,
      userId: alice.user.id,
      name: "after the change",
    })).secret;
    const posted = await apiJson(s, fresh, `${convPath}/messages`, {
      method: "POST",
      body: messageBody("afterchange", []),
    });
    assert.equal(posted.status, 200, "control: a token issued after the change works");
    await until(() => events.state.ended);
    assert.ok(events.state.ended, "the event stream ends");
    assert.ok(!events.state.text.includes("afterchange"), "the stolen token's stream got more");
  } finally {
    await events.close();
    await requests.close();
  }
});
