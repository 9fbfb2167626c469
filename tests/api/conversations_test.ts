import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { createPodFixture, holdAgentRuns, messageBody } from "../helpers/conversations.ts";
import {
  type AgentMessageCreated,
  appendMessageEvent,
  updateAgentMessage,
} from "../../src/core/agent_messages.ts";
import type { Deps } from "../../src/deps.ts";

const base = (wId: string) => `/api/v1/w/${wId}/assistant/conversations`;

/** A server whose agent messages go to `runner` (default: nobody, they stay `created`). */
async function setup(runner?: (m: AgentMessageCreated) => void) {
  const server = await startTestServer();
  holdAgentRuns(server, runner);
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  return { server, alice, bob, url: base(alice.workspace.sId) };
}

Deno.test("[conversations] a user creates a conversation with a first message mentioning dust", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "Hello", visibility: "unlisted", message: messageBody("Hi @dust") },
  });
  assert.equal(r.status, 200);
  const conv = r.body.conversation;
  assert.equal(conv.title, "Hello");
  assert.equal(conv.visibility, "unlisted");
  assert.equal(conv.owner.sId, alice.workspace.sId);
  assert.equal(conv.owner.role, "admin");
  assert.equal(conv.content.length, 2);
  const [[user], [agent]] = conv.content;
  assert.equal(user.type, "user_message");
  assert.equal(user.content, "Hi @dust");
  assert.deepEqual(user.mentions, [{ configurationId: "dust" }]);
  assert.equal(user.context.timezone, "Europe/Paris");
  assert.equal(user.user.sId, alice.user.sId);
  assert.equal(agent.type, "agent_message");
  assert.equal(agent.status, "created");
  assert.equal(agent.parentMessageId, user.sId);
  assert.equal(agent.configuration.sId, "dust");
  assert.equal(r.body.message.sId, user.sId);
});

