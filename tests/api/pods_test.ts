import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import {
  apiJson,
  createApiKey,
  createUserWithToken,
  type UserWithToken,
} from "../helpers/fixtures.ts";
import type { TestServer } from "../helpers/server.ts";
import { authenticateWorkspaceRequest } from "../../src/auth/bearer.ts";
import { getPod, listPods } from "../../src/core/pods.ts";
import { countTaskVersions, getPodTasks } from "../../src/core/tasks.ts";
import { AppError } from "../../src/errors.ts";

async function setup() {
  const server = await startTestServer();
  const editor = await createUserWithToken(server, {
    email: "editor@example.com",
    role: "builder",
  });
  const ws = editor.workspace;
  const member = await createUserWithToken(server, {
    email: "member@example.com",
    role: "user",
    workspace: ws,
  });
  const outsider = await createUserWithToken(server, {
    email: "out@example.com",
    role: "admin",
    workspace: ws,
  });
  const base = `/api/v1/w/${ws.sId}`;
  const pod = await apiJson(server, editor.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Launch", members: [member.user.sId] },
  });
  assert.equal(pod.status, 200);
  const podId = pod.body.space.sId as string;
  return { server, editor, member, outsider, base, podId };
}

const actorOf = (server: TestServer, u: UserWithToken) =>
  authenticateWorkspaceRequest(server.deps, `Bearer ${u.token}`, u.workspace.sId);

Deno.test("[api/pods] project_metadata: members read, patch description and pinned frame", async () => {
  const { server, member, base, podId } = await setup();
  await using _ = server;
  const url = `${base}/spaces/${podId}/project_metadata`;
  const before = await apiJson(server, member.token, url);
  assert.equal(before.status, 200);
  assert.ok(before.body.metadata.sId.startsWith("pmd_"));
  assert.equal(before.body.metadata.description, "");
  const patched = await apiJson(server, member.token, url, {
    method: "PATCH",
    body: { description: "Ship v2", pinnedFramePath: `pod-${podId}/banner.html` },
  });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.metadata.description, "Ship v2");
  assert.equal(patched.body.metadata.pinnedFramePath, `pod-${podId}/banner.html`);
  const cleared = await apiJson(server, member.token, url, {
    method: "PATCH",
    body: { pinnedFramePath: null },
  });
  assert.equal(cleared.body.metadata.pinnedFramePath, null);
  assert.equal(cleared.body.metadata.description, "Ship v2");
});

Deno.test("[api/pods] a pinned frame outside the Pod answers 400 naming pinnedFramePath", async () => {
  const { server, member, base, podId } = await setup();
  await using _ = server;
  const r = await apiJson(server, member.token, `${base}/spaces/${podId}/project_metadata`, {
    method: "PATCH",
    body: { pinnedFramePath: "pod-vlt_other/x.html" },
  });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /^pinnedFramePath:/);
});

