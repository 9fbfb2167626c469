/**
 * The permission matrix: two workspaces, users of each role, Pods with and without
 * membership, a restricted space and private conversations. Every tool is called by every
 * user against every resource it must not see, and nothing leaks: no other user's
 * conversations, no Pod the user is not in, no restricted space's documents, nothing of the
 * other workspace.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  actorOf,
  createFolder,
  createPod,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { createTask } from "../../src/core/tasks.ts";
import { createConversation } from "../../src/core/conversations.ts";
import { filesCreate } from "../../src/core/file_system.ts";
import { createMcpUser, type McpUser, rawMcp, rpcOf, TOOLS_CALL } from "./helpers.ts";

interface CallOutcome {
  isError: boolean;
  text: string;
}

async function call(
  s: TestServer,
  u: McpUser,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallOutcome> {
  const r = await rawMcp(s, TOOLS_CALL(name, args), { Authorization: `Bearer ${u.mcpToken}` });
  assert.equal(r.status, 200, `${name} answered 200`);
  const msg = rpcOf(r.text);
  const result = msg.result as { isError?: boolean; content: { text: string }[] } | undefined;
  if (!result) return { isError: true, text: JSON.stringify(msg.error) };
  return { isError: result.isError === true, text: result.content[0].text };
}

async function denied(s: TestServer, u: McpUser, name: string, args: Record<string, unknown>) {
  const r = await call(s, u, name, args);
  assert.ok(r.isError, `${u.user.email} must not reach ${name} ${JSON.stringify(args)}`);
  for (const secret of SECRETS) assert.ok(!r.text.includes(secret), `${name} leaks ${secret}`);
  return r;
}

const SECRETS = ["restrictedzebra", "otherworkspacequokka", "podsecretlynx", "privatechatowl"];

async function world(s: TestServer) {
  const admin = await createMcpUser(s, { email: "admin@one.example", role: "admin" });
  const ws = admin.workspace;
  const builder = await createMcpUser(s, {
    email: "builder@one.example",
    role: "builder",
    workspace: ws,
  });
  const member = await createMcpUser(s, {
    email: "member@one.example",
    role: "user",
    workspace: ws,
  });
  const outsider = await createMcpUser(s, {
    email: "outsider@one.example",
    role: "user",
    workspace: ws,
  });
  const other = await createMcpUser(s, { email: "other@two.example", role: "admin" });

  const podA = await createPod(s, actorOf(admin), "Pod A", [member.user.sId]);
  const podB = await createPod(s, actorOf(builder), "Pod B", []);
  await createTask(s.deps, actorOf(admin), { podId: podA, text: "podsecretlynx task" });
  await filesCreate(s.deps, actorOf(admin), {
    scope: { type: "pod", pod_id: podA },
    path: `pod-${podA}/plan.md`,
    content: "podsecretlynx plan",
    content_type: "text/markdown",
  });
  const restricted = await createRestrictedSpace(s, actorOf(admin), "Finance", [admin.user.sId]);
  const finance = await createFolder(s, actorOf(admin), restricted, "ledger");
  await putDocument(
    s,
    actorOf(admin),
    { spaceId: restricted, dataSourceId: finance },
    "salaries",
    "restrictedzebra numbers",
  );
  const global = await globalSpaceSId(s, ws);
  const handbook = await createFolder(s, actorOf(admin), global, "handbook");
  await putDocument(
    s,
    actorOf(admin),
    { spaceId: global, dataSourceId: handbook },
    "welcome",
    "publicheron welcome",
  );

  const privateConv = await createConversation(s.deps, actorOf(admin), {
    title: "privatechatowl",
    message: "privatechatowl message",
    agentName: null,
  });
  await filesCreate(s.deps, actorOf(admin), {
    scope: { type: "conversation", conversation_id: privateConv.conversationId },
    path: `conversation-${privateConv.conversationId}/notes.txt`,
    content: "privatechatowl notes",
    content_type: "text/plain",
  });
  const podConv = await createConversation(s.deps, actorOf(member), {
    title: "podsecretlynx thread",
    podId: podA,
    message: "podsecretlynx hello",
    agentName: null,
  });

  const otherPod = await createPod(s, actorOf(other), "Other Pod", []);
  const otherGlobal = await globalSpaceSId(s, other.workspace);
  const otherDs = await createFolder(s, actorOf(other), otherGlobal, "wiki");
  await putDocument(
    s,
    actorOf(other),
    { spaceId: otherGlobal, dataSourceId: otherDs },
    "quokka",
    "otherworkspacequokka facts",
  );
  const otherConv = await createConversation(s.deps, actorOf(other), {
    title: "otherworkspacequokka",
    message: "otherworkspacequokka hi",
    agentName: null,
  });
  const fileOf = async (path: string) =>
    (await s.deps.db.get("SELECT s_id FROM files WHERE path = ?", path) as { s_id: string }).s_id;
  return {
    admin,
    builder,
    member,
    outsider,
    other,
    podA,
    podB,
    otherPod,
    privateConv: privateConv.conversationId,
    podConv: podConv.conversationId,
    otherConv: otherConv.conversationId,
    podFile: await fileOf("plan.md"),
    convFile: await fileOf("notes.txt"),
  };
}

Deno.test("[mcp permissions] identity and lists stay inside the caller's workspace and memberships", async () => {
  await using s = await startTestServer();
  const w = await world(s);
  for (const u of [w.admin, w.builder, w.member, w.outsider, w.other]) {
    const me = JSON.parse((await call(s, u, "identity")).text);
    assert.equal(me.workspaceId, u.workspace.sId);
  }
  const pods = async (u: McpUser) =>
    JSON.parse((await call(s, u, "list_pods")).text).pods.map((p: { id: string }) => p.id).sort();
  assert.deepEqual(await pods(w.member), [w.podA]);
  assert.deepEqual(await pods(w.outsider), []);
  assert.ok(!(await pods(w.builder)).includes(w.podA));
  assert.deepEqual(await pods(w.other), [w.otherPod]);
  const convs = async (u: McpUser) =>
    JSON.parse((await call(s, u, "list_conversations")).text).conversations
      .map((c: { sId: string }) => c.sId);
  assert.deepEqual(await convs(w.admin), [w.privateConv]);
  for (const u of [w.builder, w.member, w.outsider]) assert.deepEqual(await convs(u), []);
  assert.deepEqual(await convs(w.other), [w.otherConv]);
  const podConvs = JSON.parse(
    (await call(s, w.member, "list_conversations", { podId: w.podA })).text,
  );
  assert.deepEqual(podConvs.conversations.map((c: { sId: string }) => c.sId), [w.podConv]);
});

Deno.test("[mcp permissions] Pod tools refuse Pods the user is not in, and other workspaces' Pods", async () => {
  await using s = await startTestServer();
  const w = await world(s);
  for (const u of [w.outsider, w.builder]) {
    for (
      const [tool, args] of [
        ["get_pod", { podId: w.podA }],
        ["get_pod_tasks", { podId: w.podA, statusFilter: "all" }],
        ["list_conversations", { podId: w.podA }],
        ["create_conversation", { title: "x", podId: w.podA }],
      ] as const
    ) {
      const r = await denied(s, u, tool, args);
      assert.equal(r.text, "Pod not found or you do not have access.");
    }
  }
  for (const u of [w.admin, w.member]) await denied(s, u, "get_pod", { podId: w.otherPod });
  const ok = JSON.parse((await call(s, w.member, "get_pod_tasks", { podId: w.podA })).text);
  assert.equal(ok.count, 1, "a member sees the Pod's tasks");
});

Deno.test("[mcp permissions] conversation tools refuse other users' and other workspaces' conversations", async () => {
  await using s = await startTestServer();
  const w = await world(s);
  for (const u of [w.builder, w.member, w.outsider, w.other]) {
    await denied(s, u, "get_conversation_messages", { conversationId: w.privateConv });
    await denied(s, u, "create_conversation_message", {
      conversationId: w.privateConv,
      message: "intrusion",
      agentName: null,
    });
    await denied(s, u, "mark_conversation_read", { conversationId: w.privateConv, read: true });
  }
  for (const u of [w.outsider, w.builder, w.other]) {
    await denied(s, u, "get_conversation_messages", { conversationId: w.podConv });
  }
  await denied(s, w.admin, "get_conversation_messages", { conversationId: w.otherConv });
  const n = await s.deps.db.get(
    "SELECT count(*) AS n FROM user_messages WHERE content = 'intrusion'",
  ) as { n: number };
  assert.equal(n.n, 0, "no message was posted anywhere");
});

Deno.test("[mcp permissions] search and fetch never return restricted-space or other-workspace documents", async () => {
  await using s = await startTestServer();
  const w = await world(s);
  for (const u of [w.admin, w.builder, w.member, w.outsider]) {
    const pub = JSON.parse((await call(s, u, "search", { query: "publicheron" })).text);
    assert.equal(pub.count, 1, `${u.user.email} finds the global document`);
    for (const secret of ["otherworkspacequokka"]) {
      const r = await call(s, u, "search", { query: secret });
      assert.ok(!r.text.includes(secret), `${u.user.email} must not find ${secret}`);
    }
    await denied(s, u, "fetch", { id: "quokka" });
  }
  for (const u of [w.builder, w.member, w.outsider]) {
    const r = await call(s, u, "search", { query: "restrictedzebra" });
    assert.ok(!r.text.includes("restrictedzebra"));
    await denied(s, u, "fetch", { id: "salaries" });
  }
  const otherSees = await call(s, w.other, "search", { query: "publicheron" });
  assert.ok(!otherSees.text.includes("publicheron"), "the other workspace never sees ours");
});

Deno.test("[mcp permissions] file tools refuse scopes the user cannot read or write", async () => {
  await using s = await startTestServer();
  const w = await world(s);
  const podScope = { type: "pod", pod_id: w.podA };
  const convScope = { type: "conversation", conversation_id: w.privateConv };
  for (const u of [w.outsider, w.builder, w.other]) {
    await denied(s, u, "files_list", { scope: podScope });
    await denied(s, u, "files_cat", { scope: podScope, path: `pod-${w.podA}/plan.md` });
    await denied(s, u, "files_grep", {
      scope: podScope,
      path: `pod-${w.podA}/plan.md`,
      pattern: ".",
    });
    await denied(s, u, "files_resolve", { scope: podScope, file_id: w.podFile });
    await denied(s, u, "files_create", {
      scope: podScope,
      path: `pod-${w.podA}/intrusion.md`,
      content: "x",
      content_type: "text/plain",
    });
  }
  for (const u of [w.member, w.outsider, w.other]) {
    await denied(s, u, "files_list", { scope: convScope });
    await denied(s, u, "files_cat", {
      scope: convScope,
      path: `conversation-${w.privateConv}/notes.txt`,
    });
  }
  // A readable scope must not resolve a file of another scope to its path.
  const ownConv = JSON.parse(
    (await call(s, w.member, "create_conversation", { title: "mine", agentName: null })).text,
  ).conversationId;
  await denied(s, w.member, "files_resolve", {
    scope: { type: "conversation", conversation_id: ownConv },
    file_id: w.convFile,
  });
  const memberCat = await call(s, w.member, "files_cat", {
    scope: podScope,
    path: `pod-${w.podA}/plan.md`,
  });
  assert.ok(
    !memberCat.isError && memberCat.text.includes("podsecretlynx"),
    "a member reads Pod files",
  );
  const n = await s.deps.db.get("SELECT count(*) AS n FROM files WHERE path = 'intrusion.md'") as {
    n: number;
  };
  assert.equal(n.n, 0);
});
