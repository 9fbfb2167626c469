/**
 * CSRF and clickjacking on every page. The app's route table is the list: every page route
 * must appear below, so a new page cannot ship without these checks. Every page answer —
 * signed out, signed in, refused, not found — forbids framing and referrers. Every form POST
 * is refused, with nothing changed in the database, when its CSRF token is missing, wrong or
 * another session's, and when it comes from another origin; the same POST done right changes
 * something (so the refusals are not vacuous).
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue, startSessionFor } from "../helpers/browser_http.ts";
import { createPasswordUser, type PasswordUser, pkcePair } from "../helpers/oauth_client.ts";
import { authorizeUrl, registerPublicClient } from "../helpers/oauth_flow.ts";
import { mintOAuthToken } from "../mcp/helpers.ts";
import { createStaticClient } from "../../src/core/oauth_clients.ts";
import { userActor } from "../helpers/conversations.ts";
import {
  assertUnframeable,
  digestDatabase,
  isPageRoute,
  routeTable,
} from "../helpers/security_pages.ts";
import { pageActorOf } from "../helpers/oauth_client.ts";
import { createSpace } from "../../src/core/spaces.ts";
import { createTask } from "../../src/core/tasks.ts";
import { uploadPodFile } from "../../src/core/pod_files.ts";
import { addGroupMember, createGroup } from "../../src/core/groups.ts";
import { createInvitation } from "../../src/core/invitations.ts";
import { createOwnPersonalToken } from "../../src/core/personal_tokens.ts";
import { createApiKey } from "../../src/core/api_keys.ts";
import type { UserActor } from "../../src/auth/actor.ts";
import { holdAgentRuns } from "../helpers/conversations.ts";
import { createFolder, globalSpaceSId, putDocument } from "../helpers/knowledge.ts";
import { createAgent } from "../../src/core/agent_editing.ts";
import { spaceField } from "../../src/core/grant_access.ts";
import { postConversation } from "../../src/core/conversations.ts";

interface World {
  s: TestServer;
  alice: PasswordUser;
  bob: PasswordUser;
  carol: PasswordUser;
  a: string;
  b: string;
  /** Alice's actor (admin of workspace a) for preparing forms through the core. */
  admin: UserActor;
  /** A restricted space, a Pod (alice edits it; bob is not in it), a file of it, a group. */
  spaceId: string;
  podId: string;
  fileId: string;
  groupId: string;
  /** The Pod, task or group the last prepared form acts on. */
  lastPod?: string;
  lastTask?: string;
  lastGroup?: string;
  /** Console fixtures in workspace a (ids). */
  k: {
    space: string;
    ds: string;
    agent: string;
    conversation: string;
    userMessage: string;
    /** Made by a form's `fields()` for its `path()`. */
    made: Record<string, string>;
  };
  seq: number;
  /** An OAuth grant of alice's (the connected-access edit page). */
  grant: string;
}

async function world(s: TestServer): Promise<World> {
  const alice = await createPasswordUser(s, { email: "alice@a.example", role: "admin" });
  await s.deps.db.run("UPDATE users SET is_instance_admin = 1 WHERE id = ?", alice.user.id);
  const bob = await createPasswordUser(s, {
    email: "bob@a.example",
    role: "user",
    workspace: alice.workspace,
  });
  const carol = await createPasswordUser(s, { email: "carol@b.example", role: "admin" });
  const admin = await pageActorOf(s, alice);
  const space = await createSpace(s.deps, admin, {
    kind: "regular",
    name: "Vault",
    restricted: true,
  });
  const pod = await createSpace(s.deps, admin, { kind: "project", name: "Pod" });
  const file = await uploadPodFile(s.deps, admin, {
    podId: pod.sId,
    name: "a.txt",
    contentType: "text/plain",
    bytes: new TextEncoder().encode("hello"),
  });
  const fileId = (await s.deps.db.get("SELECT s_id FROM files WHERE path = 'a.txt'") as {
    s_id: string;
  }).s_id;
  void file;
  const group = await createGroup(s.deps, admin, { name: "Group" });
  const actor = userActor({ ...alice, role: "admin", token: "" });
  const gspace = await globalSpaceSId(s, alice.workspace);
  const ds = await createFolder(s, actor, gspace, "Docs");
  await putDocument(s, actor, { spaceId: gspace, dataSourceId: ds }, "d1", "some text");
  const agent = (await createAgent(s.deps, actor, {
    name: "helper",
    description: "",
    instructions: "Help.",
  })).sId;
  const c = await postConversation(s.deps, actor, {
    title: "Console",
    visibility: "unlisted",
    post: {
      content: "hello",
      mentions: [],
      context: { username: "alice", timezone: "UTC" },
      contentFragments: [],
    },
  });
  const grant = (await mintOAuthToken(s, alice)).grantSId;
  return {
    s,
    alice,
    bob,
    carol,
    a: alice.workspace.sId,
    b: carol.workspace.sId,
    admin,
    spaceId: space.sId,
    podId: pod.sId,
    fileId,
    groupId: group.sId,
    k: {
      space: gspace,
      ds,
      agent,
      conversation: c.conversation.sId,
      userMessage: c.userMessage!.sId as string,
      made: {},
    },
    grant,
    seq: 0,
  };
}

