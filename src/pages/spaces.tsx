/** @jsxImportSource hono/jsx */
/**
 * Spaces and Pods: the list (what the viewer reads, administers or may join), creating a space
 * (admins) or a Pod (builders and admins), open or restricted; and a space's page — open or
 * restrict it, its members and the groups granted it (its administrators, core access rules).
 * A Pod's page is pods.tsx.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Csrf, Flash, Layout, Table } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import {
  formAction,
  type FormOutcome,
  originCheck,
  requireWorkspacePage,
  type WorkspacePage,
} from "./page_auth.ts";
import {
  addSpaceMember,
  type ConsoleSpace,
  createSpace,
  getSpaceOverview,
  listConsoleSpaces,
  listSpaceMembers,
  removeSpaceMember,
  setSpaceRestricted,
  type SpaceMemberJson,
} from "../core/spaces.ts";
import { patchPodMetadata } from "../core/pods.ts";
import {
  grantGroupToSpace,
  type GroupView,
  listGroups,
  listSpaceGroups,
  revokeGroupFromSpace,
} from "../core/groups.ts";
import { listMemberChoices, type MemberChoice } from "../core/members.ts";

const access = (s: ConsoleSpace) =>
  s.canRead ? (s.kind === "global" ? "everyone" : "member") : s.canJoin ? "may join" : "admin";

function SpacesTable(p: { wId: string; spaces: ConsoleSpace[]; csrf: string }) {
  return (
    <Table
      head={["Space", "Access", { label: "Members", num: true }, "You"]}
      rows={p.spaces.length}
      empty="No space yet."
    >
      {p.spaces.map((s) => (
        <tr data-space={s.name}>
          <td>
            <a href={`/w/${p.wId}/spaces/${s.sId}`}>{s.name}</a>
          </td>
          <td>
            {s.kind === "global" ? "whole workspace" : s.isRestricted ? "restricted" : "open"}
          </td>
          <td class="num">{s.kind === "global" ? "everyone" : s.memberCount}</td>
          <td>{access(s)}</td>
        </tr>
      ))}
    </Table>
  );
}

function PodsTable(p: { wId: string; pods: ConsoleSpace[]; csrf: string; me: string }) {
  return (
    <Table
      head={["Pod", "Access", { label: "Members", num: true }, "You"]}
      rows={p.pods.length}
      empty="No Pod you can see yet."
    >
      {p.pods.map((s) => (
        <tr data-pod={s.name}>
          <td>
            {s.canRead ? <a href={`/w/${p.wId}/pods/${s.sId}`}>{s.name}</a> : s.name}
            {s.archived ? <span class="badge">archived</span> : null}
          </td>
          <td>{s.isRestricted ? "restricted" : "open"}</td>
          <td class="num">{s.memberCount}</td>
          <td>
            {s.canJoin
              ? (
                <form method="post" action={`/w/${p.wId}/spaces/${s.sId}/join`}>
                  <Csrf token={p.csrf} />
                  <button type="submit" class="small" aria-label={`Join ${s.name}`}>Join</button>
                </form>
              )
              : s.canAdminister
              ? "editor"
              : "member"}
          </td>
        </tr>
      ))}
    </Table>
  );
}

function CreateForm(p: { wId: string; csrf: string; kind: "regular" | "project" }) {
  const pod = p.kind === "project";
  const id = pod ? "pod" : "space";
  return (
    <form method="post" action={`/w/${p.wId}/spaces`}>
      <Csrf token={p.csrf} />
      <input type="hidden" name="kind" value={p.kind} />
      <label for={`${id}-name`}>{pod ? "Pod name" : "Space name"}</label>
      <input id={`${id}-name`} type="text" name="name" required maxlength={255} />
      {pod
        ? (
          <>
            <label for="pod-description">Description</label>
            <textarea id="pod-description" name="description" rows={2}></textarea>
          </>
        )
        : null}
      <label class="inline">
        <input type="checkbox" name="restricted" value="1" checked={pod} /> Restricted:{" "}
        {pod ? "members join only when added" : "only its members and groups read it"}
      </label>
      <div>
        <button type="submit">{pod ? "Create Pod" : "Create space"}</button>
      </div>
    </form>
  );
}

interface ListProps {
  page: WorkspacePage;
  spaces: ConsoleSpace[];
  outcome: FormOutcome;
}

function SpacesPage(p: ListProps) {
  const wId = p.page.actor.workspace.sId;
  const csrf = p.page.session.session.csrf;
  const role = p.page.actor.role;
  const spaces = p.spaces.filter((s) => s.kind !== "project");
  const pods = p.spaces.filter((s) => s.kind === "project");
  return (
    <Layout title="Spaces and Pods">
      <div class="card">
        <h1>Spaces and Pods</h1>
        <p class="muted">
          Spaces hold knowledge: open ones are read by every member, restricted ones by their
          members and groups. Pods are projects with members, a task board and files.
        </p>
        <Flash message={p.outcome.message} error={p.outcome.error} />
      </div>
      <div class="card" id="spaces">
        <h2>Spaces</h2>
        <SpacesTable wId={wId} spaces={spaces} csrf={csrf} />
        {role === "admin" ? <CreateForm wId={wId} csrf={csrf} kind="regular" /> : null}
      </div>
      <div class="card" id="pods">
        <h2>Pods</h2>
        <PodsTable wId={wId} pods={pods} csrf={csrf} me={p.page.actor.user.sId} />
        {role !== "user"
          ? <CreateForm wId={wId} csrf={csrf} kind="project" />
          : <p class="muted">Builders and admins create Pods.</p>}
      </div>
    </Layout>
  );
}

async function renderList(
  c: Context<AppEnv>,
  page: WorkspacePage,
  outcome: FormOutcome,
  status = 200,
) {
  const spaces = await listConsoleSpaces(c.get("deps"), page.actor);
  return c.html(<SpacesPage page={page} spaces={spaces} outcome={outcome} />, status as 200);
}

interface SpaceProps {
  page: WorkspacePage;
  space: { sId: string; name: string; kind: string; isRestricted: boolean };
  canRead: boolean;
  admin: boolean;
  members: SpaceMemberJson[];
  groups: { sId: string; name: string; kind: string }[];
  allGroups: GroupView[];
  choices: MemberChoice[];
  outcome: FormOutcome;
}

function SpacePage(p: SpaceProps) {
  const wId = p.page.actor.workspace.sId;
  const csrf = p.page.session.session.csrf;
  const base = `/w/${wId}/spaces/${p.space.sId}`;
  const inSpace = new Set(p.members.map((m) => m.sId));
  const granted = new Set(p.groups.map((g) => g.sId));
  const regular = p.space.kind === "regular";
  return (
    <Layout title={p.space.name}>
      <div class="card">
        <p>
          <a href={`/w/${wId}/spaces`}>Spaces and Pods</a> ›
        </p>
        <h1>{p.space.name}</h1>
        <Flash message={p.outcome.message} error={p.outcome.error} />
        <p>
          {p.space.kind === "global"
            ? "Every member of the workspace reads this space."
            : p.space.isRestricted
            ? "Restricted: only its members and the groups granted it read it."
            : "Open: every member of the workspace reads it."}{" "}
          {p.canRead ? "You read it." : "You administer it without reading it (not a member)."}
        </p>
        {p.canRead
          ? (
            <p>
              <a href={`/w/${wId}/knowledge`}>Its knowledge (data sources and documents)</a>
            </p>
          )
          : null}
        {p.admin && regular
          ? (
            <form method="post" action={`${base}/restriction`}>
              <Csrf token={csrf} />
              <input type="hidden" name="restricted" value={p.space.isRestricted ? "0" : "1"} />
              <button type="submit" class="secondary">
                {p.space.isRestricted ? "Open it to every member" : "Restrict it"}
              </button>
            </form>
          )
          : null}
      </div>
      {p.admin && regular
        ? (
          <div class="card" id="space-members">
            <h2>Members</h2>
            <Table head={["Name", "Email", ""]} rows={p.members.length} empty="No member.">
              {p.members.map((m) => (
                <tr>
                  <td>{m.fullName}</td>
                  <td>{m.email}</td>
                  <td>
                    <form method="post" action={`${base}/members/remove`}>
                      <Csrf token={csrf} />
                      <input type="hidden" name="user" value={m.sId} />
                      <button
                        type="submit"
                        class="small secondary"
                        aria-label={`Remove ${m.email}`}
                      >
                        Remove
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </Table>
            <AddMemberForm
              action={`${base}/members`}
              csrf={csrf}
              choices={p.choices.filter((m) => !inSpace.has(m.sId))}
            />
          </div>
        )
        : null}
      {p.admin && regular
        ? (
          <div class="card" id="space-groups">
            <h2>Groups granted this space</h2>
            <Table head={["Group", ""]} rows={p.groups.length} empty="No group.">
              {p.groups.map((g) => (
                <tr>
                  <td>{g.kind === "global" ? "Workspace (everyone, and API keys)" : g.name}</td>
                  <td>
                    <form method="post" action={`${base}/groups/revoke`}>
                      <Csrf token={csrf} />
                      <input type="hidden" name="group" value={g.sId} />
                      <button
                        type="submit"
                        class="small secondary"
                        aria-label={`Take the space from ${g.name}`}
                      >
                        Remove
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </Table>
            {p.allGroups.some((g) => !granted.has(g.sId))
              ? (
                <form method="post" action={`${base}/groups`} class="row-form">
                  <Csrf token={csrf} />
                  <div>
                    <label for="grant-group">Grant a group</label>
                    <select id="grant-group" name="group">
                      {p.allGroups.filter((g) => !granted.has(g.sId)).map((g) => (
                        <option value={g.sId}>{g.name}</option>
                      ))}
                    </select>
                  </div>
                  <div>
                    <button type="submit">Grant</button>
                  </div>
                </form>
              )
              : null}
          </div>
        )
        : null}
    </Layout>
  );
}

/** A member picker posting `user` (and, for Pods, `role`). */
export function AddMemberForm(
  p: { action: string; csrf: string; choices: MemberChoice[]; roles?: boolean },
) {
  if (p.choices.length === 0) return <p class="muted">Every member of the workspace is in.</p>;
  return (
    <form method="post" action={p.action} class="row-form">
      <Csrf token={p.csrf} />
      <div>
        <label for="add-member">Add a member</label>
        <select id="add-member" name="user">
          {p.choices.map((m) => <option key={m.sId} value={m.sId}>{m.fullName} ({m.email})
          </option>)}
        </select>
      </div>
      {p.roles
        ? (
          <div>
            <label for="add-role">As</label>
            <select id="add-role" name="role">
              <option value="member">member</option>
              <option value="editor">editor</option>
            </select>
          </div>
        )
        : null}
      <div>
        <button type="submit">Add</button>
      </div>
    </form>
  );
}

