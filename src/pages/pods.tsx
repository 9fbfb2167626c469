/** @jsxImportSource hono/jsx */
/**
 * A Pod's page (`/w/<wId>/pods/<podId>`, the URL `list_pods` and `get_pod` give): its
 * description, members (editors add and remove; anyone leaves), the task board — to do, in
 * progress, done — with assignees and linked conversations, its conversations and its files
 * (download; upload up to 2 MiB from the browser). Who may do what is the core's Pod rules:
 * the Pod's members and editors only, admins included.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Csrf, Flash, Layout, Table, when } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import {
  formAction,
  type FormOutcome,
  originCheck,
  requireWorkspacePage,
  type WorkspacePage,
} from "./page_auth.ts";
import {
  getPodOverview,
  listPodMembers,
  patchPodMetadata,
  type PodMember,
  type PodOverview,
} from "../core/pods.ts";
import { addSpaceMember, removeSpaceMember } from "../core/spaces.ts";
import {
  createTask,
  deleteTask,
  listTasks,
  MAX_TASKS_PAGE,
  type PodTaskJson,
  TASK_STATUSES,
  type TaskStatus,
  updateTask,
} from "../core/tasks.ts";
import {
  listPodFiles,
  POD_PAGE_UPLOAD_MAX,
  type PodFile,
  uploadPodFile,
} from "../core/pod_files.ts";
import { openFileContent } from "../core/files.ts";
import { listConversations } from "../core/conversations.ts";
import { listMemberChoices, type MemberChoice } from "../core/members.ts";
import { formatBytes } from "../core/storage_quota.ts";
import { AddMemberForm } from "./spaces.tsx";

const COLUMN: Record<TaskStatus, string> = {
  todo: "To do",
  in_progress: "In progress",
  done: "Done",
};
const MOVE: Record<TaskStatus, string> = {
  todo: "Back to do",
  in_progress: "Start",
  done: "Done",
};

interface Props {
  page: WorkspacePage;
  pod: PodOverview;
  members: PodMember[];
  tasks: PodTaskJson[];
  files: PodFile[];
  conversations: { sId: string; title: string | null; updated: number }[];
  choices: MemberChoice[];
  outcome: FormOutcome;
}

function TaskCard(p: { t: PodTaskJson; base: string; csrf: string; members: PodMember[] }) {
  const t = p.t;
  const wBase = p.base.slice(0, p.base.indexOf("/pods/"));
  const action = `${p.base}/tasks/${t.sId}`;
  return (
    <div class="task" id={`task-${t.sId}`} data-task={t.text}>
      <p>{t.text}</p>
      <div class="meta">
        {t.user ? `Assigned to ${t.user.fullName}` : "Unassigned"}
        {t.conversationId
          ? (
            <>
              {" · "}
              <a href={`${wBase}/conversations/${t.conversationId}`}>linked conversation</a>
            </>
          )
          : null}
        {t.doneAt ? ` · done ${when(t.doneAt)}` : null}
      </div>
      <form method="post" action={action} class="inline">
        <Csrf token={p.csrf} />
        {TASK_STATUSES.filter((s) => s !== t.status).map((s) => (
          <button
            type="submit"
            name="status"
            value={s}
            class="small secondary"
            aria-label={`${MOVE[s]}: ${t.text}`}
          >
            {MOVE[s]}
          </button>
        ))}
      </form>
      <details>
        <summary>Edit</summary>
        <form method="post" action={action}>
          <Csrf token={p.csrf} />
          <label for={`assignee-${t.sId}`}>Assignee</label>
          <select id={`assignee-${t.sId}`} name="assignee">
            <option value="">Unassigned</option>
            {p.members.map((m) => (
              <option value={m.sId} selected={t.user?.sId === m.sId}>{m.fullName}</option>
            ))}
          </select>
          <label for={`conversation-${t.sId}`}>Linked conversation id</label>
          <input
            id={`conversation-${t.sId}`}
            type="text"
            name="conversation"
            value={t.conversationId ?? ""}
            maxlength={64}
          />
          <button type="submit" class="small">Save</button>
        </form>
        <form method="post" action={`${action}/delete`}>
          <Csrf token={p.csrf} />
          <button type="submit" class="small danger">Delete task</button>
        </form>
      </details>
    </div>
  );
}

function Board(p: { tasks: PodTaskJson[]; base: string; csrf: string; members: PodMember[] }) {
  return (
    <div class="board">
      {TASK_STATUSES.map((s) => {
        const mine = p.tasks.filter((t) => t.status === s);
        return (
          <section key={s} class="column" aria-label={COLUMN[s]} data-column={s}>
            <h3>
              {COLUMN[s]} <span class="muted">({mine.length})</span>
            </h3>
            {mine.length === 0 ? <p class="muted">No task.</p> : null}
            {mine.map((t) => (
              <TaskCard key={t.sId} t={t} base={p.base} csrf={p.csrf} members={p.members} />
            ))}
          </section>
        );
      })}
    </div>
  );
}

function NewTaskForm(p: { base: string; csrf: string; members: PodMember[] }) {
  return (
    <form method="post" action={`${p.base}/tasks`} class="row-form">
      <Csrf token={p.csrf} />
      <div>
        <label for="task-text">New task</label>
        <input id="task-text" type="text" name="text" required maxlength={2000} />
      </div>
      <div>
        <label for="task-assignee">Assignee</label>
        <select id="task-assignee" name="assignee">
          <option value="">Unassigned</option>
          {p.members.map((m) => <option key={m.sId} value={m.sId}>{m.fullName}</option>)}
        </select>
      </div>
      <div>
        <button type="submit">Add task</button>
      </div>
    </form>
  );
}

function MembersCard(p: Props & { base: string; csrf: string }) {
  const me = p.page.actor.user.sId;
  const inPod = new Set(p.members.map((m) => m.sId));
  return (
    <div class="card" id="pod-members">
      <h2>Members</h2>
      <Table head={["Name", "Email", "Role", ""]} rows={p.members.length} empty="No member.">
        {p.members.map((m) => (
          <tr>
            <td>{m.fullName}</td>
            <td>{m.email}</td>
            <td>{m.role}</td>
            <td>
              {p.pod.canAdminister || m.sId === me
                ? (
                  <form method="post" action={`${p.base}/members/remove`}>
                    <Csrf token={p.csrf} />
                    <input type="hidden" name="user" value={m.sId} />
                    <button
                      type="submit"
                      class="small secondary"
                      aria-label={m.sId === me ? "Leave the Pod" : `Remove ${m.email}`}
                    >
                      {m.sId === me ? "Leave" : "Remove"}
                    </button>
                  </form>
                )
                : null}
            </td>
          </tr>
        ))}
      </Table>
      {p.pod.canAdminister
        ? (
          <AddMemberForm
            action={`${p.base}/members`}
            csrf={p.csrf}
            choices={p.choices.filter((m) => !inPod.has(m.sId))}
            roles
          />
        )
        : null}
    </div>
  );
}

function FilesCard(p: Props & { base: string; csrf: string }) {
  return (
    <div class="card" id="pod-files">
      <h2>Files</h2>
      <Table
        head={["File", "Type", { label: "Size", num: true }, "Updated"]}
        rows={p.files.length}
        empty="No file in this Pod yet."
      >
        {p.files.map((f) => (
          <tr>
            <td>
              <a href={`${p.base}/files/${f.sId}`}>{f.name}</a>
            </td>
            <td>{f.contentType}</td>
            <td class="num">{formatBytes(f.sizeBytes)}</td>
            <td class="nowrap">{when(f.updatedAt)}</td>
          </tr>
        ))}
      </Table>
      {p.pod.canWrite && !p.pod.archived
        ? (
          <form
            method="post"
            action={`${p.base}/files`}
            enctype="multipart/form-data"
            class="row-form"
          >
            <Csrf token={p.csrf} />
            <div>
              <label for="pod-file">Upload a file (up to {formatBytes(POD_PAGE_UPLOAD_MAX)})</label>
              <input id="pod-file" type="file" name="file" required />
            </div>
            <div>
              <button type="submit">Upload</button>
            </div>
          </form>
        )
        : null}
    </div>
  );
}

function PodPage(p: Props) {
  const wId = p.page.actor.workspace.sId;
  const base = `/w/${wId}/pods/${p.pod.sId}`;
  const csrf = p.page.session.session.csrf;
  return (
    <Layout title={p.pod.name}>
      <div class="card">
        <p>
          <a href={`/w/${wId}/spaces#pods`}>Spaces and Pods</a> ›
        </p>
        <h1>
          {p.pod.name} {p.pod.archived ? <span class="badge">archived</span> : null}
        </h1>
        <Flash message={p.outcome.message} error={p.outcome.error} />
        <p class="muted">
          {p.pod.isRestricted ? "Restricted Pod" : "Open Pod (any member may join)"} · Pod id{" "}
          <code>{p.pod.sId}</code>
        </p>
        <form method="post" action={`${base}/description`}>
          <Csrf token={csrf} />
          <label for="description">Description</label>
          <textarea id="description" name="description" rows={3} maxlength={10000}>
            {p.pod.description}
          </textarea>
          <div class="actions">
            <button type="submit" class="secondary">Save description</button>
          </div>
        </form>
        {p.pod.canAdminister
          ? (
            <form method="post" action={`${base}/archive`}>
              <Csrf token={csrf} />
              <input type="hidden" name="archived" value={p.pod.archived ? "0" : "1"} />
              <button type="submit" class="secondary">
                {p.pod.archived ? "Restore the Pod" : "Archive the Pod"}
              </button>
            </form>
          )
          : null}
      </div>
      <div class="card" id="tasks">
        <h2>Tasks</h2>
        <NewTaskForm base={base} csrf={csrf} members={p.members} />
        <Board tasks={p.tasks} base={base} csrf={csrf} members={p.members} />
      </div>
      <MembersCard {...p} base={base} csrf={csrf} />
      <div class="card" id="pod-conversations">
        <h2>Conversations</h2>
        {p.conversations.length === 0 ? <p class="muted">No conversation in this Pod yet.</p> : (
          <ul>
            {p.conversations.map((c) => (
              <li>
                <a href={`/w/${wId}/conversations/${c.sId}`}>{c.title || "Untitled"}</a>{" "}
                <span class="muted">{when(c.updated)}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
      <FilesCard {...p} base={base} csrf={csrf} />
    </Layout>
  );
}

async function render(c: Context<AppEnv>, page: WorkspacePage, outcome: FormOutcome, status = 200) {
  const deps = c.get("deps");
  const actor = page.actor;
  const podId = c.req.param("podId") ?? "";
  const pod = await getPodOverview(deps, actor, { podId });
  const members = await listPodMembers(deps, actor, { podId });
  const conversations = await listConversations(deps, actor, { podId, limit: 10 });
  return c.html(
    <PodPage
      page={page}
      pod={pod}
      members={members}
      tasks={(await listTasks(deps, actor, { podId, limit: MAX_TASKS_PAGE })).tasks}
      files={await listPodFiles(deps, actor, { podId })}
      conversations={conversations.conversations.map((x) => ({
        sId: x.sId,
        title: x.title,
        updated: x.updated,
      }))}
      choices={pod.canAdminister ? await listMemberChoices(deps, actor) : []}
      outcome={outcome}
    />,
    status as 200,
  );
}

export function podsPageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/pods/:podId", securePage);
  app.use("/w/:wId/pods/:podId/*", securePage, originCheck);
  const podId = (c: Context<AppEnv>) => c.req.param("podId") ?? "";

  app.get("/w/:wId/pods/:podId", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    return page instanceof Response ? page : await render(c, page, {});
  });

  app.post(
    "/w/:wId/pods/:podId/description",
    formAction(render, async (c, page, form) => {
      await patchPodMetadata(c.get("deps"), page.actor, {
        spaceId: podId(c),
        description: (form.description ?? "").trim(),
      });
      return { message: "Description saved." };
    }),
  );

  app.post(
    "/w/:wId/pods/:podId/archive",
    formAction(render, async (c, page, form) => {
      const archived = form.archived === "1";
      await patchPodMetadata(c.get("deps"), page.actor, { spaceId: podId(c), archived });
      return { message: archived ? "The Pod is archived." : "The Pod is restored." };
    }),
  );

  app.post(
    "/w/:wId/pods/:podId/members",
    formAction(render, async (c, page, form) => {
      await addSpaceMember(c.get("deps"), page.actor, {
        spaceId: podId(c),
        userId: form.user ?? "",
        role: form.role === "editor" ? "editor" : "member",
      });
      return { message: "Member added." };
    }),
  );

  app.post("/w/:wId/pods/:podId/members/remove", async (c) => {
    // Leaving a Pod ends reading it: after leaving, the list of spaces is the page to show.
    return await formAction(
      async (c, page, outcome: FormOutcome & { left?: boolean }, status) =>
        outcome.left
          ? c.redirect(`/w/${page.actor.workspace.sId}/spaces#pods`, 303)
          : await render(c, page, outcome, status),
      async (c, page, form) => {
        await removeSpaceMember(c.get("deps"), page.actor, {
          spaceId: podId(c),
          userId: form.user ?? "",
        });
        return form.user === page.actor.user.sId ? { left: true } : { message: "Member removed." };
      },
    )(c);
  });

  app.post(
    "/w/:wId/pods/:podId/tasks",
    formAction(render, async (c, page, form) => {
      await createTask(c.get("deps"), page.actor, {
        podId: podId(c),
        text: (form.text ?? "").trim(),
        assigneeId: form.assignee || null,
      });
      return { message: "Task added." };
    }),
  );

  app.post(
    "/w/:wId/pods/:podId/tasks/:taskId",
    formAction(render, async (c, page, form) => {
      const status = (TASK_STATUSES as readonly string[]).includes(form.status ?? "")
        ? form.status as TaskStatus
        : undefined;
      await updateTask(c.get("deps"), page.actor, {
        podId: podId(c),
        taskId: c.req.param("taskId") ?? "",
        status,
        assigneeId: "assignee" in form ? (form.assignee || null) : undefined,
        conversationId: "conversation" in form ? (form.conversation.trim() || null) : undefined,
      });
      return { message: status ? `Task moved to ${COLUMN[status]}.` : "Task saved." };
    }),
  );

  app.post(
    "/w/:wId/pods/:podId/tasks/:taskId/delete",
    formAction(render, async (c, page) => {
      await deleteTask(c.get("deps"), page.actor, {
        podId: podId(c),
        taskId: c.req.param("taskId") ?? "",
      });
      return { message: "Task deleted." };
    }),
  );

  app.post(
    "/w/:wId/pods/:podId/files",
    formAction(render, async (c, page) => {
      const body = await c.req.parseBody();
      const file = body.file;
      if (!(file instanceof File)) return { error: "Choose a file to upload." };
      const r = await uploadPodFile(c.get("deps"), page.actor, {
        podId: podId(c),
        name: file.name,
        contentType: file.type,
        bytes: new Uint8Array(await file.arrayBuffer()),
      });
      return { message: `${r.created ? "Uploaded" : "Replaced"} ${r.path}.` };
    }),
  );

  app.get("/w/:wId/pods/:podId/files/:fileId", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    const deps = c.get("deps");
    // The Pod must be readable (404 otherwise), and the file one of its files.
    const files = await listPodFiles(deps, page.actor, { podId: podId(c) });
    const listed = files.find((f) => f.sId === c.req.param("fileId"));
    if (!listed) return c.notFound();
    const { file, body } = await openFileContent(deps, page.actor, listed.sId);
    const name = listed.name.slice(listed.name.lastIndexOf("/") + 1);
    return c.body(body, 200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(file.fileSize),
      // Always a download: a file's bytes never render as a page of this origin.
      "Content-Disposition": `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
    });
  });
  return app;
}
