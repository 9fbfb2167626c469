/**
 * A workspace as a team would have it after a week, for the console's tests, screenshots and
 * benchmark, made through the core functions (real rows): an admin, a builder and a user, an
 * outsider (admin of another workspace); an open space and a restricted one (the user is a
 * member); a Pod with tasks in every column, a file and a conversation; an API key, an
 * invitation, a group; and audit entries over the last days from an OAuth client and an MCP
 * token (`audit: n`).
 */
import type { Role } from "../../src/auth/actor.ts";
import type { TestServer } from "./server.ts";
import { createPasswordUser, pageActorOf, type PasswordUser } from "./oauth_client.ts";
import { createSpace } from "../../src/core/spaces.ts";
import { patchPodMetadata } from "../../src/core/pods.ts";
import { createTask } from "../../src/core/tasks.ts";
import { uploadPodFile } from "../../src/core/pod_files.ts";
import { addSpaceMember } from "../../src/core/spaces.ts";
import { createApiKey } from "../../src/core/api_keys.ts";
import { createInvitation } from "../../src/core/invitations.ts";
import { addGroupMember, createGroup } from "../../src/core/groups.ts";
import { createStaticClient } from "../../src/core/oauth_clients.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";
import { flushAuditLog, recordToolCall } from "../../src/core/audit.ts";
import { postConversation } from "../../src/core/conversations.ts";
import type { WorkspaceRow } from "../../src/core/workspaces.ts";

export interface ConsoleWorld {
  s: TestServer;
  ws: WorkspaceRow;
  admin: PasswordUser;
  builder: PasswordUser;
  user: PasswordUser;
  /** Admin of another workspace: a non-member here. */
  outsider: PasswordUser;
  openSpaceId: string;
  restrictedSpaceId: string;
  podId: string;
  groupId: string;
  conversationId: string;
}

/** The four roles the console is tested for, and who plays them. */
export type Viewer = Role | "non-member";

export function viewerOf(w: ConsoleWorld, v: Viewer): PasswordUser {
  return v === "non-member"
    ? w.outsider
    : v === "admin"
    ? w.admin
    : v === "builder"
    ? w.builder
    : w.user;
}

async function named(w: TestServer, u: PasswordUser, first: string, last: string) {
  await w.deps.db.run(
    "UPDATE users SET first_name = ?, last_name = ? WHERE id = ?",
    first,
    last,
    u.user.id,
  );
}

export async function seedConsoleWorld(
  s: TestServer,
  options: { audit?: number } = {},
): Promise<ConsoleWorld> {
  const admin = await createPasswordUser(s, { email: "ada@acme.example", role: "admin" });
  await s.deps.db.run("UPDATE workspaces SET name = 'Acme' WHERE id = ?", admin.workspace.id);
  await s.deps.db.run("UPDATE users SET is_instance_admin = 1 WHERE id = ?", admin.user.id);
  const ws = { ...admin.workspace, name: "Acme" };
  const builder = await createPasswordUser(s, {
    email: "ben@acme.example",
    role: "builder",
    workspace: ws,
  });
  const user = await createPasswordUser(s, {
    email: "uma@acme.example",
    role: "user",
    workspace: ws,
  });
  const outsider = await createPasswordUser(s, { email: "olga@other.example", role: "admin" });
  await named(s, admin, "Ada", "Admin");
  await named(s, builder, "Ben", "Builder");
  await named(s, user, "Uma", "User");
  await named(s, outsider, "Olga", "Outsider");
  const a = await pageActorOf(s, { ...admin, workspace: ws });
  const b = await pageActorOf(s, builder);
  const u = await pageActorOf(s, user);

  const open = await createSpace(s.deps, a, { kind: "regular", name: "Handbook" });
  const restricted = await createSpace(s.deps, a, {
    kind: "regular",
    name: "Finance",
    restricted: true,
    memberIds: [user.user.sId],
  });
  const pod = await createSpace(s.deps, b, {
    kind: "project",
    name: "Launch v2",
    memberIds: [user.user.sId],
  });
  await patchPodMetadata(s.deps, b, {
    spaceId: pod.sId,
    description: "Ship version 2 by the end of the quarter.",
  });
  await addSpaceMember(s.deps, b, { spaceId: pod.sId, userId: admin.user.sId });
  const tasks: [string, "todo" | "in_progress" | "done", string | null][] = [
    ["Write the release notes", "todo", user.user.sId],
    ["Review the pricing page", "todo", null],
    ["Migrate the billing service", "in_progress", builder.user.sId],
    ["Draft the launch email", "done", user.user.sId],
  ];
  for (const [text, status, assigneeId] of tasks) {
    await createTask(s.deps, b, { podId: pod.sId, text, status, assigneeId });
  }
  await uploadPodFile(s.deps, b, {
    podId: pod.sId,
    name: "plan.md",
    contentType: "text/markdown",
    bytes: new TextEncoder().encode("# Launch plan\n\n1. Notes\n2. Email\n"),
  });
  const conversation = await postConversation(s.deps, u, {
    title: "Release checklist",
    visibility: "unlisted",
    post: {
      content: "What is left before the launch?",
      mentions: [],
      context: { username: "uma", timezone: "UTC" },
      contentFragments: [],
    },
  });
  await createApiKey(s.deps, a, { name: "CI pipeline" });
  await createInvitation(s.deps, a, { email: "newcomer@acme.example", role: "user" });
  const group = await createGroup(s.deps, a, { name: "Finance team" });
  await addGroupMember(s.deps, a, { groupId: group.sId, userId: user.user.sId });

  if (options.audit) await seedAudit(s, { ...admin, workspace: ws }, user, options.audit);
  return {
    s,
    ws,
    admin: { ...admin, workspace: ws },
    builder,
    user,
    outsider,
    openSpaceId: open.sId,
    restrictedSpaceId: restricted.sId,
    podId: pod.sId,
    groupId: group.sId,
    conversationId: conversation.conversation.sId,
  };
}

/** `n` audit entries over the last 3 days: several tools, outcomes, latencies, two clients. */
async function seedAudit(s: TestServer, admin: PasswordUser, user: PasswordUser, n: number) {
  const a = await pageActorOf(s, admin);
  const { client } = await createStaticClient(s.deps.db, a, {
    name: "Claude Desktop",
    redirectUris: ["http://127.0.0.1:9/callback"],
    authMethod: "none",
  });
  const token = await issueMcpToken(s.deps.db, {
    userId: user.user.id,
    workspaceId: admin.workspace.id,
  });
  const tools = ["search", "search", "search", "list_conversations", "get_pod_tasks", "files_cat"];
  const now = Date.now();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < n; i++) {
    const viaToken = rnd() < 0.35;
    const r = rnd();
    const outcome = r < 0.9 ? "success" : r < 0.96 ? "error" : "denied";
    await recordToolCall(s.deps.db, {
      at: now - Math.floor(rnd() * 3 * 86_400_000),
      workspaceId: admin.workspace.id,
      userId: viaToken ? user.user.id : admin.user.id,
      credentialKind: viaToken ? "mcp_token" : "oauth",
      credentialId: viaToken ? token.sId : "gnt_test",
      clientId: viaToken ? `mcp_token:${token.sId}` : client.clientId,
      tool: tools[Math.floor(rnd() * tools.length)],
      arguments: { query: "launch plan" },
      outcome,
      error: outcome === "success" ? null : "Something failed",
      latencyMs: Math.round(5 + rnd() * rnd() * 400),
      bytesReturned: Math.floor(rnd() * 5000),
      requestId: null,
    });
  }
  await flushAuditLog(s.deps.db);
}