async function renderSpace(
  c: Context<AppEnv>,
  page: WorkspacePage,
  outcome: FormOutcome,
  status = 200,
) {
  const deps = c.get("deps");
  const actor = page.actor;
  const spaceId = c.req.param("spaceId") ?? "";
  const space = await getSpaceOverview(deps, actor, { spaceId });
  if (space.kind === "project") {
    return c.redirect(`/w/${actor.workspace.sId}/pods/${space.sId}`, 303);
  }
  const canRead = space.canRead;
  const admin = space.canAdminister;
  const showAdmin = admin && space.kind === "regular";
  return c.html(
    <SpacePage
      page={page}
      space={space}
      canRead={canRead}
      admin={admin}
      members={showAdmin ? await listSpaceMembers(deps, actor, { spaceId }) : []}
      groups={showAdmin ? await listSpaceGroups(deps, actor, { spaceId }) : []}
      allGroups={showAdmin ? await listGroups(deps, actor) : []}
      choices={showAdmin ? await listMemberChoices(deps, actor) : []}
      outcome={outcome}
    />,
    status as 200,
  );
}

export function spacesRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/spaces", securePage, originCheck);
  app.use("/w/:wId/spaces/*", securePage, originCheck);

  app.get("/w/:wId/spaces", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    return page instanceof Response ? page : await renderList(c, page, {});
  });

  app.post(
    "/w/:wId/spaces",
    formAction(renderList, async (c, page, form) => {
      const deps = c.get("deps");
      const kind = form.kind === "project" ? "project" : "regular";
      const space = await createSpace(deps, page.actor, {
        kind,
        name: form.name ?? "",
        restricted: form.restricted === "1",
      });
      if (kind === "project" && form.description?.trim()) {
        await patchPodMetadata(deps, page.actor, {
          spaceId: space.sId,
          description: form.description.trim(),
        });
      }
      return { message: `${kind === "project" ? "Pod" : "Space"} “${space.name}” created.` };
    }),
  );

  app.post(
    "/w/:wId/spaces/:spaceId/join",
    formAction(renderList, async (c, page) => {
      await addSpaceMember(c.get("deps"), page.actor, {
        spaceId: c.req.param("spaceId") ?? "",
        userId: page.actor.user.sId,
      });
      return { message: "You joined the Pod." };
    }),
  );

  app.get("/w/:wId/spaces/:spaceId", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    return page instanceof Response ? page : await renderSpace(c, page, {});
  });

  const spaceId = (c: Context<AppEnv>) => c.req.param("spaceId") ?? "";

  app.post(
    "/w/:wId/spaces/:spaceId/restriction",
    formAction(renderSpace, async (c, page, form) => {
      const s = await setSpaceRestricted(c.get("deps"), page.actor, {
        spaceId: spaceId(c),
        restricted: form.restricted === "1",
      });
      return { message: s.isRestricted ? "The space is restricted." : "The space is open." };
    }),
  );

  app.post(
    "/w/:wId/spaces/:spaceId/members",
    formAction(renderSpace, async (c, page, form) => {
      await addSpaceMember(c.get("deps"), page.actor, {
        spaceId: spaceId(c),
        userId: form.user ?? "",
      });
      return { message: "Member added." };
    }),
  );

  app.post(
    "/w/:wId/spaces/:spaceId/members/remove",
    formAction(renderSpace, async (c, page, form) => {
      await removeSpaceMember(c.get("deps"), page.actor, {
        spaceId: spaceId(c),
        userId: form.user ?? "",
      });
      return { message: "Member removed." };
    }),
  );

  app.post(
    "/w/:wId/spaces/:spaceId/groups",
    formAction(renderSpace, async (c, page, form) => {
      await grantGroupToSpace(c.get("deps"), page.actor, {
        spaceId: spaceId(c),
        groupId: form.group ?? "",
      });
      return { message: "Group granted." };
    }),
  );

  app.post(
    "/w/:wId/spaces/:spaceId/groups/revoke",
    formAction(renderSpace, async (c, page, form) => {
      await revokeGroupFromSpace(c.get("deps"), page.actor, {
        spaceId: spaceId(c),
        groupId: form.group ?? "",
      });
      return { message: "The group no longer has the space." };
    }),
  );
  return app;
}