/** A fresh task of the Pod (each form that changes one gets its own). */
async function newTask(w: World): Promise<string> {
  return (await createTask(w.s.deps, w.admin, { podId: w.podId, text: "A task" })).sId;
}

let podCount = 0;
/** A fresh open Pod of workspace a (alice edits it), for forms that change membership. */
async function newPod(w: World): Promise<string> {
  return (await createSpace(w.s.deps, w.admin, {
    kind: "project",
    name: `Pod ${++podCount}`,
    restricted: false,
  })).sId;
}

async function consentRequest(w: World, browser: BrowserHttp): Promise<string> {
  const clientId = await registerPublicClient(w.s.url);
  const { page } = await browser.openConsent(
    authorizeUrl(w.s.url, { clientId, challenge: pkcePair().challenge }),
  );
  return formValue(page.text, "request")!;
}

/** Every page route, with the URLs that exercise it (found and refused variants). */
function pageUrls(w: World, authorize: string): Record<string, string[]> {
  const ws = (p: string) => [`/w/${w.a}/${p}`, `/w/${w.b}/${p}`, `/w/nope/${p}`];
  return {
    "GET /setup": ["/setup", "/setup?token=wrong"],
    "GET /login": ["/login", "/login?next=%2F%2Fevil.example&email=x%40y.z"],
    "GET /authorize": [authorize, "/authorize?client_id=nope"],
    "GET /authorize/consent": ["/authorize/consent?request=bogus"],
    "GET /account": ["/account"],
    "GET /w/:wId/integrations": ws("integrations"),
    "GET /w/:wId/settings": ws("settings"),
    "GET /w/:wId/connected": ws("connected"),
    "GET /w/:wId/connected/grants/:gId": ws(`connected/grants/${w.grant}`),
    "GET /w/:wId/audit": ws("audit"),
    "GET /w/:wId/audit/export.jsonl": ws("audit/export.jsonl"),
    "GET /w/:wId/doctor": ws("doctor"),
    "GET /admin/model": ["/admin/model"],
    "GET /api/v1/reference": ["/api/v1/reference"],
    "GET /": ["/"],
    "GET /w": ["/w"],
    "GET /w/:wId": [`/w/${w.a}`, `/w/${w.b}`, "/w/nope"],
    "GET /invite": ["/invite", "/invite?token=dinv_wrong"],
    "GET /w/:wId/members": ws("members"),
    "GET /w/:wId/members/groups/:groupId": ws(`members/groups/${w.groupId}`),
    "GET /w/:wId/spaces": ws("spaces"),
    "GET /w/:wId/spaces/:spaceId": ws(`spaces/${w.spaceId}`),
    "GET /w/:wId/pods/:podId": ws(`pods/${w.podId}`),
    "GET /w/:wId/pods/:podId/files/:fileId": ws(`pods/${w.podId}/files/${w.fileId}`),
    "GET /w/:wId/credentials": ws("credentials"),
    "GET /w/:wId/knowledge": ws("knowledge"),
    "GET /w/:wId/knowledge/:spaceId/:dsId": ws(`knowledge/${w.k.space}/${w.k.ds}`),
    "GET /w/:wId/knowledge/:spaceId/:dsId/document": ws(
      `knowledge/${w.k.space}/${w.k.ds}/document?id=d1`,
    ),
    "GET /w/:wId/agents": ws("agents"),
    "GET /w/:wId/agents/new": ws("agents/new"),
    "GET /w/:wId/agents/:aId": ws(`agents/${w.k.agent}`),
    "GET /w/:wId/conversations": ws("conversations"),
    "GET /w/:wId/conversations/:cId": ws(`conversations/${w.k.conversation}`),
    "GET /w/:wId/conversations/:cId/messages/:mId/events": ws(
      `conversations/${w.k.conversation}/messages/${w.k.userMessage}/events`,
    ),
  };
}

