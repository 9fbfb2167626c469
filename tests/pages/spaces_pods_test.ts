/**
 * Spaces and Pods on the console: creating them (who may), opening and restricting a space
 * (readers follow), a Pod's task board through its forms, its members (join, add, leave) and
 * its files (upload, download as an attachment, refused to non-members).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue, startSessionFor } from "../helpers/browser_http.ts";
import {
  type ConsoleWorld,
  seedConsoleWorld,
  type Viewer,
  viewerOf,
} from "../helpers/console_admin_world.ts";
import { listTasks } from "../../src/core/tasks.ts";
import { pageActorOf } from "../helpers/oauth_client.ts";

async function as(w: ConsoleWorld, who: Viewer, path: string) {
  const b = new BrowserHttp(w.s.url);
  await startSessionFor(w.s, b, viewerOf(w, who).user.id);
  const page = await b.get(path);
  return { b, page, csrf: formValue(page.text, "csrf") ?? "" };
}

Deno.test("[spaces] admins create spaces, builders Pods, users neither; a restricted space is read by its members only", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const base = `/w/${w.ws.sId}/spaces`;
  const user = await as(w, "user", base);
  const refused = await user.b.post(base, { csrf: user.csrf, kind: "project", name: "Mine" });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /Only builders and admins can create Pods/);
  const builder = await as(w, "builder", base);
  const space = await builder.b.post(base, { csrf: builder.csrf, kind: "regular", name: "Ops" });
  assert.equal(space.status, 403, "spaces are for admins");
  const pod = await builder.b.post(base, {
    csrf: builder.csrf,
    kind: "project",
    name: "Side project",
    description: "Something new",
    restricted: "1",
  });
  assert.equal(pod.status, 200);
  assert.match(pod.text, /Pod “Side project” created/);
  const admin = await as(w, "admin", base);
  const made = await admin.b.post(base, {
    csrf: admin.csrf,
    kind: "regular",
    name: "Legal",
    restricted: "1",
  });
  assert.match(made.text, /Space “Legal” created/);
  const legal = /href="\/w\/[^/]+\/spaces\/(vlt_[^"]+)">Legal</.exec(made.text)![1];
  const forUser = await user.b.get(`${base}/${legal}`);
  assert.equal(forUser.status, 404, "restricted: not a member, not found");
  const opened = await admin.b.post(`${base}/${legal}/restriction`, {
    csrf: admin.csrf,
    restricted: "0",
  });
  assert.match(opened.text, /The space is open/);
  assert.equal((await user.b.get(`${base}/${legal}`)).status, 200, "open: every member reads it");
  await admin.b.post(`${base}/${legal}/restriction`, { csrf: admin.csrf, restricted: "1" });
  assert.equal((await user.b.get(`${base}/${legal}`)).status, 404);
  const added = await admin.b.post(`${base}/${legal}/members`, {
    csrf: admin.csrf,
    user: w.user.user.sId,
  });
  assert.equal(added.status, 200);
  assert.equal((await user.b.get(`${base}/${legal}`)).status, 200, "a member reads it");
  const granted = await admin.b.post(`${base}/${w.restrictedSpaceId}/groups`, {
    csrf: admin.csrf,
    group: w.groupId,
  });
  assert.match(granted.text, /Group granted/);
});

Deno.test("[pods] the task board: add, move, assign, link a conversation, delete — Pod members only", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const path = `/w/${w.ws.sId}/pods/${w.podId}`;
  const { b, csrf } = await as(w, "user", path);
  const add = await b.post(`${path}/tasks`, {
    csrf,
    text: "Check the translations",
    assignee: w.user.user.sId,
  });
  assert.equal(add.status, 200);
  assert.match(add.text, /data-task="Check the translations"/);
  const actor = await pageActorOf(s, w.user);
  const find = async () =>
    (await listTasks(s.deps, actor, { podId: w.podId, limit: 100 })).tasks.find((t) =>
      t.text === "Check the translations"
    )!;
  const task = await find();
  assert.equal(task.user?.sId, w.user.user.sId);
  const moved = await b.post(`${path}/tasks/${task.sId}`, { csrf, status: "in_progress" });
  assert.match(moved.text, /Task moved to In progress/);
  assert.equal((await find()).status, "in_progress");
  const bad = await b.post(`${path}/tasks/${task.sId}`, {
    csrf,
    assignee: "",
    conversation: "nope",
  });
  assert.equal(bad.status, 404, "an unknown conversation is refused on the page");
  const linked = await b.post(`${path}/tasks/${task.sId}`, {
    csrf,
    assignee: "",
    conversation: w.conversationId,
  });
  assert.equal(linked.status, 200);
  assert.ok(linked.text.includes(`/w/${w.ws.sId}/conversations/${w.conversationId}`));
  const now = await find();
  assert.equal(now.user, null, "unassigned");
  assert.equal(now.conversationId, w.conversationId);
  const del = await b.post(`${path}/tasks/${task.sId}/delete`, { csrf });
  assert.match(del.text, /Task deleted/);
  assert.equal(await find(), undefined);
  // Someone outside the Pod (an admin of the workspace, not a member) changes nothing.
  await s.deps.db.run(
    "DELETE FROM space_members WHERE user_id = ? AND space_id = (SELECT id FROM spaces WHERE s_id = ?)",
    w.admin.user.id,
    w.podId,
  );
  const admin = await as(w, "admin", `/w/${w.ws.sId}`);
  const r = await admin.b.post(`${path}/tasks`, { csrf: admin.csrf, text: "Sneaky" });
  assert.equal(r.status, 404);
  assert.equal((await admin.b.get(path)).status, 404, "no admin bypass on Pods");
});

Deno.test("[pods] files: upload, download as an attachment; members of the Pod only", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const path = `/w/${w.ws.sId}/pods/${w.podId}`;
  const { b, csrf } = await as(w, "user", path);
  const body = new FormData();
  body.set("csrf", csrf);
  body.set("file", new File(["<script>alert(1)</script>"], "notes.html", { type: "text/html" }));
  const up = await b.request(`${path}/files`, {
    method: "POST",
    headers: { origin: b.origin },
    body,
  });
  assert.equal(up.status, 200, up.text.slice(0, 300));
  assert.match(up.text, new RegExp(`Uploaded pod-${w.podId}/notes\\.html`));
  const link = new RegExp(`href="(${path}/files/fil_[^"]+)">notes\\.html<`).exec(up.text)![1];
  const dl = await b.get(link);
  assert.equal(dl.status, 200);
  assert.equal(dl.text, "<script>alert(1)</script>");
  assert.equal(dl.headers.get("content-type"), "application/octet-stream");
  assert.match(
    dl.headers.get("content-disposition") ?? "",
    /^attachment; filename\*=UTF-8''notes\.html$/,
  );
  assert.match(dl.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  const outsider = await as(w, "non-member", `/w/${w.ws.sId}`);
  assert.equal((await outsider.b.get(link)).status, 404);
  const builder = await as(w, "builder", `/w/${w.ws.sId}`);
  await s.deps.db.run(
    "DELETE FROM space_members WHERE user_id = ? AND space_id = (SELECT id FROM spaces WHERE s_id = ?)",
    w.user.user.id,
    w.podId,
  );
  assert.equal((await b.get(link)).status, 404, "left the Pod: no more files");
  assert.equal((await builder.b.get(link)).status, 200, "its editor still reads them");
});

Deno.test("[pods] members join an open Pod, editors add members, anyone leaves", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const spaces = `/w/${w.ws.sId}/spaces`;
  const builder = await as(w, "builder", spaces);
  const open = await builder.b.post(spaces, { csrf: builder.csrf, kind: "project", name: "Open" });
  const podId = /data-pod="Open"[\s\S]*?href="\/w\/[^/]+\/pods\/(vlt_[^"]+)"/.exec(open.text)![1];
  const user = await as(w, "user", spaces);
  assert.match(user.page.text, /aria-label="Join Open"/);
  const joined = await user.b.post(`${spaces}/${podId}/join`, { csrf: user.csrf });
  assert.match(joined.text, /You joined the Pod/);
  const pod = `/w/${w.ws.sId}/pods/${podId}`;
  assert.equal((await user.b.get(pod)).status, 200);
  const left = await user.b.post(`${pod}/members/remove`, {
    csrf: user.csrf,
    user: w.user.user.sId,
  });
  assert.equal(left.status, 303, "leaving goes back to the list");
  assert.equal((await user.b.get(pod)).status, 404);
  const restricted = `/w/${w.ws.sId}/pods/${w.podId}`;
  const kick = await user.b.post(`${restricted}/members/remove`, {
    csrf: user.csrf,
    user: w.builder.user.sId,
  });
  assert.equal(kick.status, 403, "a member does not remove others");
});
