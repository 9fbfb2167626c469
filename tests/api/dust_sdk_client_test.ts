/**
 * The rest of `@dust-tt/client` 1.2.8 that other SDK tests do not call: its local helpers
 * (`workspaceId`, `setWorkspaceId`, `apiUrl`, `getApiKey`, `baseHeaders`) and raw `request`,
 * the relay calls made one by one (`registerMCPServer`, `heartbeatMCPServer`,
 * `getMCPRequestsConnectionDetails`, `postMCPResults`), the agent waits
 * (`waitForAgentMessage`, `streamAgentMessageEvents`), the high-level `agents`,
 * `conversations` and `files` APIs with a real agent loop on a scripted model, and
 * `downloadFile`, which the SDK only completes through a redirect to Google Cloud Storage.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor } from "../helpers/local_mcp.ts";
import { startFakeModel } from "../helpers/fake_model.ts";

const context = { username: "alice", timezone: "UTC" };

Deno.test("[sdk client] workspaceId, setWorkspaceId, apiUrl, getApiKey, baseHeaders and request reach the server", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const api = dustApiFor(server, alice.token, "wrong");
  assert.equal(api.workspaceId(), "wrong");
  api.setWorkspaceId(alice.workspace.sId);
  assert.equal(api.workspaceId(), alice.workspace.sId);
  assert.equal(api.apiUrl(), server.url);
  assert.equal(await api.getApiKey(), alice.token);
  assert.deepEqual(await api.baseHeaders(), { Authorization: `Bearer ${alice.token}` });
  const r = await api.request({ method: "GET", path: "/spaces" });
  assert.ok(r.isOk());
  assert.equal(r.value.response.status, 200);
  const body = JSON.parse(r.value.response.body as string);
  assert.ok(body.spaces.some((s: { kind: string }) => s.kind === "global"));
});

Deno.test("[sdk client] registerMCPServer, heartbeatMCPServer, getMCPRequestsConnectionDetails and postMCPResults, one call at a time", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const reg = await api.registerMCPServer({ serverName: "Local" });
  assert.ok(reg.isOk(), JSON.stringify(reg.isErr() && reg.error));
  const serverId = reg.value.serverId;
  const beat = await api.heartbeatMCPServer({ serverId });
  assert.ok(beat.isOk(), JSON.stringify(beat.isErr() && beat.error));
  assert.equal(beat.value.success, true);
  assert.ok(Date.parse(beat.value.expiresAt) > Date.now());
  const details = await api.getMCPRequestsConnectionDetails({ serverId });
  assert.ok(details.isOk());
  const stream = await fetch(details.value.url, { headers: details.value.headers });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get("content-type") ?? "", /text\/event-stream/);
  await stream.body?.cancel();
  const posted = await api.postMCPResults({
    serverId,
    result: { jsonrpc: "2.0", method: "notifications/message", params: { level: "info" } },
  });
  assert.ok(posted.isOk(), JSON.stringify(posted.isErr() && posted.error));
  assert.equal(posted.value.success, true);
  const foreign = await dustApiFor(
    server,
    await createApiKey(server, alice.workspace),
    alice.workspace.sId,
  )
    .heartbeatMCPServer({ serverId });
  assert.ok(foreign.isErr(), "an API key does not own a user's registration");
});

Deno.test("[sdk client] waitForAgentMessage and streamAgentMessageEvents follow a real agent run", async () => {
  await using model = await startFakeModel([{ content: "Hello from the agent" }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const created = await api.createConversation({
    title: null,
    visibility: "unlisted",
    message: { content: "Hi", mentions: [{ configurationId: "dust" }], context },
  });
  assert.ok(created.isOk(), JSON.stringify(created.isErr() && created.error));
  const { conversation, message } = created.value;
  const waited = await api.waitForAgentMessage({
    conversation,
    parentUserMessageId: message!.sId,
  });
  assert.ok(waited.isOk());
  const agentMessage = waited.value!;
  assert.equal(agentMessage.parentMessageId, message!.sId);
  const streamed = await api.streamAgentMessageEvents({
    conversationId: conversation.sId,
    agentMessageId: agentMessage.sId,
    options: { maxReconnectAttempts: 2, reconnectDelay: 50, autoReconnect: true },
  });
  assert.ok(streamed.isOk());
  let text = "";
  let last = "";
  for await (const e of streamed.value.eventStream) {
    if (e.type === "generation_tokens") text += e.text;
    last = e.type;
  }
  assert.equal(last, "agent_message_success");
  assert.equal(text, "Hello from the agent");
});

Deno.test("[sdk client] the high-level agents (sendMessage, streamMessage) and conversations (create, get, list) APIs", async () => {
  await using model = await startFakeModel([{ content: "First answer" }, { content: "Second" }]);
  await using server = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const answer = await api.agents.sendMessage({ agentId: "dust", message: "Hi", context });
  assert.equal(answer.text, "First answer");
  assert.ok(answer.conversationId);
  const stream = api.agents.streamMessage({
    agentId: "dust",
    message: "Again",
    conversationId: answer.conversationId,
    context,
  });
  const final = await stream.finalMessage();
  assert.equal(final.text, "Second");
  assert.equal(final.conversationId, answer.conversationId);

  const made = await api.conversations.create({ title: "Planning" });
  assert.equal(made.title, "Planning");
  const got = await api.conversations.get(made.id);
  assert.equal(got.id, made.id);
  const listed = await api.conversations.list();
  assert.ok(listed.some((c) => c.id === made.id));
  assert.ok(listed.some((c) => c.id === answer.conversationId));
});

Deno.test("[sdk client] downloadFile and files.download: the SDK accepts only a redirect to storage.googleapis.com", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const api = dustApiFor(server, alice.token, alice.workspace.sId);
  const uploaded = await api.files.upload(
    new File(["plain bytes"], "notes.txt", {
      type: "text/plain",
    }),
  );
  // The server answers the bytes themselves (200 on the API URL), which the SDK's SSRF guard
  // refuses: it fetches files only from a Google Cloud Storage signed URL.
  const r = await api.downloadFile({ fileID: uploaded.id });
  assert.ok(r?.isErr());
  assert.match(r.error.message, /Invalid redirect URL format/);
  await assert.rejects(() => api.files.download(uploaded.id), /Invalid redirect URL format/);
  const bytes = await fetch(
    `${server.url}/api/v1/w/${alice.workspace.sId}/files/${uploaded.id}?action=download`,
    { headers: { Authorization: `Bearer ${alice.token}` } },
  );
  assert.equal(await bytes.text(), "plain bytes");
});