Deno.test("[security] pages: every page forbids framing, referrers and cross-origin reads, signed in, signed out and refused", async () => {
  await using s = await startTestServer();
  // The setup form itself exists only before the first user.
  const setup = await fetch(s.setupUrl!.replace(s.config.publicUrl, s.url));
  assert.equal(setup.status, 200);
  await setup.body?.cancel();
  assertUnframeable("setup form", setup.headers);
  const w = await world(s);
  const clientId = await registerPublicClient(s.url);
  const authorize = authorizeUrl(s.url, { clientId, challenge: pkcePair().challenge });
  const pages = pageUrls(w, authorize);
  const routes = (await routeTable(s)).filter((r) => r.startsWith("GET ") && isPageRoute(r));
  assert.deepEqual(routes.filter((r) => !(r in pages)), [], "pages without a security check");
  const anonymous = new BrowserHttp(s.url);
  const browsers: [string, BrowserHttp][] = [["signed out", anonymous]];
  for (const u of [w.alice, w.bob]) {
    const b = new BrowserHttp(s.url);
    await b.signIn(u.email, u.password);
    browsers.push([u.email, b]);
  }
  let served = 0;
  for (const [who, b] of browsers) {
    const consent = who === "signed out"
      ? []
      : [`/authorize/consent?request=${encodeURIComponent(await consentRequest(w, b))}`];
    for (const url of [...Object.values(pages).flat(), ...consent]) {
      // Asked from another origin (as a page's fetch would), with the session cookie.
      const r = await b.request(url, { headers: { origin: "https://evil.example" } });
      assertUnframeable(`${who} GET ${url} (${r.status})`, r.headers);
      assert.equal(r.headers.get("access-control-allow-origin"), null, `${who} GET ${url}: CORS`);
      if (r.status === 200) served++;
    }
  }
  assert.ok(served >= 15, `only ${served} pages answered 200`);
});

interface Form {
  /** Fields of a valid submission (prepared with the signed-in browser). */
  fields(w: World, b: BrowserHttp): Promise<Record<string, string>>;
  path(w: World): string;
  /** The form carries the session's CSRF token (sign-in relies on the origin check only). */
  csrf: boolean;
  /** Bookkeeping after the successful submission. */
  after?(w: World): void;
  /** Sent as multipart/form-data with this file (upload forms). */
  file?: { name: string; type: string; content: string };
}

const alicesActor = (w: World) => userActor({ ...w.alice, role: "admin", token: "" });

let inviteCount = 0;
const wsForm = (
  path: (w: World) => string,
  fields: (w: World) => Promise<Record<string, string>> | Record<string, string>,
): Form => ({ path, csrf: true, fields: async (w) => await fields(w) });

