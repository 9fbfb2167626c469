/** @jsxImportSource hono/jsx */
/**
 * Members (workspace admins): who is in the workspace with their role and last activity;
 * invitations by one-time link (shown once, expiring, revocable; no email is sent — the admin
 * shares the link); role changes; removal, confirmed on a page that says what it revokes
 * (core/members.ts); and groups (create, members, delete). Everything goes through the core
 * functions, which refuse anyone but an admin.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import { Copyable, Csrf, Flash, Layout, Table, when } from "./layout.tsx";
import { securePage } from "./page_security.ts";
import {
  formAction,
  type FormOutcome,
  originCheck,
  requireWorkspacePage,
  type WorkspacePage,
} from "./page_auth.ts";
import {
  changeMemberRole,
  getMember,
  listMemberChoices,
  listMembers,
  type MemberChoice,
  type MemberView,
  removeMember,
} from "../core/members.ts";
import {
  createInvitation,
  INVITATION_DAYS,
  type InvitationView,
  listInvitations,
  revokeInvitation,
} from "../core/invitations.ts";
import {
  addGroupMember,
  createGroup,
  deleteGroup,
  getGroup,
  type GroupMember,
  type GroupView,
  listGroups,
  removeGroupMember,
} from "../core/groups.ts";
import { ROLES } from "../core/workspaces.ts";
import type { Role } from "../auth/actor.ts";

interface Outcome extends FormOutcome {
  invite?: { url: string; email: string; role: Role; expiresAt: number };
  confirmRemove?: MemberView;
}

const ROLE_HELP: Record<Role, string> = {
  admin: "admin — everything, including members, settings and audit",
  builder: "builder — also creates Pods, agents and data sources",
  user: "user — uses agents, conversations, Pods and knowledge",
};

function RoleSelect(props: { name: string; id: string; value?: Role; label?: string }) {
  return (
    <select name={props.name} id={props.id} aria-label={props.label}>
      {ROLES.map((r) => <option key={r} value={r} selected={props.value === r}>{r}</option>)}
    </select>
  );
}

function MemberRow(p: { m: MemberView; wId: string; csrf: string; self: boolean }) {
  const id = `role-${p.m.sId}`;
  return (
    <tr data-member={p.m.email}>
      <td>
        {p.m.fullName}
        {p.self ? " (you)" : null}
      </td>
      <td>{p.m.email}</td>
      <td>
        <form method="post" action={`/w/${p.wId}/members/role`} class="inline">
          <Csrf token={p.csrf} />
          <input type="hidden" name="user" value={p.m.sId} />
          <RoleSelect name="role" id={id} value={p.m.role} label={`Role of ${p.m.email}`} />
          <button type="submit" class="small secondary">Save</button>
        </form>
      </td>
      <td class="nowrap">{when(p.m.joinedAt)}</td>
      <td class="nowrap">{when(p.m.lastActiveAt)}</td>
      <td>
        <form method="post" action={`/w/${p.wId}/members/remove`} class="inline">
          <Csrf token={p.csrf} />
          <input type="hidden" name="user" value={p.m.sId} />
          <button type="submit" class="small danger" aria-label={`Remove ${p.m.email}`}>
            Remove
          </button>
        </form>
      </td>
    </tr>
  );
}

function InviteCard(p: { wId: string; csrf: string; outcome: Outcome }) {
  const inv = p.outcome.invite;
  return (
    <div class="card" id="invite">
      <h2>Invite someone</h2>
      {inv
        ? (
          <div>
            <p class="ok" role="status">
              Invitation for {inv.email}{" "}
              ({inv.role}) created. Copy the link now: it is shown only once and works until{" "}
              {when(inv.expiresAt)}.
            </p>
            <Copyable id="invite-url" text={inv.url} label="Copy the invitation link" />
            <p class="muted">
              No email is sent: share the link with {inv.email}{" "}
              yourself. Whoever opens it must sign in or sign up as {inv.email}.
            </p>
          </div>
        )
        : null}
      <form method="post" action={`/w/${p.wId}/members/invite`} class="row-form">
        <Csrf token={p.csrf} />
        <div>
          <label for="invite-email">Email</label>
          <input id="invite-email" type="email" name="email" required maxlength={320} />
        </div>
        <div>
          <label for="invite-role">Role</label>
          <RoleSelect name="role" id="invite-role" value="user" />
        </div>
        <div>
          <label for="invite-days">Link valid for</label>
          <select id="invite-days" name="days">
            {INVITATION_DAYS.map((d) => (
              <option key={d} value={String(d)}>{d} day{d > 1 ? "s" : ""}</option>
            ))}
          </select>
        </div>
        <div>
          <button type="submit">Create invitation link</button>
        </div>
      </form>
      <ul class="muted">
        {ROLES.map((r) => <li key={r}>{ROLE_HELP[r]}</li>)}
      </ul>
    </div>
  );
}

function InvitationsCard(p: { wId: string; csrf: string; invitations: InvitationView[] }) {
  return (
    <div class="card" id="invitations">
      <h2>Invitations</h2>
      <Table
        head={["Email", "Role", "State", "Created", "Expires", ""]}
        rows={p.invitations.length}
        empty="No invitation yet."
      >
        {p.invitations.map((i) => (
          <tr data-invitation={i.email}>
            <td>{i.email}</td>
            <td>{i.role}</td>
            <td>{i.state}</td>
            <td class="nowrap">{when(i.createdAt)}</td>
            <td class="nowrap">{when(i.expiresAt)}</td>
            <td>
              {i.state === "pending"
                ? (
                  <form method="post" action={`/w/${p.wId}/members/invitations/revoke`}>
                    <Csrf token={p.csrf} />
                    <input type="hidden" name="invitation" value={i.sId} />
                    <button
                      type="submit"
                      class="small danger"
                      aria-label={`Revoke the invitation of ${i.email}`}
                    >
                      Revoke
                    </button>
                  </form>
                )
                : null}
            </td>
          </tr>
        ))}
      </Table>
    </div>
  );
}

function GroupsCard(p: { wId: string; csrf: string; groups: GroupView[] }) {
  return (
    <div class="card" id="groups">
      <h2>Groups</h2>
      <p class="muted">
        Grant a group a restricted space (on the space's page) and its members read it.
      </p>
      <Table head={["Group", { label: "Members", num: true }]} rows={p.groups.length} empty="">
        {p.groups.map((g) => (
          <tr>
            <td>
              <a href={`/w/${p.wId}/members/groups/${g.sId}`}>{g.name}</a>
            </td>
            <td class="num">{g.kind === "global" ? "everyone" : g.memberCount}</td>
          </tr>
        ))}
      </Table>
      <form method="post" action={`/w/${p.wId}/members/groups`} class="row-form">
        <Csrf token={p.csrf} />
        <div>
          <label for="group-name">New group</label>
          <input id="group-name" type="text" name="name" required maxlength={255} />
        </div>
        <div>
          <button type="submit">Create group</button>
        </div>
      </form>
    </div>
  );
}

function ConfirmRemove(p: { wId: string; csrf: string; m: MemberView }) {
  return (
    <div class="card" id="confirm-remove">
      <h2>Remove {p.m.email}?</h2>
      <p>
        They lose access to this workspace at once. Their OAuth grants, MCP tokens, personal access
        tokens and client-side MCP servers here are revoked; they leave every space, Pod and group
        of the workspace. Their conversations, tasks and files stay.
      </p>
      <form method="post" action={`/w/${p.wId}/members/remove`} class="actions">
        <Csrf token={p.csrf} />
        <input type="hidden" name="user" value={p.m.sId} />
        <input type="hidden" name="confirm" value="1" />
        <button type="submit" class="danger">Remove {p.m.email}</button>
        <a class="button secondary" href={`/w/${p.wId}/members`}>Cancel</a>
      </form>
    </div>
  );
}

interface PageProps {
  page: WorkspacePage;
  members: MemberView[];
  total: number;
  next: string | null;
  invitations: InvitationView[];
  groups: GroupView[];
  outcome: Outcome;
}

function MembersPage(p: PageProps) {
  const wId = p.page.actor.workspace.sId;
  const csrf = p.page.session.session.csrf;
  return (
    <Layout title="Members">
      <div class="card">
        <h1>Members</h1>
        <Flash message={p.outcome.message} error={p.outcome.error} />
      </div>
      {p.outcome.confirmRemove
        ? <ConfirmRemove wId={wId} csrf={csrf} m={p.outcome.confirmRemove} />
        : null}
      <InviteCard wId={wId} csrf={csrf} outcome={p.outcome} />
      <div class="card" id="members">
        <h2>{p.total} member{p.total === 1 ? "" : "s"}</h2>
        <Table
          head={["Name", "Email", "Role", "Joined", "Last active", ""]}
          rows={p.members.length}
          empty="No member."
        >
          {p.members.map((m) => (
            <MemberRow m={m} wId={wId} csrf={csrf} self={m.sId === p.page.actor.user.sId} />
          ))}
        </Table>
        {p.next
          ? (
            <p>
              <a href={`/w/${wId}/members?after=${encodeURIComponent(p.next)}`}>More members</a>
            </p>
          )
          : null}
      </div>
      <InvitationsCard wId={wId} csrf={csrf} invitations={p.invitations} />
      <GroupsCard wId={wId} csrf={csrf} groups={p.groups} />
    </Layout>
  );
}

async function render(c: Context<AppEnv>, page: WorkspacePage, outcome: Outcome, status = 200) {
  const deps = c.get("deps");
  const after = c.req.query("after")?.slice(0, 320);
  const list = await listMembers(deps, page.actor, { cursor: after });
  return c.html(
    <MembersPage
      page={page}
      members={list.members}
      total={list.total}
      next={list.nextCursor}
      invitations={await listInvitations(deps, page.actor)}
      groups={await listGroups(deps, page.actor)}
      outcome={outcome}
    />,
    status as 200,
  );
}

interface GroupProps {
  page: WorkspacePage;
  group: GroupView;
  members: GroupMember[];
  choices: MemberChoice[];
  outcome: FormOutcome;
}

function GroupPage(p: GroupProps) {
  const wId = p.page.actor.workspace.sId;
  const csrf = p.page.session.session.csrf;
  const base = `/w/${wId}/members/groups/${p.group.sId}`;
  const regular = p.group.kind === "regular";
  const inGroup = new Set(p.members.map((m) => m.sId));
  const addable = p.choices.filter((m) => !inGroup.has(m.sId));
  return (
    <Layout title={`Group ${p.group.name}`}>
      <div class="card">
        <p>
          <a href={`/w/${wId}/members#groups`}>Members</a> › Groups
        </p>
        <h1>{p.group.name}</h1>
        <Flash message={p.outcome.message} error={p.outcome.error} />
        {regular ? null : (
          <p>
            Every member of the workspace is in this group; granting it a space opens the space to
            everyone.
          </p>
        )}
      </div>
      {regular
        ? (
          <div class="card">
            <h2>Members of the group</h2>
            <Table head={["Name", "Email", ""]} rows={p.members.length} empty="Nobody yet.">
              {p.members.map((m) => (
                <tr>
                  <td>{m.fullName}</td>
                  <td>{m.email}</td>
                  <td>
                    <form method="post" action={`${base}/remove`}>
                      <Csrf token={csrf} />
                      <input type="hidden" name="user" value={m.sId} />
                      <button
                        type="submit"
                        class="small secondary"
                        aria-label={`Remove ${m.email} from the group`}
                      >
                        Remove
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </Table>
            {addable.length
              ? (
                <form method="post" action={`${base}/add`} class="row-form">
                  <Csrf token={csrf} />
                  <div>
                    <label for="group-add">Add a member</label>
                    <select id="group-add" name="user">
                      {addable.map((m) => (
                        <option key={m.sId} value={m.sId}>{m.fullName} ({m.email})</option>
                      ))}
                    </select>
                  </div>
                  <div>
                    <button type="submit">Add to group</button>
                  </div>
                </form>
              )
              : <p class="muted">Every member is in this group.</p>}
            <form method="post" action={`${base}/delete`}>
              <Csrf token={csrf} />
              <button type="submit" class="danger">Delete this group</button>
            </form>
          </div>
        )
        : null}
    </Layout>
  );
}

async function renderGroup(
  c: Context<AppEnv>,
  page: WorkspacePage,
  outcome: FormOutcome,
  status = 200,
) {
  const deps = c.get("deps");
  const { group, members } = await getGroup(deps, page.actor, {
    groupId: c.req.param("groupId") ?? "",
  });
  return c.html(
    <GroupPage
      page={page}
      group={group}
      members={members}
      choices={await listMemberChoices(deps, page.actor)}
      outcome={outcome}
    />,
    status as 200,
  );
}

export function membersRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/w/:wId/members", securePage);
  app.use("/w/:wId/members/*", securePage, originCheck);

  app.get("/w/:wId/members", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    return page instanceof Response ? page : await render(c, page, {});
  });

  app.post(
    "/w/:wId/members/invite",
    formAction<Outcome>(render, async (c, page, form) => {
      const r = await createInvitation(c.get("deps"), page.actor, {
        email: form.email ?? "",
        role: form.role ?? "user",
        expiresInDays: Number(form.days ?? INVITATION_DAYS[0]),
      });
      // Rendered directly (no redirect): the link exists in this one response only.
      return {
        invite: {
          url: r.url,
          email: r.invitation.email,
          role: r.invitation.role,
          expiresAt: r.invitation.expiresAt,
        },
      };
    }),
  );

  app.post(
    "/w/:wId/members/invitations/revoke",
    formAction<Outcome>(render, async (c, page, form) => {
      const inv = await revokeInvitation(c.get("deps"), page.actor, {
        invitationId: form.invitation ?? "",
      });
      return { message: `The invitation of ${inv.email} is revoked; its link no longer works.` };
    }),
  );

  app.post(
    "/w/:wId/members/role",
    formAction<Outcome>(render, async (c, page, form) => {
      const r = await changeMemberRole(c.get("deps"), page.actor, {
        userId: form.user ?? "",
        role: form.role ?? "",
      });
      return { message: `${r.email} is now ${r.role}.` };
    }),
  );

  app.post(
    "/w/:wId/members/remove",
    formAction<Outcome>(render, async (c, page, form) => {
      const deps = c.get("deps");
      if (form.confirm !== "1") {
        // First the page that says what removal revokes; the removal is its button.
        const m = await getMember(deps, page.actor, { userId: form.user ?? "" });
        return { confirmRemove: m };
      }
      const r = await removeMember(deps, page.actor, { userId: form.user ?? "" });
      return {
        message: `${r.email} was removed: ${r.grantsRevoked} OAuth grant(s), ` +
          `${r.mcpTokensRevoked} MCP token(s) and ${r.personalTokensRevoked} personal access ` +
          `token(s) revoked, ${r.relayRegistrationsRemoved} client-side MCP server(s) removed; ` +
          `left ${r.spacesLeft} space(s) and ${r.groupsLeft} group(s).`,
      };
    }),
  );

  app.post(
    "/w/:wId/members/groups",
    formAction<Outcome>(render, async (c, page, form) => {
      const g = await createGroup(c.get("deps"), page.actor, { name: form.name ?? "" });
      return { message: `Group ${g.name} created.` };
    }),
  );

  app.get("/w/:wId/members/groups/:groupId", async (c) => {
    const page = await requireWorkspacePage(c, c.req.param("wId"));
    return page instanceof Response ? page : await renderGroup(c, page, {});
  });

  const groupInput = (c: Context<AppEnv>, form: Record<string, string>) => ({
    groupId: c.req.param("groupId") ?? "",
    userId: form.user ?? "",
  });

  app.post(
    "/w/:wId/members/groups/:groupId/add",
    formAction(renderGroup, async (c, page, form) => {
      await addGroupMember(c.get("deps"), page.actor, groupInput(c, form));
      return { message: "Added to the group." };
    }),
  );

  app.post(
    "/w/:wId/members/groups/:groupId/remove",
    formAction(renderGroup, async (c, page, form) => {
      await removeGroupMember(c.get("deps"), page.actor, groupInput(c, form));
      return { message: "Removed from the group." };
    }),
  );

  app.post(
    "/w/:wId/members/groups/:groupId/delete",
    formAction<Outcome>(render, async (c, page) => {
      await deleteGroup(c.get("deps"), page.actor, { groupId: c.req.param("groupId") ?? "" });
      return { message: "Group deleted; the spaces it was granted no longer are." };
    }),
  );
  return app;
}