Deno.test("[conversations] GET one returns the conversation to its participant", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "T", message: messageBody("x", []) },
  });
  const r = await apiJson(server, alice.token, `${url}/${created.body.conversation.sId}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.conversation.sId, created.body.conversation.sId);
  assert.equal(r.body.conversation.content.length, 1);
  assert.ok(r.body.conversation.url.includes(created.body.conversation.sId));
});

Deno.test("[conversations] a non-participant gets 404 conversation_not_found for an unlisted conversation", async () => {
  const { server, alice, bob, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "private" },
  });
  const r = await apiJson(server, bob.token, `${url}/${created.body.conversation.sId}`);
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "conversation_not_found");
  const post = await apiJson(
    server,
    bob.token,
    `${url}/${created.body.conversation.sId}/messages`,
    {
      method: "POST",
      body: messageBody("sneak", []),
    },
  );
  assert.equal(post.status, 404);
  assert.equal(post.body.error.type, "conversation_not_found");
});

Deno.test("[conversations] a workspace-visible conversation is readable by every member", async () => {
  const { server, alice, bob, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "open", visibility: "workspace" },
  });
  const r = await apiJson(server, bob.token, `${url}/${created.body.conversation.sId}`);
  assert.equal(r.status, 200);
});

Deno.test("[conversations] another workspace's conversation id answers 404 and reveals nothing", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const carol = await createUserWithToken(server, { email: "carol@example.com", role: "admin" });
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "secret" },
  });
  const r = await apiJson(
    server,
    carol.token,
    `${base(carol.workspace.sId)}/${created.body.conversation.sId}`,
  );
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "conversation_not_found");
  assert.ok(!JSON.stringify(r.body).includes("secret"));
});

Deno.test("[conversations] list returns the user's private conversations only; API keys get 401 user_not_found", async () => {
  const { server, alice, bob, url } = await setup();
  await using _ = server;
  await apiJson(server, alice.token, url, { method: "POST", body: { title: "a1" } });
  await apiJson(server, alice.token, url, { method: "POST", body: { title: "a2" } });
  await apiJson(server, bob.token, url, { method: "POST", body: { title: "b1" } });
  const r = await apiJson(server, alice.token, url);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.conversations.map((c: { title: string }) => c.title), ["a2", "a1"]);
  assert.equal(r.body.conversations[0].content, undefined);
  const key = await createApiKey(server, alice.workspace);
  const k = await apiJson(server, key, url);
  assert.equal(k.status, 401);
  assert.equal(k.body.error.type, "user_not_found");
});

Deno.test("[conversations] an API key creates a conversation, reads it and posts in it", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const key = await createApiKey(server, alice.workspace);
  const created = await apiJson(server, key, url, {
    method: "POST",
    body: { title: "by key", message: messageBody("hello", ["dust"]) },
  });
  assert.equal(created.status, 200);
  assert.equal(created.body.conversation.owner.role, "builder");
  assert.equal(created.body.message.user, null);
  const cId = created.body.conversation.sId;
  const got = await apiJson(server, key, `${url}/${cId}`);
  assert.equal(got.status, 200);
  const post = await apiJson(server, key, `${url}/${cId}/messages`, {
    method: "POST",
    body: messageBody("again", ["dust"]),
  });
  assert.equal(post.status, 200);
  assert.equal(post.body.agentMessages.length, 1);
  assert.equal(post.body.agentMessages[0].parentMessageId, post.body.message.sId);
});

Deno.test("[conversations] creating in a Pod requires membership (404 space_not_found otherwise)", async () => {
  const { server, alice, bob, url } = await setup();
  await using _ = server;
  const pod = await createPodFixture(server, alice.workspace.id, "Pod A", [alice]);
  const refused = await apiJson(server, bob.token, url, {
    method: "POST",
    body: { title: "in pod", spaceId: pod },
  });
  assert.equal(refused.status, 404);
  assert.equal(refused.body.error.type, "space_not_found");
  const ok = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "in pod", spaceId: pod },
  });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.conversation.spaceId, pod);
});

Deno.test("[conversations] a Pod conversation is readable by Pod members, not by other members", async () => {
  const { server, alice, bob, url } = await setup();
  await using _ = server;
  const dave = await createUserWithToken(server, {
    email: "dave@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const pod = await createPodFixture(server, alice.workspace.id, "Pod B", [alice, dave]);
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "pod talk", spaceId: pod },
  });
  const cId = created.body.conversation.sId;
  assert.equal((await apiJson(server, dave.token, `${url}/${cId}`)).status, 200);
  const other = await apiJson(server, bob.token, `${url}/${cId}`);
  assert.equal(other.status, 404);
  assert.equal(other.body.error.type, "conversation_not_found");
  const key = await createApiKey(server, alice.workspace);
  assert.equal((await apiJson(server, key, `${url}/${cId}`)).status, 404);
});

Deno.test("[conversations] PATCH read:true marks the conversation read for the caller", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "r", visibility: "workspace", message: messageBody("x", []) },
  });
  const cId = created.body.conversation.sId;
  const r = await apiJson(server, alice.token, `${url}/${cId}`, {
    method: "PATCH",
    body: { read: true },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { success: true });
  const got = await apiJson(server, alice.token, `${url}/${cId}`);
  assert.equal(got.body.conversation.unread, false);
  const unread = await apiJson(server, alice.token, `${url}/${cId}`, {
    method: "PATCH",
    body: { read: false },
  });
  assert.equal(unread.status, 200);
  assert.equal(
    (await apiJson(server, alice.token, `${url}/${cId}`)).body.conversation.unread,
    true,
  );
  const key = await createApiKey(server, alice.workspace);
  const k = await apiJson(server, key, `${url}/${cId}`, { method: "PATCH", body: { read: true } });
  assert.equal(k.status, 401);
  assert.equal(k.body.error.type, "user_not_found");
});

Deno.test("[conversations] cancel sets running agent messages to cancelled", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "c", message: messageBody("go") },
  });
  const cId = created.body.conversation.sId;
  const agentSId = created.body.conversation.content[1][0].sId;
  const r = await apiJson(server, alice.token, `${url}/${cId}/cancel`, {
    method: "POST",
    body: { messageIds: [agentSId, "unknownid00"] },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { success: true });
  const got = await apiJson(server, alice.token, `${url}/${cId}`);
  assert.equal(got.body.conversation.content[1][0].status, "cancelled");
});

Deno.test("[conversations] an inline content fragment is stored as a conversation file", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: {
      title: "with file",
      contentFragments: [{ title: "notes.txt", content: "some notes", contentType: "text/plain" }],
      message: messageBody("read the notes", []),
    },
  });
  assert.equal(created.status, 200);
  const [[cf], [um]] = created.body.conversation.content;
  assert.equal(cf.type, "content_fragment");
  assert.equal(cf.title, "notes.txt");
  assert.equal(cf.textBytes, 10);
  assert.ok(cf.fileId.startsWith("fil_"));
  assert.equal(um.type, "user_message");
  assert.equal(created.body.contentFragment.sId, cf.sId);
  const row = await server.deps.db.get(
    "SELECT scope_type, scope_s_id, storage_key, status FROM files WHERE s_id = ?",
    cf.fileId,
  ) as {
    scope_type: string;
    scope_s_id: string;
    storage_key: string;
    status: string;
  };
  assert.equal(row.scope_type, "conversation");
  assert.equal(row.scope_s_id, created.body.conversation.sId);
  assert.equal(row.status, "ready");
  const bytes = await server.deps.files.read(row.storage_key);
  assert.equal(new TextDecoder().decode(bytes), "some notes");
});

Deno.test("[conversations] POST content_fragments adds a fragment by content", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "cf" },
  });
  const cId = created.body.conversation.sId;
  const r = await apiJson(server, alice.token, `${url}/${cId}/content_fragments`, {
    method: "POST",
    body: { title: "a.md", content: "# A", contentType: "text/markdown" },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.contentFragment.contentType, "text/markdown");
});

Deno.test("[conversations] blocking:true returns the agent message once a runner finished it", async () => {
  let deps: Deps | null = null;
  const { server, alice, url } = await setup((m) => {
    setTimeout(async () => {
      await updateAgentMessage(deps!, {
        messageId: m.messageSId,
        status: "succeeded",
        content: "Done.",
      });
      await appendMessageEvent(deps!, m.messageSId, {
        type: "agent_message_success",
        configurationId: m.agentSId,
        messageId: m.messageSId,
      });
    }, 20);
  });
  await using _ = server;
  deps = server.deps;
  const created = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "b", blocking: true, message: messageBody("answer") },
  });
  assert.equal(created.status, 200);
  const agent = created.body.conversation.content[1][0];
  assert.equal(agent.status, "succeeded");
  assert.equal(agent.content, "Done.");
});

// ---------------------------------------------------------------------------------------------
// Bad input

Deno.test("[conversations] a missing context.username answers 400 naming the field", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const body = messageBody("x");
  const { username: _u, ...context } = body.context;
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "t", message: { ...body, context } },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "invalid_request_error");
  assert.match(r.body.error.message, /message\.context\.username/);
});

Deno.test("[conversations] an unknown timezone answers 400 naming context.timezone", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const body = messageBody("x");
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "t", message: { ...body, context: { ...body.context, timezone: "Mars/Base" } } },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /message\.context\.timezone/);
});

Deno.test("[conversations] a username of 255 characters answers 400", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const body = messageBody("x");
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: {
      title: "t",
      message: { ...body, context: { ...body.context, username: "u".repeat(255) } },
    },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /message\.context\.username/);
});

Deno.test("[conversations] empty message content answers 400 naming content", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, { method: "POST", body: { title: "t" } });
  const r = await apiJson(server, alice.token, `${url}/${created.body.conversation.sId}/messages`, {
    method: "POST",
    body: { ...messageBody("x"), content: "" },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /content/);
});

Deno.test("[conversations] a mention of an unknown agent answers 404 agent_configuration_not_found", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "t", message: messageBody("x", ["nosuchagent"]) },
  });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.type, "agent_configuration_not_found");
  const count = await server.deps.db.get("SELECT COUNT(*) AS n FROM conversations") as {
    n: number;
  };
  assert.equal(count.n, 0);
});

Deno.test("[conversations] an invalid visibility answers 400 naming visibility", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: { title: "t", visibility: "everyone" },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /visibility/);
});

Deno.test("[conversations] malformed JSON answers 400 invalid_request_error", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, url, { method: "POST", rawBody: "{not json" });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "invalid_request_error");
});

Deno.test("[conversations] an inline fragment over 512 KB answers 400 and stores nothing", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: {
      title: "t",
      contentFragment: {
        title: "big.txt",
        content: "x".repeat(512 * 1024 + 1),
        contentType: "text/plain",
      },
    },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /content/);
  const files = await server.deps.db.get("SELECT COUNT(*) AS n FROM files") as { n: number };
  assert.equal(files.n, 0);
});

Deno.test("[conversations] an unsupported fragment content type answers 400 file_type_not_supported", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const r = await apiJson(server, alice.token, url, {
    method: "POST",
    body: {
      title: "t",
      contentFragment: { title: "x.bin", content: "abc", contentType: "application/x-evil" },
    },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "file_type_not_supported");
  assert.deepEqual((await server.deps.files.listKeys()).keys, [], "no blob was stored");
});

Deno.test("[conversations] cancel without messageIds answers 400 naming messageIds", async () => {
  const { server, alice, url } = await setup();
  await using _ = server;
  const created = await apiJson(server, alice.token, url, { method: "POST", body: { title: "t" } });
  const r = await apiJson(server, alice.token, `${url}/${created.body.conversation.sId}/cancel`, {
    method: "POST",
    body: {},
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /messageIds/);
});

Deno.test("[conversations] every conversation route is in the OpenAPI document", async () => {
  const { server } = await setup();
  await using _ = server;
  const r = await apiJson(server, null, "/api/v1/openapi.json");
  assert.equal(r.status, 200);
  const p = "/api/v1/w/{wId}/assistant/conversations";
  const paths = r.body.paths;
  assert.ok(paths[p].post && paths[p].get);
  assert.ok(paths[`${p}/{cId}`].get && paths[`${p}/{cId}`].patch);
  for (const sub of ["messages", "content_fragments", "cancel"]) {
    assert.ok(paths[`${p}/{cId}/${sub}`].post);
  }
  assert.ok(paths[`${p}/{cId}/events`].get);
  assert.ok(paths[`${p}/{cId}/messages/{mId}/events`].get);
  assert.ok(JSON.stringify(paths[p].post.requestBody).includes("timezone"));
});