/** The console's forms (members, spaces, Pods, credentials, invitations). */
const CONSOLE_FORMS: Record<string, Form> = {
  "POST /w/:wId/members/invite": wsForm((w) => `/w/${w.a}/members/invite`, () => ({
    email: `invitee${++inviteCount}@a.example`,
    role: "user",
    days: "7",
  })),
  "POST /w/:wId/members/invitations/revoke": wsForm(
    (w) => `/w/${w.a}/members/invitations/revoke`,
    async (w) => ({
      invitation: (await createInvitation(w.s.deps, w.admin, {
        email: `revoked${++inviteCount}@a.example`,
        role: "user",
      })).invitation.sId,
    }),
  ),
  "POST /w/:wId/members/role": wsForm((w) => `/w/${w.a}/members/role`, (w) => ({
    user: w.bob.user.sId,
    role: "builder",
  })),
  "POST /w/:wId/members/remove": wsForm((w) => `/w/${w.a}/members/remove`, async (w) => {
    const extra = await createPasswordUser(w.s, {
      email: `leaver${++inviteCount}@a.example`,
      role: "user",
      workspace: w.alice.workspace,
    });
    return { user: extra.user.sId, confirm: "1" };
  }),
  "POST /w/:wId/members/groups": wsForm((w) => `/w/${w.a}/members/groups`, () => ({
    name: `Group ${++inviteCount}`,
  })),
  "POST /w/:wId/members/groups/:groupId/add": wsForm(
    (w) => `/w/${w.a}/members/groups/${w.groupId}/add`,
    (w) => ({ user: w.bob.user.sId }),
  ),
  "POST /w/:wId/members/groups/:groupId/remove": {
    path: (w) => `/w/${w.a}/members/groups/${w.groupId}/remove`,
    csrf: true,
    fields: async (w) => {
      await addGroupMember(w.s.deps, w.admin, { groupId: w.groupId, userId: w.alice.user.sId });
      return { user: w.alice.user.sId };
    },
  },
  "POST /w/:wId/members/groups/:groupId/delete": wsForm(
    (w) => `/w/${w.a}/members/groups/${w.lastGroup}/delete`,
    async (w) => {
      w.lastGroup = (await createGroup(w.s.deps, w.admin, { name: `Doomed ${++inviteCount}` })).sId;
      return {};
    },
  ),
  "POST /w/:wId/spaces": wsForm((w) => `/w/${w.a}/spaces`, () => ({
    kind: "regular",
    name: `Space ${++inviteCount}`,
  })),
  "POST /w/:wId/spaces/:spaceId/join": {
    path: (w) => `/w/${w.a}/spaces/${w.lastPod}/join`,
    csrf: true,
    fields: async (w) => {
      w.lastPod = await newPod(w);
      await w.s.deps.db.run(
        "DELETE FROM space_members WHERE space_id = (SELECT id FROM spaces WHERE s_id = ?)",
        w.lastPod,
      );
      return {};
    },
  },
  "POST /w/:wId/spaces/:spaceId/restriction": wsForm(
    (w) => `/w/${w.a}/spaces/${w.spaceId}/restriction`,
    () => ({ restricted: "0" }),
  ),
  "POST /w/:wId/spaces/:spaceId/members": wsForm(
    (w) => `/w/${w.a}/spaces/${w.spaceId}/members`,
    (w) => ({ user: w.bob.user.sId }),
  ),
  "POST /w/:wId/spaces/:spaceId/members/remove": wsForm(
    (w) => `/w/${w.a}/spaces/${w.spaceId}/members/remove`,
    (w) => ({ user: w.alice.user.sId }),
  ),
  "POST /w/:wId/spaces/:spaceId/groups": wsForm(
    (w) => `/w/${w.a}/spaces/${w.spaceId}/groups`,
    (w) => ({ group: w.groupId }),
  ),
  "POST /w/:wId/spaces/:spaceId/groups/revoke": {
    path: (w) => `/w/${w.a}/spaces/${w.spaceId}/groups/revoke`,
    csrf: true,
    fields: async (w) => {
      const g = await createGroup(w.s.deps, w.admin, { name: `Granted ${++inviteCount}` });
      const { grantGroupToSpace } = await import("../../src/core/groups.ts");
      await grantGroupToSpace(w.s.deps, w.admin, { spaceId: w.spaceId, groupId: g.sId });
      return { group: g.sId };
    },
  },
  "POST /w/:wId/pods/:podId/description": wsForm(
    (w) => `/w/${w.a}/pods/${w.podId}/description`,
    () => ({ description: `Changed ${++inviteCount}` }),
  ),
  "POST /w/:wId/pods/:podId/archive": wsForm(
    (w) => `/w/${w.a}/pods/${w.lastPod}/archive`,
    async (w) => {
      w.lastPod = await newPod(w);
      return { archived: "1" };
    },
  ),
  "POST /w/:wId/pods/:podId/members": wsForm(
    (w) => `/w/${w.a}/pods/${w.podId}/members`,
    async (w) => ({
      user: (await createPasswordUser(w.s, {
        email: `podder${++inviteCount}@a.example`,
        role: "user",
        workspace: w.alice.workspace,
      })).user.sId,
      role: "member",
    }),
  ),
  "POST /w/:wId/pods/:podId/members/remove": wsForm(
    (w) => `/w/${w.a}/pods/${w.podId}/members/remove`,
    async (w) => {
      const u = await createPasswordUser(w.s, {
        email: `podleaver${++inviteCount}@a.example`,
        role: "user",
        workspace: w.alice.workspace,
      });
      const { addSpaceMember } = await import("../../src/core/spaces.ts");
      await addSpaceMember(w.s.deps, w.admin, { spaceId: w.podId, userId: u.user.sId });
      return { user: u.user.sId };
    },
  ),
  "POST /w/:wId/pods/:podId/tasks": wsForm(
    (w) => `/w/${w.a}/pods/${w.podId}/tasks`,
    () => ({ text: "New task" }),
  ),
  "POST /w/:wId/pods/:podId/tasks/:taskId": wsForm(
    (w) => `/w/${w.a}/pods/${w.podId}/tasks/${w.lastTask}`,
    async (w) => {
      w.lastTask = await newTask(w);
      return { status: "done" };
    },
  ),
  "POST /w/:wId/pods/:podId/tasks/:taskId/delete": wsForm(
    (w) => `/w/${w.a}/pods/${w.podId}/tasks/${w.lastTask}/delete`,
    async (w) => {
      w.lastTask = await newTask(w);
      return {};
    },
  ),
  "POST /w/:wId/pods/:podId/files": {
    path: (w) => `/w/${w.a}/pods/${w.podId}/files`,
    csrf: true,
    file: { name: "upload.txt", type: "text/plain", content: "hello" },
    fields: () => Promise.resolve({}),
  },
  "POST /w/:wId/credentials/mcp-token": wsForm(
    (w) => `/w/${w.a}/credentials/mcp-token`,
    () => ({}),
  ),
  "POST /w/:wId/credentials/personal-tokens": wsForm(
    (w) => `/w/${w.a}/credentials/personal-tokens`,
    () => ({ name: `Token ${++inviteCount}`, days: "" }),
  ),
  "POST /w/:wId/credentials/personal-tokens/revoke": wsForm(
    (w) => `/w/${w.a}/credentials/personal-tokens/revoke`,
    async (w) => ({
      id: (await createOwnPersonalToken(w.s.deps, w.admin, { name: "doomed" })).token.sId,
    }),
  ),
  "POST /w/:wId/credentials/api-keys": wsForm(
    (w) => `/w/${w.a}/credentials/api-keys`,
    () => ({ name: `Key ${++inviteCount}` }),
  ),
  "POST /w/:wId/credentials/api-keys/revoke": wsForm(
    (w) => `/w/${w.a}/credentials/api-keys/revoke`,
    async (w) => ({ id: (await createApiKey(w.s.deps, w.admin, { name: "doomed" })).key.sId }),
  ),
  "POST /invite/accept": {
    path: () => "/invite/accept",
    // The link's secret stands for the CSRF token (as setup's does); the origin is checked.
    csrf: false,
    fields: async (w) => {
      const carol = await pageActorOf(w.s, w.carol);
      const inv = await createInvitation(w.s.deps, carol, {
        email: w.alice.email,
        role: "user",
      });
      return { token: inv.token, action: "join" };
    },
  },
};

