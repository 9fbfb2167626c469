/** @jsxImportSource hono/jsx */
/**
 * Where the console starts: `/` sends a visitor to sign-in, to their only workspace, or to the
 * workspace picker (`/w`); `/w/<wId>` is a workspace's home — getting started (admins), the
 * viewer's open tasks, Pods and recent conversations, and how to connect an AI client.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Copyable, Layout, Table } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import { requireSession, requireWorkspacePage } from "./page_auth.ts";
import { listUserWorkspaces, type MembershipView } from "../core/workspaces.ts";
import { mcpResourceUrl } from "../config.ts";
import { listPods } from "../core/pods.ts";
import { type AssignedTask, listAssignedTasks } from "../core/tasks.ts";
import { listConversations } from "../core/conversations.ts";
import { getSetupProgress } from "../core/workspace_overview.ts";
import type { UserActor } from "../auth/actor.ts";

function PickerPage(props: { workspaces: MembershipView[] }) {
  return (
    <Layout title="Workspaces">
      <div class="card">
        <h1>Your workspaces</h1>
        {props.workspaces.length === 0
          ? (
            <p>
              You are not a member of any workspace yet. Ask an admin of your team's workspace for
              an invitation link.
            </p>
          )
          : (
            <Table head={["Workspace", "Your role"]} rows={props.workspaces.length} empty="">
              {props.workspaces.map((m) => (
                <tr>
                  <td>
                    <a href={`/w/${m.workspace.sId}`}>{m.workspace.name}</a>{" "}
                    <code class="muted">{m.workspace.sId}</code>
                  </td>
                  <td>{m.role}</td>
                </tr>
              ))}
            </Table>
          )}
      </div>
    </Layout>
  );
}

interface HomeProps {
  actor: UserActor;
  mcpUrl: string;
  tasks: AssignedTask[];
  pods: { id: string; name: string }[];
  conversations: { sId: string; title: string | null; updated: number; unread: boolean }[];
  checklist: { done: boolean; label: string; href: string }[] | null;
}

const STATUS_LABEL = { todo: "To do", in_progress: "In progress", done: "Done" } as const;

function HomePage(p: HomeProps) {
  const base = `/w/${p.actor.workspace.sId}`;
  return (
    <Layout title={p.actor.workspace.name}>
      <div class="card">
        <h1>{p.actor.workspace.name}</h1>
        <p class="muted">
          You are {p.actor.role === "admin" ? "an admin" : `a ${p.actor.role}`} of this workspace.
        </p>
        {p.checklist
          ? (
            <>
              <h2>Getting started</h2>
              <ul>
                {p.checklist.map((i) => (
                  <li>
                    {i.done ? "✓ " : ""}
                    <a href={i.href}>{i.label}</a>
                    {i.done ? " (done)" : null}
                  </li>
                ))}
              </ul>
            </>
          )
          : null}
      </div>
      <div class="grid">
        <div class="card">
          <h2>Your open tasks</h2>
          {p.tasks.length === 0 ? <p class="muted">No task is assigned to you.</p> : (
            <ul>
              {p.tasks.map((t) => (
                <li>
                  <a href={`${base}/pods/${t.podId}#task-${t.sId}`}>{t.text}</a>{" "}
                  <span class="muted">
                    · {t.podName} · {STATUS_LABEL[t.status]}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Your Pods</h2>
          {p.pods.length === 0 ? <p class="muted">You are in no Pod yet.</p> : (
            <ul>
              {p.pods.map((pod) => (
                <li>
                  <a href={`${base}/pods/${pod.id}`}>{pod.name}</a>
                </li>
              ))}
            </ul>
          )}
          <p>
            <a href={`${base}/spaces`}>All spaces and Pods</a>
          </p>
        </div>
        <div class="card">
          <h2>Recent conversations</h2>
          {p.conversations.length === 0 ? <p class="muted">No conversation yet.</p> : (
            <ul>
              {p.conversations.map((c) => (
                <li>
                  <a href={`${base}/conversations/${c.sId}`}>{c.title || "Untitled"}</a>
                  {c.unread ? <span class="badge">unread</span> : null}
                </li>
              ))}
            </ul>
          )}
          <p>
            <a href={`${base}/conversations`}>All conversations</a>
          </p>
        </div>
      </div>
      <div class="card">
        <h2>Connect an AI client</h2>
        <p>Paste this URL in Claude, ChatGPT, Cursor, VS Code or any MCP client:</p>
        <Copyable id="home-mcp-url" text={p.mcpUrl} label="Copy the MCP URL" />
        <p>
          <a href={`${base}/integrations`}>Setup for each client, and MCP tokens</a>
        </p>
      </div>
    </Layout>
  );
}

async function checklistFor(c: Context<AppEnv>, actor: UserActor) {
  if (actor.role !== "admin") return null;
  const done = await getSetupProgress(c.get("deps"), actor);
  const base = `/w/${actor.workspace.sId}`;
  return [
    { done: done.model, label: "Configure the model agents answer with", href: "/admin/model" },
    { done: done.teammates, label: "Invite your teammates", href: `${base}/members` },
    { done: done.spaces, label: "Create a space or a Pod", href: `${base}/spaces` },
    {
      done: done.knowledge,
      label: "Add knowledge (documents your agents and clients search)",
      href: `${base}/knowledge`,
    },
    { done: done.clients, label: "Connect an AI client", href: `${base}/integrations` },
  ];
}

export function homeRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/", securePage);
  app.use("/w", securePage);
  app.use("/w/:wId", securePage);

  app.get("/", async (c) => {
    const s = await requireSession(c);
    if (s instanceof Response) return c.redirect("/login", 303);
    const workspaces = await listUserWorkspaces(c.get("deps").db, s.user.id);
    if (workspaces.length === 1) return c.redirect(`/w/${workspaces[0].workspace.sId}`, 303);
    return c.redirect("/w", 303);
  });

  app.get("/w", async (c) => {
    const s = await requireSession(c);
    if (s instanceof Response) return s;
    return c.html(
      <PickerPage workspaces={await listUserWorkspaces(c.get("deps").db, s.user.id)} />,
    );
  });

  app.get("/w/:wId", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    if (page instanceof Response) return page;
    const deps = c.get("deps");
    const actor = page.actor;
    const conversations = (await listConversations(deps, actor, { limit: 5 })).conversations;
    return c.html(
      <HomePage
        actor={actor}
        mcpUrl={mcpResourceUrl(deps.config)}
        tasks={await listAssignedTasks(deps, actor, { limit: 10 })}
        pods={(await listPods(deps, actor)).pods.slice(0, 20)}
        conversations={conversations.map((x) => ({
          sId: x.sId,
          title: x.title,
          updated: x.updated,
          unread: x.unread,
        }))}
        checklist={await checklistFor(c, actor)}
      />,
    );
  });
  return app;
}
