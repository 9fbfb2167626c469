/**
 * A workspace for the console page tests (knowledge, agents, conversations), made through the
 * core: an admin (Alice, instance admin), a builder (Bea), a user (Bob) and a non-member
 * (Carol, admin of another workspace), each with a signed-in {@link BrowserHttp} and an MCP
 * token. Knowledge: a "Handbook" data source in Company Data and a "Vault" data source in the
 * restricted space "Secret" (members: Alice, Bob). A Pod "Crew" (Bea, Bob). Agents: `helper`
 * (Bea's, workspace) and `alices-own` (Alice's, private). Conversations: Bob's private one,
 * Alice's shared one, Bob's in the Pod.
 */
import type { TestServer } from "./server.ts";
import { BrowserHttp, startSessionFor } from "./browser_http.ts";
import { createMcpUser, type McpUser } from "../mcp/helpers.ts";
import {
  actorOf,
  createFolder,
  createPod,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "./knowledge.ts";
import { createAgent } from "../../src/core/agent_editing.ts";
import { postConversation } from "../../src/core/conversations.ts";
import type { UserActor } from "../../src/auth/actor.ts";

export interface ConsoleMember extends McpUser {
  actor: UserActor;
  browser: BrowserHttp;
}

export interface ConsoleWorld {
  s: TestServer;
  wId: string;
  alice: ConsoleMember;
  bea: ConsoleMember;
  bob: ConsoleMember;
  carol: ConsoleMember;
  companySpace: string;
  secretSpace: string;
  podSpace: string;
  handbook: string;
  vault: string;
  helperAgent: string;
  privateAgent: string;
  bobPrivate: string;
  aliceShared: string;
  bobPod: string;
}

async function member(
  s: TestServer,
  email: string,
  role: "admin" | "builder" | "user",
  workspace?: McpUser["workspace"],
): Promise<ConsoleMember> {
  const u = await createMcpUser(s, { email, role, workspace, name: email.split("@")[0] });
  const browser = new BrowserHttp(s.url);
  await startSessionFor(s, browser, u.user.id);
  return { ...u, actor: actorOf(u), browser };
}

const context = (username: string) => ({ username, timezone: "UTC" });

export async function consoleWorld(s: TestServer): Promise<ConsoleWorld> {
  const alice = await member(s, "alice@a.example", "admin");
  await s.deps.db.run("UPDATE users SET is_instance_admin = 1 WHERE id = ?", alice.user.id);
  const bea = await member(s, "bea@a.example", "builder", alice.workspace);
  const bob = await member(s, "bob@a.example", "user", alice.workspace);
  const carol = await member(s, "carol@b.example", "admin");
  const companySpace = await globalSpaceSId(s, alice.workspace);
  const secretSpace = await createRestrictedSpace(s, alice.actor, "Secret", [bob.user.sId]);
  const podSpace = await createPod(s, bea.actor, "Crew", [bob.user.sId]);
  const handbook = await createFolder(s, alice.actor, companySpace, "Handbook");
  const vault = await createFolder(s, alice.actor, secretSpace, "Vault");
  await putDocument(
    s,
    alice.actor,
    { spaceId: companySpace, dataSourceId: handbook },
    "welcome",
    "Welcome aboard, the coffee machine is on floor two.",
    { title: "Welcome" },
  );
  await putDocument(
    s,
    alice.actor,
    { spaceId: secretSpace, dataSourceId: vault },
    "plans",
    "The merger codename is bluefinch.",
    { title: "Plans" },
  );
  const helper = await createAgent(s.deps, bea.actor, {
    name: "helper",
    description: "Helps with everything",
    instructions: "Be helpful.",
  });
  const mine = await createAgent(s.deps, alice.actor, {
    name: "alices-own",
    description: "Alice's private agent",
    instructions: "Only for Alice.",
    scope: "private",
  });
  const post = (content: string, who: ConsoleMember) => ({
    content,
    mentions: [],
    context: context(who.user.username),
    contentFragments: [],
  });
  const bobPrivate = (await postConversation(s.deps, bob.actor, {
    title: "Bob's private notes",
    visibility: "unlisted",
    post: post("a private thought", bob),
  })).conversation.sId;
  const aliceShared = (await postConversation(s.deps, alice.actor, {
    title: "Company announcements",
    visibility: "workspace",
    post: post("hello everyone", alice),
  })).conversation.sId;
  const bobPod = (await postConversation(s.deps, bob.actor, {
    title: "Crew planning",
    visibility: "unlisted",
    spaceId: podSpace,
    post: post("pod talk", bob),
  })).conversation.sId;
  return {
    s,
    wId: alice.workspace.sId,
    alice,
    bea,
    bob,
    carol,
    companySpace,
    secretSpace,
    podSpace,
    handbook,
    vault,
    helperAgent: helper.sId,
    privateAgent: mine.sId,
    bobPrivate,
    aliceShared,
    bobPod,
  };
}

/** The CSRF token of a member's session (read from a console page, as a browser would). */
export async function csrfOf(m: ConsoleMember, wId: string): Promise<string> {
  const page = await m.browser.get(`/w/${wId}/conversations`);
  const token = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!token) throw new Error(`no CSRF token on the conversations page (${page.status})`);
  return token;
}

/** The visible text of an HTML page (tags dropped, entities of the escaper decoded). */
export function textOf(html: string): string {
  return html.replace(/<script[\s\S]*?<\/script>/g, "").replace(/<style[\s\S]*?<\/style>/g, "")
    .replace(/<[^>]+>/g, " ").replace(/&amp;/g, "&").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/\s+/g, " ");
}