const FORMS: Record<string, Form> = {
  "POST /login": {
    path: () => "/login",
    csrf: false,
    fields: (w) => Promise.resolve({ email: w.alice.email, password: w.alice.password }),
  },
  "POST /logout": { path: () => "/logout", csrf: true, fields: () => Promise.resolve({}) },
  "POST /account/password": {
    path: () => "/account/password",
    csrf: true,
    fields: (w) => Promise.resolve({ current: w.alice.password, next: "a brand new passphrase" }),
    after: (w) => (w.alice.password = "a brand new passphrase"),
  },
  "POST /authorize/consent": {
    path: () => "/authorize/consent",
    csrf: true,
    fields: async (w, b) => ({
      request: await consentRequest(w, b),
      workspace: w.a,
      decision: "approve",
      access: "chosen",
      [spaceField(w.a, w.k.space)]: "1",
      read_only: "1",
    }),
  },
  "POST /w/:wId/connected/access": {
    path: (w) => `/w/${w.a}/connected/access`,
    csrf: true,
    fields: async (w) => ({
      grant: (await mintOAuthToken(w.s, w.alice)).grantSId,
      access: "chosen",
      [spaceField(w.a, w.k.space)]: "1",
    }),
  },
  "POST /w/:wId/integrations/token": {
    path: (w) => `/w/${w.a}/integrations/token`,
    csrf: true,
    fields: () => Promise.resolve({}),
  },
  "POST /w/:wId/settings": {
    path: (w) => `/w/${w.a}/settings`,
    csrf: true,
    fields: () => Promise.resolve({ redirect_policy: "all", allowed_redirect_uris: "" }),
  },
  "POST /w/:wId/settings/clients": {
    path: (w) => `/w/${w.a}/settings/clients`,
    csrf: true,
    fields: () =>
      Promise.resolve({
        name: "Static",
        redirect_uris: "http://127.0.0.1:9/cb",
        auth_method: "none",
      }),
  },
  "POST /w/:wId/settings/clients/delete": {
    path: (w) => `/w/${w.a}/settings/clients/delete`,
    csrf: true,
    fields: async (w) => {
      const c = await createStaticClient(
        w.s.deps.db,
        userActor({ ...w.alice, role: "admin", token: "" }),
        {
          name: "Doomed",
          redirectUris: ["http://127.0.0.1:9/cb"],
          authMethod: "none",
        },
      );
      return Promise.resolve({ client_id: c.client.clientId });
    },
  },
  "POST /w/:wId/connected/revoke": {
    path: (w) => `/w/${w.a}/connected/revoke`,
    csrf: true,
    fields: async (w) => ({
      kind: "grant",
      id: (await mintOAuthToken(w.s, w.alice)).grantSId,
    }),
  },
  "POST /w/:wId/audit/retention": {
    path: (w) => `/w/${w.a}/audit/retention`,
    csrf: true,
    fields: () => Promise.resolve({ retentionDays: "7" }),
  },
  "POST /w/:wId/doctor": {
    path: (w) => `/w/${w.a}/doctor`,
    csrf: true,
    fields: () => Promise.resolve({ client: "codex" }),
  },
  "POST /admin/model": {
    path: () => "/admin/model",
    csrf: true,
    fields: () => Promise.resolve({ base_url: "http://127.0.0.1:9/v1", model: "m" }),
  },
  ...CONSOLE_FORMS,
  "POST /w/:wId/knowledge/:spaceId/data_sources": {
    path: (w) => `/w/${w.a}/knowledge/${w.k.space}/data_sources`,
    csrf: true,
    fields: (w) => Promise.resolve({ name: `Folder ${++w.seq}` }),
  },
  "POST /w/:wId/knowledge/:spaceId/:dsId/upload": {
    path: (w) => `/w/${w.a}/knowledge/${w.k.space}/${w.k.ds}/upload`,
    csrf: true,
    fields: () => Promise.resolve({ title: "Uploaded" }),
    file: { name: "notes.md", type: "text/markdown", content: "# Notes\n\nUploaded text." },
  },
  "POST /w/:wId/knowledge/:spaceId/:dsId/document/delete": {
    path: (w) => `/w/${w.a}/knowledge/${w.k.space}/${w.k.ds}/document/delete`,
    csrf: true,
    fields: async (w) => {
      const id = `doomed-${++w.seq}`;
      await putDocument(w.s, alicesActor(w), { spaceId: w.k.space, dataSourceId: w.k.ds }, id, "x");
      return { id };
    },
  },
  "POST /w/:wId/agents": {
    path: (w) => `/w/${w.a}/agents`,
    csrf: true,
    fields: (w) => Promise.resolve(agentFields(`made-${++w.seq}`)),
  },
  "POST /w/:wId/agents/:aId": {
    path: (w) => `/w/${w.a}/agents/${w.k.made.agent}`,
    csrf: true,
    fields: async (w) => {
      w.k.made.agent = (await createAgent(w.s.deps, alicesActor(w), {
        name: `edited-${++w.seq}`,
        description: "",
        instructions: "Help.",
      })).sId;
      return agentFields(`renamed-${w.seq}`);
    },
  },
  "POST /w/:wId/agents/:aId/archive": {
    path: (w) => `/w/${w.a}/agents/${w.k.made.archived}/archive`,
    csrf: true,
    fields: async (w) => {
      w.k.made.archived = (await createAgent(w.s.deps, alicesActor(w), {
        name: `archived-${++w.seq}`,
        description: "",
        instructions: "Help.",
      })).sId;
      return {};
    },
  },
  "POST /w/:wId/agents/:aId/test": {
    path: (w) => `/w/${w.a}/agents/${w.k.agent}/test`,
    csrf: true,
    fields: () => Promise.resolve({ message: "Are you there?" }),
  },
  "POST /w/:wId/conversations": {
    path: (w) => `/w/${w.a}/conversations`,
    csrf: true,
    fields: () => Promise.resolve({ where: "private", agent: "", content: "A new one" }),
  },
  "POST /w/:wId/conversations/:cId/messages": {
    path: (w) => `/w/${w.a}/conversations/${w.k.conversation}/messages`,
    csrf: true,
    fields: () => Promise.resolve({ agent: "", content: "Another message" }),
  },
  "POST /w/:wId/conversations/:cId/cancel": {
    path: (w) => `/w/${w.a}/conversations/${w.k.conversation}/cancel`,
    csrf: true,
    fields: async (w) => {
      const r = await postConversation(w.s.deps, alicesActor(w), {
        title: "Held",
        visibility: "unlisted",
        post: {
          content: "answer slowly",
          mentions: [{ configurationId: w.k.agent }],
          context: { username: "alice", timezone: "UTC" },
          contentFragments: [],
        },
      });
      w.k.conversation = r.conversation.sId;
      return { messageId: r.agentMessages[0].sId as string };
    },
  },
};

