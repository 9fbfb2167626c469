/**
 * Issue 10, finding 7: an admin read members' private conversations by minting an API key —
 * the key read every conversation of the workspace while the admin's own token got 404. The
 * rule (access.ts `canReadConversation`): an API key reads the conversations API keys created
 * and the workspace-visible ones, never a member's private conversation. Every surface that
 * reaches a conversation is tried: get, list, post a message, content fragments, cancel, both
 * event streams, its files (metadata, bytes, upload into it) and the file tools (list, cat,
 * grep — the search over a conversation's files).
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createUserWithToken } from "../helpers/fixtures.ts";
import { holdAgentRuns, messageBody } from "../helpers/conversations.ts";
import { keyActorOf } from "../helpers/knowledge.ts";
import { filesCat, filesGrep, filesList } from "../../src/core/file_system.ts";
import { AppError } from "../../src/errors.ts";

const CONTENT = "secret line\n";

/** A conversation of `token` with an agent message and an uploaded text file. */
async function seedConversation(
  s: TestServer,
  token: string,
  w: string,
  visibility: "unlisted" | "workspace" = "unlisted",
) {
  const conv = await apiJson(s, token, `${w}/assistant/conversations`, {
    method: "POST",
    body: { title: "private", visibility, message: messageBody("my salary is 42") },
  });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const cId = conv.body.conversation.sId as string;
  const agent = conv.body.conversation.content.flat().find((m: { type: string }) =>
    m.type === "agent_message"
  );
  const f = await apiJson(s, token, `${w}/files`, {
    method: "POST",
    body: {
      contentType: "text/plain",
      fileName: "notes.txt",
      fileSize: CONTENT.length,
      useCase: "conversation",
      useCaseMetadata: { conversationId: cId },
    },
  });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  const form = new FormData();
  form.append("file", new File([CONTENT], "notes.txt", { type: "text/plain" }));
  const up = await fetch(f.body.file.uploadUrl, {
    method: "POST",
    headers: bearer(token),
    body: form,
  });
  const uploaded = await up.json();
  assert.equal(up.status, 200, JSON.stringify(uploaded));
  return {
    cId,
    mId: agent.sId as string,
    fId: f.body.file.sId as string,
    path: uploaded.file.path as string,
  };
}

async function streamStatus(s: TestServer, path: string, token: string): Promise<number> {
  const res = await fetch(`${s.url}${path}`, {
    headers: { ...bearer(token), Accept: "text/event-stream" },
  });
  await res.body?.cancel();
  return res.status;
}

async function setup() {
  const s = await startTestServer();
  holdAgentRuns(s);
  const admin = await createUserWithToken(s, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(s, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const w = `/api/v1/w/${admin.workspace.sId}`;
  // The attack: the admin mints a key with their own token.
  const minted = await apiJson(s, admin.token, `${w}/api_keys`, {
    method: "POST",
    body: { name: "reader" },
  });
  assert.equal(minted.status, 200, JSON.stringify(minted.body));
  return { s, admin, member, w, key: minted.body.secret as string };
}

Deno.test("[security] an admin's API key reads none of a member's private conversation, on any surface", async () => {
  const { s, admin, member, w, key } = await setup();
  await using _ = s;
  const { cId, mId, fId, path } = await seedConversation(s, member.token, w);
  const c = `${w}/assistant/conversations/${cId}`;
  const messagesBefore = await s.deps.db.get("SELECT COUNT(*) AS n FROM messages");
  // The admin's own token was already refused; the key must answer the same.
  for (const token of [admin.token, key]) {
    const notFound = async (method: string, p: string, body?: unknown, type?: string) => {
      const r = await apiJson(s, token, p, { method, ...(body ? { body } : {}) });
      assert.equal(r.status, 404, `${method} ${p}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.type, type ?? "conversation_not_found", `${method} ${p}`);
    };
    await notFound("GET", c);
    await notFound("POST", `${c}/messages`, messageBody("let me in"));
    await notFound("POST", `${c}/content_fragments`, {
      title: "t",
      content: "x",
      contentType: "text/plain",
    });
    await notFound("POST", `${c}/cancel`, { messageIds: [mId] });
    await notFound("GET", `${w}/files/${fId}`, undefined, "file_not_found");
    await notFound("GET", `${w}/files/${fId}?action=download`, undefined, "file_not_found");
    await notFound("POST", `${w}/files`, {
      contentType: "text/plain",
      fileName: "x.txt",
      fileSize: 1,
      useCase: "conversation",
      useCaseMetadata: { conversationId: cId },
    });
    assert.equal(await streamStatus(s, `${c}/events`, token), 404);
    assert.equal(await streamStatus(s, `${c}/messages/${mId}/events`, token), 404);
  }
  // Listing one's conversations is for users; a key has none to list.
  const list = await apiJson(s, key, `${w}/assistant/conversations`);
  assert.equal(list.status, 401);
  // The file tools (list, cat, grep) answer the key as they answer a stranger.
  const actor = keyActorOf(admin.workspace);
  const scope = { type: "conversation" as const, conversation_id: cId };
  const refusals = [
    async () => await filesList(s.deps, actor, { scope }),
    () => filesCat(s.deps, actor, { scope, path }),
    () => filesGrep(s.deps, actor, { scope, path, pattern: "secret" }),
  ];
  for (const call of refusals) {
    await assert.rejects(async () => await call(), (e: unknown) => {
      assert.ok(e instanceof AppError && e.status === 404, String(e));
      return true;
    });
  }
  assert.deepEqual(await s.deps.db.get("SELECT COUNT(*) AS n FROM messages"), messagesBefore);
});

Deno.test("[security] API keys read what API keys created (any key of the workspace) and workspace-visible conversations", async () => {
  const { s, admin, member, w, key } = await setup();
  await using _ = s;
  const ours = await seedConversation(s, key, w);
  const rotated = await apiJson(s, admin.token, `${w}/api_keys`, {
    method: "POST",
    body: { name: "rotated" },
  });
  const key2 = rotated.body.secret as string;
  const c = `${w}/assistant/conversations/${ours.cId}`;
  for (const token of [key, key2]) {
    assert.equal((await apiJson(s, token, c)).status, 200);
    assert.equal((await apiJson(s, token, `${w}/files/${ours.fId}`)).status, 200);
    assert.equal(await streamStatus(s, `${c}/events`, token), 200);
    assert.equal(await streamStatus(s, `${c}/messages/${ours.mId}/events`, token), 200);
    const posted = await apiJson(s, token, `${c}/messages`, {
      method: "POST",
      body: messageBody("again", []),
    });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
  }
  const scope = { type: "conversation" as const, conversation_id: ours.cId };
  const grep = await filesGrep(s.deps, keyActorOf(admin.workspace), {
    scope,
    path: ours.path,
    pattern: "secret",
  });
  assert.match(grep.text, /secret line/);
  // A key's unlisted conversation is not a member's either (they are not in it).
  assert.equal((await apiJson(s, member.token, c)).status, 404);
  // A member's conversation shared with the workspace is readable by keys, as by members.
  const shared = await seedConversation(s, member.token, w, "workspace");
  const sc = `${w}/assistant/conversations/${shared.cId}`;
  assert.equal((await apiJson(s, key, sc)).status, 200);
  assert.equal((await apiJson(s, key, `${w}/files/${shared.fId}`)).status, 200);
  assert.equal(await streamStatus(s, `${sc}/events`, key), 200);
});
