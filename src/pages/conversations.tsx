/** @jsxImportSource hono/jsx */
/**
 * Conversation pages: `/w/{wId}/conversations?view=mine|shared|pods` (25 a page, with a form
 * to start one) and `/w/{wId}/conversations/{cId}` — the `conversationUrl` of REST and MCP —
 * with its user and agent messages, agent actions (tool, arguments, result), content
 * fragments and files, a form to post a message mentioning an agent, cancel for answers being
 * written, and a failed answer's error with what to do. An answer being written streams in
 * through `…/messages/{mId}/events`, the message's event stream (the same core function as
 * REST's, opened with the browser session and closed when it signs out), followed by one
 * script served from the binary under a per-response nonce; without JavaScript the page shows
 * what is stored and a reload link.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { formExpiredPage } from "./layout.tsx";
import { originCheck, readCsrfForm } from "./page_auth.ts";
import {
  ConsoleLayout,
  type ConsolePage,
  consolePage,
  Csrf,
  formatBytes,
  Notice,
  query,
  scriptNonce,
  Time,
  withMember,
} from "./console_common.tsx";
import {
  CONVERSATION_STREAM_JS,
  CONVERSATION_STREAM_SCRIPT_PATH,
} from "./conversation_stream_script.ts";
import {
  CONSOLE_CONVERSATION_VIEWS,
  type ConsoleConversationView,
  listConsoleConversations,
} from "../core/conversation_lists.ts";
import { getConversation, markConversationRead, postConversation } from "../core/conversations.ts";
import { postToConversation } from "../core/messages.ts";
import { cancelMessageGeneration } from "../core/agent_messages.ts";
import { openMessageEvents } from "../core/conversation_streams.ts";
import { listAgentConfigurations } from "../core/agents.ts";
import { listSpaces } from "../core/spaces.ts";
import { filesList } from "../core/file_system.ts";
import { defaultMessageContext } from "../core/message_context.ts";
import type { Json } from "../core/message_json.ts";
import { connectionDone, sseResponse } from "../api/sse.ts";
import { AppError } from "../errors.ts";

const VIEW_LABEL: Record<ConsoleConversationView, string> = {
  mine: "Mine",
  shared: "Shared with the workspace",
  pods: "In Pods",
};
const listPath = (wId: string) => `/w/${wId}/conversations`;
const convPath = (wId: string, cId: string) => `${listPath(wId)}/${encodeURIComponent(cId)}`;

type AgentOption = { sId: string; name: string };

function AgentSelect(p: { id: string; agents: AgentOption[]; selected: string | null }) {
  return (
    <select id={p.id} name="agent">
      {p.agents.map((a) => (
        <option key={a.sId} value={a.sId} selected={a.sId === p.selected}>@{a.name}</option>
      ))}
      <option value="" selected={p.selected === ""}>No agent</option>
    </select>
  );
}

async function agentOptions(c: Context<AppEnv>, page: ConsolePage): Promise<AgentOption[]> {
  return (await listAgentConfigurations(c.var.deps, page.actor, { view: "list" }))
    .map((a) => ({ sId: a.sId, name: a.name }));
}

/** The message context of a post from the console: the member, the server's zone, `web`. */
function webContext(page: ConsolePage) {
  return { ...defaultMessageContext(page.actor), origin: "web" };
}

// ---------------------------------------------------------------------------------------------
// The list