function agentFields(name: string): Record<string, string> {
  return {
    name,
    description: "",
    instructions: "Help.",
    providerId: "openai",
    modelId: "gpt-4o",
    temperature: "0.5",
    maxStepsPerRun: "4",
    scope: "workspace",
    tool_search: "1",
  };
}

/** Post a form as a browser would (multipart when it carries a file). */
function submit(
  form: Form,
  b: BrowserHttp,
  path: string,
  fields: Record<string, string>,
  origin: string | null = b.origin,
  extra: Record<string, string> = {},
) {
  if (!form.file) {
    if (Object.keys(extra).length) return postRaw(b, path, fields, extra);
    return b.post(path, fields, origin);
  }
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  body.set("file", new File([form.file.content], form.file.name, { type: form.file.type }));
  const headers: Record<string, string> = { ...extra };
  if (origin !== null && Object.keys(extra).length === 0) headers.origin = origin;
  return b.request(path, { method: "POST", headers, body });
}

/** Forms any member uses for themselves (a new row of their own is their purpose). */
const MEMBER_OWN = new Set([
  "POST /w/:wId/integrations/token",
  "POST /w/:wId/conversations",
  "POST /w/:wId/agents/:aId/test",
]);

/** A form POST with explicit Origin / Sec-Fetch-Site headers. */
function postRaw(b: BrowserHttp, path: string, fields: Record<string, string>, h: HeadersInit) {
  return b.request(path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...h },
    body: new URLSearchParams(fields),
  });
}