Deno.test("[api/pods] non-members, admins included, and API keys get 404 for a Pod", async () => {
  const { server, editor, outsider, base, podId } = await setup();
  await using _ = server;
  const key = await createApiKey(server, editor.workspace);
  for (const token of [outsider.token, key]) {
    for (const path of ["project_metadata", "tasks"]) {
      const r = await apiJson(server, token, `${base}/spaces/${podId}/${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.error.type, "space_not_found");
    }
  }
});

Deno.test("[api/pods] tasks: create, update status sets and clears doneAt, every update keeps a version", async () => {
  const { server, editor, member, base, podId } = await setup();
  await using _ = server;
  const tasks = `${base}/spaces/${podId}/tasks`;
  const created = await apiJson(server, member.token, tasks, {
    method: "POST",
    body: { text: "Write the brief", assigneeId: editor.user.sId },
  });
  assert.equal(created.status, 200);
  const t = created.body.task;
  assert.equal(t.status, "todo");
  assert.equal(t.doneAt, null);
  assert.equal(t.user.sId, editor.user.sId);
  assert.equal(t.createdByType, "user");
  assert.equal(t.createdByUserId, member.user.sId);
  assert.deepEqual(t.sources, []);
  const done = await apiJson(server, editor.token, `${tasks}/${t.sId}`, {
    method: "PATCH",
    body: { status: "done" },
  });
  assert.equal(done.body.task.status, "done");
  assert.equal(typeof done.body.task.doneAt, "number");
  assert.equal(done.body.task.markedAsDoneByUserId, editor.user.sId);
  const reopened = await apiJson(server, member.token, `${tasks}/${t.sId}`, {
    method: "PATCH",
    body: { status: "in_progress", assigneeId: null, text: "Write the full brief" },
  });
  assert.equal(reopened.body.task.doneAt, null);
  assert.equal(reopened.body.task.markedAsDoneByType, null);
  assert.equal(reopened.body.task.user, null);
  assert.equal(reopened.body.task.text, "Write the full brief");
  assert.equal(await countTaskVersions(server.deps.db, t.sId), 2);
  const del = await apiJson(server, member.token, `${tasks}/${t.sId}`, { method: "DELETE" });
  assert.deepEqual(del.body, { success: true });
  assert.equal(await countTaskVersions(server.deps.db, t.sId), 3, "the delete is versioned too");
  const list = await apiJson(server, member.token, tasks);
  assert.deepEqual(list.body.tasks, [], "deleted tasks are gone from lists");
  const again = await apiJson(server, member.token, `${tasks}/${t.sId}`, {
    method: "PATCH",
    body: { status: "todo" },
  });
  assert.equal(again.status, 404);
  assert.equal(again.body.error.type, "task_not_found");
});

Deno.test("[api/pods] task bodies are validated: empty text, bad status, non-member assignee", async () => {
  const { server, member, outsider, base, podId } = await setup();
  await using _ = server;
  const tasks = `${base}/spaces/${podId}/tasks`;
  const empty = await apiJson(server, member.token, tasks, { method: "POST", body: { text: " " } });
  assert.equal(empty.status, 400);
  assert.match(empty.body.error.message, /^text:/);
  const status = await apiJson(server, member.token, tasks, {
    method: "POST",
    body: { text: "x", status: "blocked" },
  });
  assert.equal(status.status, 400);
  assert.match(status.body.error.message, /^status:/);
  const assignee = await apiJson(server, member.token, tasks, {
    method: "POST",
    body: { text: "x", assigneeId: outsider.user.sId },
  });
  assert.equal(assignee.status, 400);
  assert.match(assignee.body.error.message, /^assigneeId:/);
  const limit = await apiJson(server, member.token, `${tasks}?limit=abc`);
  assert.equal(limit.status, 400);
  assert.match(limit.body.error.message, /^limit:/);
});

Deno.test("[api/pods] task listing filters by status and pages with a cursor", async () => {
  const { server, member, base, podId } = await setup();
  await using _ = server;
  const tasks = `${base}/spaces/${podId}/tasks`;
  for (const [text, status] of [["a", "todo"], ["b", "done"], ["c", "todo"], ["d", "todo"]]) {
    await apiJson(server, member.token, tasks, { method: "POST", body: { text, status } });
  }
  const todo = await apiJson(server, member.token, `${tasks}?status=todo&limit=2`);
  assert.deepEqual(todo.body.tasks.map((t: { text: string }) => t.text), ["a", "c"]);
  const next = await apiJson(
    server,
    member.token,
    `${tasks}?status=todo&limit=2&cursor=${todo.body.nextCursor}`,
  );
  assert.deepEqual(next.body.tasks.map((t: { text: string }) => t.text), ["d"]);
  assert.equal(next.body.nextCursor, null);
});

Deno.test("[core/pods] listPods and getPod: member Pods only, Dust's shape, fileCount from ready Pod files", async () => {
  const { server, editor, member, outsider, podId } = await setup();
  await using _ = server;
  const deps = server.deps;
  const m = await actorOf(server, member);
  const listed = await listPods(deps, m);
  assert.equal(listed.count, 1);
  assert.deepEqual(listed.pods[0], {
    id: podId,
    name: "Launch",
    url: `${server.config.publicUrl}/w/${editor.workspace.sId}/pods/${podId}`,
  });
  assert.equal((await listPods(deps, await actorOf(server, outsider))).count, 0);
  const insert = deps.db.prepare(
    `INSERT INTO files (s_id, workspace_id, content_type, file_name, file_size, status, use_case, scope_type, scope_s_id, path, created_at, updated_at)
     VALUES (?, ?, 'text/plain', 'a.txt', 1, ?, 'project_context', 'pod', ?, ?, 0, 0)`,
  );
  await insert.run("fil_a", editor.workspace.id, "ready", podId, `pod-${podId}/a.txt`);
  await insert.run("fil_b", editor.workspace.id, "created", podId, `pod-${podId}/b.txt`);
  const got = await getPod(deps, m, { podId });
  assert.equal(got.pod.fileCount, 1);
  assert.equal(got.pod.name, "Launch");
  assert.deepEqual(got.pod.contentNodes, []);
  assert.deepEqual(Object.keys(got.pod).sort(), [
    "contentNodes",
    "description",
    "fileCount",
    "fileTabs",
    "id",
    "name",
    "pinnedFramePath",
    "tabsOrder",
    "url",
  ]);
  await assert.rejects(
    async () => await getPod(deps, m, { podId: "vlt_nope" }),
    (e) => e instanceof AppError && e.message === "Pod not found or you do not have access.",
  );
});

Deno.test("[core/pods] getPodTasks: open, done within daysAgo, mine", async () => {
  const { server, editor, member, base, podId } = await setup();
  await using _ = server;
  const tasks = `${base}/spaces/${podId}/tasks`;
  const mk = async (text: string, status: string, assigneeId?: string) =>
    (await apiJson(server, member.token, tasks, {
      method: "POST",
      body: { text, status, assigneeId },
    }))
      .body.task;
  await mk("open-mine", "todo", member.user.sId);
  await mk("open-theirs", "in_progress", editor.user.sId);
  await mk("done-recent", "done");
  const old = await mk("done-old", "done");
  await server.deps.db.run(
    "UPDATE pod_tasks SET done_at = ? WHERE s_id = ?",
    Date.now() - 10 * 86_400_000,
    old.sId,
  );
  const m = await actorOf(server, member);
  const texts = (r: { tasks: { text: string }[] }) => r.tasks.map((t) => t.text);
  const open = await getPodTasks(server.deps, m, { podId });
  assert.deepEqual(texts(open), ["open-mine", "open-theirs"]);
  assert.equal(open.statusFilter, "open");
  assert.equal(open.podName, "Launch");
  assert.deepEqual(texts(await getPodTasks(server.deps, m, { podId, statusFilter: "done" })), [
    "done-recent",
  ]);
  assert.deepEqual(
    texts(await getPodTasks(server.deps, m, { podId, statusFilter: "done", daysAgo: 30 })),
    ["done-recent", "done-old"],
  );
  assert.deepEqual(texts(await getPodTasks(server.deps, m, { podId, assigneeFilter: "mine" })), [
    "open-mine",
  ]);
  const all = await getPodTasks(server.deps, m, { podId, statusFilter: "all" });
  assert.equal(all.count, 3);
  await assert.rejects(
    async () => await getPodTasks(server.deps, m, { podId, daysAgo: 91 }),
    /daysAgo/,
  );
});

Deno.test("[api/pods] a task links only a conversation the caller can read", async () => {
  const { server, editor, member, outsider, base, podId } = await setup();
  await using _ = server;
  const conv = async (token: string) =>
    (await apiJson(server, token, `${base}/assistant/conversations`, {
      method: "POST",
      body: { title: "t", visibility: "unlisted" },
    })).body.conversation.sId as string;
  const mine = await conv(member.token);
  const private_ = await conv(outsider.token);
  const tasks = `${base}/spaces/${podId}/tasks`;
  const t = (await apiJson(server, member.token, tasks, { method: "POST", body: { text: "x" } }))
    .body.task;
  const linked = await apiJson(server, member.token, `${tasks}/${t.sId}`, {
    method: "PATCH",
    body: { conversationId: mine },
  });
  assert.equal(linked.status, 200);
  assert.equal(linked.body.task.conversationId, mine);
  const refused = await apiJson(server, editor.token, `${tasks}/${t.sId}`, {
    method: "PATCH",
    body: { conversationId: private_ },
  });
  assert.equal(refused.status, 404);
  assert.equal(refused.body.error.type, "conversation_not_found");
});

Deno.test("[api/pods] another workspace's Pod id answers exactly like a missing one", async () => {
  const { server, member, base } = await setup();
  await using _ = server;
  const other = await createUserWithToken(server, { email: "o@example.com", role: "admin" });
  const theirs = await apiJson(server, other.token, `/api/v1/w/${other.workspace.sId}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Theirs" },
  });
  const foreign = await apiJson(
    server,
    member.token,
    `${base}/spaces/${theirs.body.space.sId}/project_metadata`,
  );
  const missing = await apiJson(
    server,
    member.token,
    `${base}/spaces/vlt_missing/project_metadata`,
  );
  assert.equal(foreign.status, 404);
  assert.deepEqual(foreign.body, missing.body);
});

Deno.test("[api/pods] editors archive a Pod: it leaves listings and MCP views, and can be restored", async () => {
  const { server, editor, member, base, podId } = await setup();
  await using _ = server;
  const url = `${base}/spaces/${podId}/project_metadata`;
  const byMember = await apiJson(server, member.token, url, {
    method: "PATCH",
    body: { archived: true },
  });
  assert.equal(byMember.status, 403);
  const archived = await apiJson(server, editor.token, url, {
    method: "PATCH",
    body: { archived: true },
  });
  assert.equal(archived.status, 200);
  assert.equal(typeof archived.body.metadata.archivedAt, "number");
  const listed = await apiJson(server, member.token, `${base}/spaces?kinds=project`);
  assert.deepEqual(listed.body.spaces, []);
  const m = await actorOf(server, member);
  assert.equal((await listPods(server.deps, m)).count, 0);
  await assert.rejects(async () => await getPod(server.deps, m, { podId }), /Pod not found/);
  const restored = await apiJson(server, editor.token, url, {
    method: "PATCH",
    body: { archived: false },
  });
  assert.equal(restored.body.metadata.archivedAt, null);
  assert.equal((await listPods(server.deps, m)).count, 1);
});