async function renderList(c: Context<AppEnv>, page: ConsolePage, error?: string) {
  const wId = page.actor.workspace.sId;
  const raw = c.req.query("view") ?? "mine";
  const view = (CONSOLE_CONVERSATION_VIEWS as readonly string[]).includes(raw)
    ? raw as ConsoleConversationView
    : "mine";
  const cursor = c.req.query("cursor") || undefined;
  const deps = c.var.deps;
  const list = await listConsoleConversations(deps, page.actor, { view, cursor });
  const agents = await agentOptions(c, page);
  const pods = await listSpaces(deps, page.actor, { kinds: ["project"] });
  return c.html(
    <ConsoleLayout title="Conversations">
      <div class="card">
        <h1>Conversations</h1>
        <nav aria-label="Conversation lists">
          {CONSOLE_CONVERSATION_VIEWS.map((v) => (
            <a
              key={v}
              href={`${listPath(wId)}${query({ view: v === "mine" ? null : v })}`}
              aria-current={v === view ? "page" : undefined}
            >
              {v === view ? <strong>{VIEW_LABEL[v]}</strong> : VIEW_LABEL[v]}
            </a>
          ))}
        </nav>
        {list.conversations.length === 0 ? <p>No conversations here yet.</p> : (
          <table>
            <thead>
              <tr>
                <th scope="col">Conversation</th>
                <th scope="col">Where</th>
                <th scope="col">Last activity</th>
              </tr>
            </thead>
            <tbody>
              {list.conversations.map((cv) => (
                <tr key={cv.sId}>
                  <td>
                    <a href={convPath(wId, cv.sId)}>{cv.title || "Untitled conversation"}</a>
                    {cv.unread ? <strong>· unread</strong> : null}
                  </td>
                  <td>
                    {cv.pod
                      ? `Pod ${cv.pod.name}`
                      : cv.visibility === "workspace"
                      ? "Workspace"
                      : "Private"}
                  </td>
                  <td>
                    <Time ms={cv.updatedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p>
          {cursor
            ? (
              <a href={`${listPath(wId)}${query({ view: view === "mine" ? null : view })}`}>
                Newest
              </a>
            )
            : null}
          {cursor && list.nextCursor ? " · " : null}
          {list.nextCursor
            ? (
              <a
                href={`${listPath(wId)}${
                  query({ view: view === "mine" ? null : view, cursor: list.nextCursor })
                }`}
              >
                Older conversations
              </a>
            )
            : null}
        </p>
      </div>
      <div class="card">
        <h2>New conversation</h2>
        <Notice error={error} />
        <form method="post" action={listPath(wId)}>
          <Csrf page={page} />
          <label for="title">Title</label>
          <input id="title" name="title" type="text" maxlength={1024} />
          <label for="where">Where</label>
          <select id="where" name="where">
            <option value="private">Private (you, and whoever you share it with later)</option>
            <option value="workspace">Shared with the workspace</option>
            {pods.map((p) => <option key={p.sId} value={`pod:${p.sId}`}>{`Pod ${p.name}`}</option>)}
          </select>
          <label for="agent">Agent</label>
          <AgentSelect id="agent" agents={agents} selected={agents[0]?.sId ?? ""} />
          <label for="content">Message</label>
          <textarea id="content" name="content" rows={4} required maxlength={100000}></textarea>
          <button type="submit">Start conversation</button>
        </form>
      </div>
    </ConsoleLayout>,
    error ? 400 : 200,
  );
}

// ---------------------------------------------------------------------------------------------
// One conversation

function actionOutputText(output: unknown): string {
  if (!Array.isArray(output)) return output == null ? "" : JSON.stringify(output, null, 2);
  return output.map((b: Json) => (typeof b?.text === "string" ? b.text : JSON.stringify(b)))
    .join("\n");
}

function Actions(p: { actions: Json[] }) {
  if (p.actions.length === 0) return null;
  return (
    <div>
      {p.actions.map((a) => (
        <details key={a.sId}>
          <summary>
            {`Tool ${a.functionCallName} — ${a.status}`}
            {a.executionDurationMs != null ? ` (${a.executionDurationMs} ms)` : ""}
          </summary>
          <p class="muted">Arguments</p>
          <pre>{JSON.stringify(a.params, null, 2)}</pre>
          <p class="muted">Result</p>
          <pre>{actionOutputText(a.output).slice(0, 20_000)}</pre>
        </details>
      ))}
    </div>
  );
}

/** What a member can do about a failed answer. */
function FailureHelp(p: { code: string; instanceAdmin: boolean }) {
  if (p.code === "model_not_configured") {
    return p.instanceAdmin
      ? (
        <p>
          No model is configured for agents. Set one on the{" "}
          <a href="/admin/model">model settings</a> page, then post your message again.
        </p>
      )
      : (
        <p>
          No model is configured for agents. Ask an instance admin to set one (model settings), then
          post again.
        </p>
      );
  }
  if (p.code === "agent_unavailable") {
    return <p>The agent cannot answer any more. Mention another agent in a new message.</p>;
  }
  if (p.code === "agent_overloaded") {
    return <p>Too many answers are being written right now. Wait a moment, then post again.</p>;
  }
  return (
    <p>
      Post your message again. If it keeps failing, an admin can check the server's logs and model
      settings.
    </p>
  );
}

function AgentMessage(p: { m: Json; wId: string; cId: string; page: ConsolePage }) {
  const m = p.m;
  const writing = m.status === "created";
  return (
    <article class="card" aria-label={`Answer of @${m.configuration?.name}`}>
      <p>
        <strong>@{m.configuration?.name ?? "agent"}</strong>{" "}
        <span class="muted">
          <Time ms={m.created} />
          {m.status === "succeeded" ? "" : ` · ${m.status === "created" ? "writing" : m.status}`}
        </span>
      </p>
      <Actions actions={m.actions ?? []} />
      {writing
        ? (
          <div
            data-stream-url={`${convPath(p.wId, p.cId)}/messages/${
              encodeURIComponent(m.sId)
            }/events`}
            data-message-id={m.sId}
          >
            <p class="muted" data-stream-status aria-live="polite">
              The answer is being written. <a href={convPath(p.wId, p.cId)}>Reload</a> to see it.
            </p>
            <div data-stream-text aria-live="polite" class="pre">{m.content ?? ""}</div>
            <form method="post" action={`${convPath(p.wId, p.cId)}/cancel`}>
              <Csrf page={p.page} />
              <input type="hidden" name="messageId" value={m.sId} />
              <button type="submit" class="secondary">Stop this answer</button>
            </form>
          </div>
        )
        : <div class="pre">{m.content ?? ""}</div>}
      {m.status === "failed"
        ? (
          <div role="alert">
            <p class="error">
              {`The answer failed: ${m.error?.message || "unknown error"} (${
                m.error?.code ?? "error"
              })`}
            </p>
            <FailureHelp
              code={m.error?.code ?? ""}
              instanceAdmin={p.page.session.user.isInstanceAdmin}
            />
          </div>
        )
        : null}
      {m.status === "cancelled" ? <p class="muted">The answer was stopped.</p> : null}
    </article>
  );
}

function UserMessage(p: { m: Json }) {
  const m = p.m;
  const who = m.user?.fullName || m.user?.username || m.context?.username || "API";
  return (
    <article class="card" aria-label={`Message from ${who}`}>
      <p>
        <strong>{who}</strong>{" "}
        <span class="muted">
          <Time ms={m.created} />
        </span>
      </p>
      <div class="pre">{m.visibility === "deleted" ? "[Deleted message]" : m.content}</div>
    </article>
  );
}

function Fragment(p: { m: Json }) {
  const m = p.m;
  const link = typeof m.sourceUrl === "string" && /^https?:\/\//i.test(m.sourceUrl)
    ? m.sourceUrl
    : null;
  return (
    <article class="card" aria-label={`Attachment ${m.title}`}>
      <p>
        <strong>Attachment:</strong> {m.title}{" "}
        <span class="muted">
          {`${m.contentType}${m.textBytes != null ? `, ${formatBytes(m.textBytes)}` : ""}`}
          {m.expiredReason ? " · file deleted" : ""}
        </span>
      </p>
      {link
        ? (
          <p>
            <a href={link} rel="noopener noreferrer">{link}</a>
          </p>
        )
        : null}
    </article>
  );
}

async function conversationFiles(c: Context<AppEnv>, page: ConsolePage, cId: string) {
  try {
    return (await filesList(c.var.deps, page.actor, {
      scope: { type: "conversation", conversation_id: cId },
    })).files;
  } catch (e) {
    if (e instanceof AppError && e.status < 500) return [];
    throw e;
  }
}

async function renderConversation(
  c: Context<AppEnv>,
  page: ConsolePage,
  notice: { ok?: string; error?: string } = {},
) {
  const deps = c.var.deps;
  const wId = page.actor.workspace.sId;
  const cId = c.req.param("cId")!;
  const conv = await getConversation(deps, page.actor, { conversationId: cId });
  await markConversationRead(deps, page.actor, { conversationId: conv.sId, read: true });
  const messages: Json[] = conv.content.map((versions: Json[]) => versions[versions.length - 1]);
  const agents = await agentOptions(c, page);
  const lastAgent = [...messages].reverse().find((m) => m.type === "agent_message");
  const files = await conversationFiles(c, page, conv.sId);
  const pod = conv.spaceId
    ? (await listSpaces(deps, page.actor, { kinds: ["project"] })).find((s) =>
      s.sId === conv.spaceId
    )
    : null;
  const streaming = messages.some((m) => m.type === "agent_message" && m.status === "created");
  const nonce = streaming ? scriptNonce(c) : null;
  const where = conv.visibility === "test"
    ? "Test conversation (only you)"
    : conv.spaceId
    ? `In Pod ${pod?.name ?? conv.spaceId}`
    : conv.visibility === "workspace"
    ? "Shared with the workspace"
    : "Private";
  return c.html(
    <ConsoleLayout
      title={`${conv.title || "Conversation"} · Conversations`}
      crumbs={<a href={listPath(wId)}>Conversations</a>}
    >
      <div class="card">
        <h1>{conv.title || "Untitled conversation"}</h1>
        <p class="muted">
          {`${where} · started `}
          <Time ms={conv.created} />
        </p>
        <Notice ok={notice.ok} error={notice.error} />
      </div>
      {messages.length === 0 ? <p class="card">No messages yet.</p> : null}
      {messages.map((m) =>
        m.type === "user_message"
          ? <UserMessage key={m.sId} m={m} />
          : m.type === "agent_message"
          ? <AgentMessage key={m.sId} m={m} wId={wId} cId={conv.sId} page={page} />
          : <Fragment key={m.sId} m={m} />
      )}
      {files.length
        ? (
          <div class="card">
            <h2>Files</h2>
            <ul>
              {files.map((f) => (
                <li key={f.path}>
                  <code>{f.path}</code>{" "}
                  <span class="muted">{`${f.mimeType}, ${formatBytes(f.sizeBytes)}`}</span>
                </li>
              ))}
            </ul>
          </div>
        )
        : null}
      <div class="card">
        <h2>Post a message</h2>
        <form method="post" action={`${convPath(wId, conv.sId)}/messages`}>
          <Csrf page={page} />
          <label for="agent">Mention</label>
          <AgentSelect
            id="agent"
            agents={agents}
            selected={lastAgent?.configuration?.sId ?? agents[0]?.sId ?? ""}
          />
          <label for="content">Message</label>
          <textarea id="content" name="content" rows={4} required maxlength={100000}></textarea>
          <button type="submit">Send</button>
        </form>
      </div>
      {nonce ? <script nonce={nonce} src={CONVERSATION_STREAM_SCRIPT_PATH}></script> : null}
    </ConsoleLayout>,
    notice.error ? 400 : 200,
  );
}

/** A post's refusal (400/404 of the mention, 429 budget) shown on the page; others go up. */
function postError(e: unknown): string {
  if (e instanceof AppError && e.status < 500 && e.status !== 403) return e.message;
  throw e;
}

/** The conversation pages (mounted at the root). */
export function conversationPageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(CONVERSATION_STREAM_SCRIPT_PATH, (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(CONVERSATION_STREAM_JS);
  });
  app.use("/w/:wId/conversations", consolePage);
  app.use("/w/:wId/conversations", originCheck);
  app.use("/w/:wId/conversations/*", consolePage);
  app.use("/w/:wId/conversations/*", originCheck);

  app.get("/w/:wId/conversations", (c) => withMember(c, (page) => renderList(c, page)));

  app.post("/w/:wId/conversations", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const where = form.where ?? "private";
      const content = (form.content ?? "").trim();
      if (!content) return await renderList(c, page, "Write a message to start the conversation.");
      try {
        const r = await postConversation(c.var.deps, page.actor, {
          title: form.title?.trim() || content.slice(0, 80),
          visibility: where === "workspace" ? "workspace" : "unlisted",
          spaceId: where.startsWith("pod:") ? where.slice(4) : null,
          post: {
            content,
            mentions: form.agent ? [{ configurationId: form.agent }] : [],
            context: webContext(page),
            contentFragments: [],
          },
        });
        return c.redirect(convPath(page.actor.workspace.sId, r.conversation.sId), 303);
      } catch (e) {
        return await renderList(c, page, postError(e));
      }
    }));

  app.get(
    "/w/:wId/conversations/:cId",
    (c) => withMember(c, (page) => renderConversation(c, page)),
  );

  app.post("/w/:wId/conversations/:cId/messages", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const cId = c.req.param("cId");
      const content = (form.content ?? "").trim();
      if (!content) return await renderConversation(c, page, { error: "Write a message to send." });
      try {
        await postToConversation(c.var.deps, page.actor, {
          conversationId: cId,
          post: {
            content,
            mentions: form.agent ? [{ configurationId: form.agent }] : [],
            context: webContext(page),
            contentFragments: [],
          },
        });
      } catch (e) {
        return await renderConversation(c, page, { error: postError(e) });
      }
      return c.redirect(convPath(page.actor.workspace.sId, cId), 303);
    }));

  app.post("/w/:wId/conversations/:cId/cancel", (c) =>
    withMember(c, async (page) => {
      const form = await readCsrfForm(c, page.session);
      if (!form) return formExpiredPage(c);
      const cId = c.req.param("cId");
      await cancelMessageGeneration(c.var.deps, page.actor, {
        conversationId: cId,
        messageIds: [form.messageId ?? ""],
      });
      return c.redirect(convPath(page.actor.workspace.sId, cId), 303);
    }));

  // The message's event stream for the page's script: the core's stream, opened as the member
  // with this browser session (signing out ends it); EventSource resumes with Last-Event-ID.
  app.get("/w/:wId/conversations/:cId/messages/:mId/events", (c) =>
    withMember(c, async (page) => {
      const actor = {
        ...page.actor,
        credential: { ...page.actor.credential, sessionIdHash: page.session.session.idHash },
      };
      const body = await openMessageEvents(c.var.deps, actor, {
        conversationId: c.req.param("cId"),
        messageId: c.req.param("mId"),
        lastEventId: c.req.query("lastEventId") ?? c.req.header("Last-Event-ID") ?? null,
        connection: connectionDone(c),
      });
      return sseResponse(body);
    }));

  return app;
}