async function csrfOf(b: BrowserHttp): Promise<string> {
  const token = formValue((await b.get("/account")).text, "csrf");
  assert.ok(token, "the account page carries the session's CSRF token");
  return token;
}

async function checkForm(w: World, route: string, form: Form) {
  const b = new BrowserHttp(w.s.url);
  // Sessions made directly: the subject here is the forms (sign-in has its own tests).
  if (route !== "POST /login") await startSessionFor(w.s, b, w.alice.user.id);
  const other = new BrowserHttp(w.s.url);
  await startSessionFor(w.s, other, w.bob.user.id);
  const mine: Record<string, string> = form.csrf ? { csrf: await csrfOf(b) } : {};
  const fields = await form.fields(w, b);
  const path = form.path(w);
  const before = await digestDatabase(w.s);
  const attempts: [string, () => ReturnType<BrowserHttp["request"]>][] = [
    [
      "another origin",
      () => submit(form, b, path, { ...fields, ...mine }, "https://evil.example"),
    ],
    ["an opaque origin", () => submit(form, b, path, { ...fields, ...mine }, "null")],
    [
      "a cross-site fetch",
      () => submit(form, b, path, { ...fields, ...mine }, null, { "sec-fetch-site": "cross-site" }),
    ],
  ];
  if (form.csrf) {
    const bobs = await csrfOf(other);
    attempts.push(
      ["no CSRF token", () => submit(form, b, path, fields)],
      ["a wrong CSRF token", () => submit(form, b, path, { ...fields, csrf: "A".repeat(43) })],
      ["another session's CSRF token", () => submit(form, b, path, { ...fields, csrf: bobs })],
    );
  }
  for (const [why, attempt] of attempts) {
    const r = await attempt();
    assertUnframeable(`${route} with ${why}`, r.headers);
    assert.ok(r.status !== 200 || !form.csrf, `${route} with ${why} answered 200`);
    assert.equal(await digestDatabase(w.s), before, `${route} with ${why} changed the database`);
  }
  const done = await submit(form, b, path, { ...fields, ...mine });
  assert.ok(done.status < 400, `${route} done right: ${done.status} ${done.text.slice(0, 200)}`);
  assert.notEqual(await digestDatabase(w.s), before, `${route} done right changed nothing`);
  form.after?.(w);
}

Deno.test("[security] pages: every form POST refuses missing, wrong and foreign CSRF tokens and other origins", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s); // agent messages stay as posted: no run writes while rows are compared
  const w = await world(s);
  const posts = (await routeTable(s)).filter((r) => r.startsWith("POST ") && isPageRoute(r));
  const unchecked = posts.filter((r) => !(r in FORMS) && r !== "POST /setup");
  assert.deepEqual(unchecked, [], "forms without a CSRF check");
  for (const [route, form] of Object.entries(FORMS)) await checkForm(w, route, form);
});

Deno.test("[security] pages: the setup form changes nothing without its one-time token, from any origin", async () => {
  await using s = await startTestServer();
  const token = new URL(s.setupUrl!).searchParams.get("token")!;
  const fields = {
    name: "Eve",
    email: "eve@evil.example",
    password: "eve's passphrase",
    workspace: "Evil",
  };
  const b = new BrowserHttp(s.url);
  const before = await digestDatabase(s);
  for (const t of [undefined, "", "A".repeat(43), token.slice(0, -1)]) {
    const r = await b.post("/setup", t === undefined ? fields : { ...fields, token: t });
    assertUnframeable("setup POST", r.headers);
    assert.equal(r.status, 410);
    assert.equal(await digestDatabase(s), before);
  }
  const ok = await b.post("/setup", { ...fields, token });
  assert.equal(ok.status, 201, "control: the link works");
});

Deno.test("[security] pages: a workspace's forms change nothing for a non-member or a non-admin", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const w = await world(s);
  const owner = new BrowserHttp(s.url);
  await owner.signIn(w.alice.email, w.alice.password);
  const intruders: [PasswordUser, BrowserHttp, string][] = [];
  for (const u of [w.bob, w.carol]) {
    const b = new BrowserHttp(s.url);
    await b.signIn(u.email, u.password);
    intruders.push([u, b, await csrfOf(b)]);
  }
  // Sign-in, sign-out, one's own password and consent act on the caller only.
  const own = new Set(["POST /login", "POST /logout", "POST /account/password"]);
  own.add("POST /authorize/consent");
  own.add("POST /invite/accept");
  // What a member does for themselves: their own MCP token and personal tokens, joining an
  // open Pod.
  const bobsOwn = new Set([
    "POST /w/:wId/integrations/token",
    "POST /w/:wId/credentials/mcp-token",
    "POST /w/:wId/credentials/personal-tokens",
    "POST /w/:wId/spaces/:spaceId/join",
  ]);
  let tried = 0;
  for (const [route, form] of Object.entries(FORMS)) {
    if (own.has(route)) continue;
    const fields = await form.fields(w, owner);
    for (const [u, b, csrf] of intruders) {
      // A member generating their own MCP token, starting a conversation of their own or
      // trying an agent they see is the page's purpose.
      if (u === w.bob && (MEMBER_OWN.has(route) || bobsOwn.has(route))) continue;
      const before = await digestDatabase(s);
      const r = await submit(form, b, form.path(w), { ...fields, csrf });
      assertUnframeable(`${u.email} ${route}`, r.headers);
      assert.equal(await digestDatabase(s), before, `${u.email}: ${route} changed the database`);
      tried++;
    }
  }
  assert.ok(tried >= 40, `${tried}`);
});

Deno.test("[security] pages: sign-in never redirects off-origin, whatever characters next hides", async () => {
  await using s = await startTestServer();
  const w = await world(s);
  const tricks = [
    "/\t/evil.example/x",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\t\t/evil.example",
    "/\u0000/evil.example",
    "/\\t/evil.example",
    "\t//evil.example",
    "/%09/evil.example",
    "/ /evil.example",
  ];
  for (const next of tricks) {
    const page = await new BrowserHttp(s.url).get(`/login?next=${encodeURIComponent(next)}`);
    assert.equal(page.status, 200, JSON.stringify(next));
    const b = new BrowserHttp(s.url);
    const r = await b.post("/login", { email: w.alice.email, password: w.alice.password, next });
    assert.equal(r.status, 303, `${JSON.stringify(next)}: ${r.status}`);
    const target = new URL(r.location!, s.url);
    assert.equal(target.origin, new URL(s.url).origin, `${JSON.stringify(next)} → ${target}`);
  }
});
