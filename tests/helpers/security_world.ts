/**
 * The security suite's world: two workspaces built through the REST API as their users would.
 *
 * Workspace A: alice (admin) owns a restricted space ("vault") with a document, a Pod with a
 * task and a file, a private conversation with a file and an agent message, a workspace agent,
 * a group, an API key and a live relay registration; the global space holds a document every
 * member may read. bob is a plain member of A who can read only the global space. Workspace B:
 * carol (admin) and B's API key. Every secret text carries a marker word, so a response can be
 * scanned for leaks; `digestWorkspace` fingerprints A's rows so a refused write can be proven to
 * have changed nothing.
 */
import assert from "node:assert/strict";
import type { TestServer } from "./server.ts";
import {
  apiJson,
  bearer,
  createApiKey,
  createUserWithToken,
  type UserWithToken,
} from "./fixtures.ts";
import { holdAgentRuns, messageBody } from "./conversations.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";
import { issuePersonalToken } from "../../src/core/personal_tokens.ts";
import { hashSecret } from "../../src/auth/hash.ts";
import { mapSeries } from "../../src/util/async.ts";

/** Words only A's restricted content contains (bob must never see them). */
export const PRIVATE_MARKERS = ["zebrasecret", "lynxpod", "owlprivate"] as const;
/** Words of A's content every member of A may see (carol must never see them). */
export const MEMBER_MARKERS = ["heronpublic", "quokkagroup", "quokka_agent"] as const;

export interface SecurityUser extends UserWithToken {
  /** An MCP token (`dmcp_…`) for the user's workspace. */
  mcpToken: string;
}

/** Ids of A's resources, by the OpenAPI path-parameter name they fill. */
export type WorldIds = Record<string, string[]> & {
  spaceId: string[];
  dsId: string[];
  documentId: string[];
  cId: string[];
  mId: string[];
  fileId: string[];
  taskId: string[];
  keyId: string[];
  tokenId: string[];
  userId: string[];
  sId: string[];
  serverId: string[];
  groupId: string[];
};

export interface SecurityWorld {
  alice: SecurityUser;
  bob: SecurityUser;
  carol: SecurityUser;
  keyB: string;
  /** Ids of A's resources (first entries are the ones bob cannot read, where it matters). */
  ids: WorldIds;
  /** Ids bob (a member of A) must not be able to use: restricted, Pod and private ones. */
  hiddenFromBob: Set<string>;
  vault: string;
  pod: string;
  globalA: string;
  conv: string;
  convFile: string;
  podFile: string;
}

async function mcpUser(server: TestServer, u: UserWithToken): Promise<SecurityUser> {
  const t = await issueMcpToken(server.deps.db, { userId: u.user.id, workspaceId: u.workspace.id });
  return { ...u, mcpToken: t.token };
}

async function ok(
  server: TestServer,
  token: string,
  path: string,
  body?: unknown,
  method = body === undefined ? "GET" : "POST",
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const r = await apiJson(server, token, path, { method, body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Create a file, upload its bytes; returns its sId. */
async function uploadFile(
  server: TestServer,
  u: UserWithToken,
  text: string,
  useCase: string,
  meta: Record<string, string>,
): Promise<string> {
  const bytes = new TextEncoder().encode(text);
  const w = `/api/v1/w/${u.workspace.sId}`;
  const created = await ok(server, u.token, `${w}/files`, {
    contentType: "text/plain",
    fileName: `${text.split(" ")[0]}.txt`,
    fileSize: bytes.length,
    useCase,
    useCaseMetadata: meta,
  });
  const form = new FormData();
  form.append("file", new File([bytes], "f.txt"));
  const res = await fetch(created.file.uploadUrl.replace(server.config.publicUrl, server.url), {
    method: "POST",
    headers: bearer(u.token),
    body: form,
  });
  assert.equal(res.status, 200, await res.text());
  return created.file.sId;
}

/** The words a tenant's content is made of (A's are the markers scanned for leaks). */
export interface TenantWords {
  vault: string;
  pod: string;
  conv: string;
  pub: string;
  group: string;
  agent: string;
}

const A_WORDS: TenantWords = {
  vault: "zebrasecret",
  pod: "lynxpod",
  conv: "owlprivate",
  pub: "heronpublic",
  group: "quokkagroup",
  agent: "quokka_agent",
};

/** Neutral words for a second tenant (never scanned for). */
export const B_WORDS: TenantWords = {
  vault: "bravovault",
  pod: "bravopod",
  conv: "bravoconv",
  pub: "bravopub",
  group: "bravogroup",
  agent: "bravo_agent",
};

async function knowledge(server: TestServer, owner: UserWithToken, w: string, t: TenantWords) {
  const spaces = await ok(server, owner.token, `${w}/spaces`);
  const global = spaces.spaces.find((s: { kind: string }) => s.kind === "global").sId;
  const vault = (await ok(server, owner.token, `${w}/spaces`, {
    kind: "regular",
    name: `Vault ${t.vault}`,
    restricted: true,
  })).space.sId;
  const pod = (await ok(server, owner.token, `${w}/spaces`, {
    kind: "project",
    name: `Pod ${t.pod}`,
  })).space.sId;
  const folder = async (space: string, name: string, doc: string, text: string) => {
    const ds = (await ok(server, owner.token, `${w}/spaces/${space}/data_sources`, { name }))
      .data_source.sId;
    await ok(server, owner.token, `${w}/spaces/${space}/data_sources/${ds}/documents/${doc}`, {
      text,
      title: text,
    });
    return ds;
  };
  const vaultDoc = `ledger_${t.vault}`;
  const globalDoc = `welcome_${t.pub}`;
  const vaultDs = await folder(vault, `ledger_${t.vault}`, vaultDoc, `${t.vault} salaries`);
  const globalDs = await folder(global, "handbook", globalDoc, `${t.pub} welcome`);
  return { global, vault, pod, vaultDs, globalDs, vaultDoc, globalDoc };
}

async function conversation(server: TestServer, owner: UserWithToken, w: string, word: string) {
  const created = await ok(server, owner.token, `${w}/assistant/conversations`, {
    title: `${word} plans`,
    message: messageBody(`${word} hello`),
  });
  const conv = created.conversation;
  return {
    conv: conv.sId as string,
    userMsg: conv.content[0][0].sId as string,
    agentMsg: conv.content[1][0].sId as string,
  };
}

/** The data source view sId of a data source. */
async function viewOf(server: TestServer, dsSId: string): Promise<string> {
  return (await server.deps.db.get("SELECT view_s_id FROM data_sources WHERE s_id = ?", dsSId) as {
    view_s_id: string;
  }).view_s_id;
}

/** What `buildTenant` made in a workspace. */
export interface Tenant {
  ids: WorldIds;
  /** Ids a plain member of the workspace cannot use (restricted, Pod, private ones). */
  hidden: Set<string>;
  vault: string;
  pod: string;
  global: string;
  conv: string;
  convFile: string;
  podFile: string;
}

/** Everything an admin owns in a workspace, made through REST as that admin. */
export async function buildTenant(
  server: TestServer,
  owner: UserWithToken,
  t: TenantWords,
): Promise<Tenant> {
  const w = `/api/v1/w/${owner.workspace.sId}`;
  const k = await knowledge(server, owner, w, t);
  const task = (await ok(server, owner.token, `${w}/spaces/${k.pod}/tasks`, {
    text: `${t.pod} task`,
  })).task.sId;
  const podFile = await uploadFile(server, owner, `${t.pod} plan`, "project_context", {
    spaceId: k.pod,
  });
  const c = await conversation(server, owner, w, t.conv);
  const convFile = await uploadFile(server, owner, `${t.conv} notes`, "conversation", {
    conversationId: c.conv,
  });
  const agent = (await ok(server, owner.token, `${w}/assistant/agent_configurations`, {
    name: t.agent,
    description: t.agent,
    instructions: `${t.agent} instructions`,
  })).agentConfiguration.sId;
  const privateAgent = (await ok(server, owner.token, `${w}/assistant/agent_configurations`, {
    name: `${t.conv}_agent`,
    description: `${t.conv} agent`,
    instructions: `${t.conv} instructions`,
    scope: "private",
  })).agentConfiguration.sId;
  const group = (await ok(server, owner.token, `${w}/groups`, { name: t.group })).group.sId;
  const key = await createApiKey(server, owner.workspace, `${t.group} key`);
  const keyId =
    (await server.deps.db.get("SELECT s_id FROM api_keys WHERE key_hash = ?", hashSecret(key)) as {
      s_id: string;
    }).s_id;
  // A spare personal token (the owner's working one stays usable whatever a sweep tries).
  const spare = await issuePersonalToken(server.deps.db, {
    workspaceId: owner.workspace.id,
    userId: owner.user.id,
    name: "spare",
  });
  const tokenId = (await server.deps.db.get(
    "SELECT s_id FROM personal_tokens WHERE token_hash = ?",
    hashSecret(spare.secret),
  ) as { s_id: string }).s_id;
  const serverId = (await ok(server, owner.token, `${w}/mcp/register`, {
    serverName: `Tools ${t.conv}`.slice(0, 30),
  })).serverId;
  // A folder in each data source (folder ids are the caller's, unique within a data source).
  const folderOf = async (space: string, ds: string, name: string) => {
    await ok(server, owner.token, `${w}/spaces/${space}/data_sources/${ds}/folders/${name}`, {
      timestamp: Date.now(),
      title: name,
      mime_type: "application/vnd.dust.folder",
    });
    return name;
  };
  const folderId = [
    await folderOf(k.vault, k.vaultDs, `${t.vault}-folder`),
    await folderOf(k.global, k.globalDs, `${t.pub}-folder`),
  ];
  const ids: WorldIds = {
    folderId,
    spaceId: [k.vault, k.global, k.pod],
    dsId: [k.vaultDs, k.globalDs],
    dsvId: [await viewOf(server, k.vaultDs), await viewOf(server, k.globalDs)],
    documentId: [k.vaultDoc, k.globalDoc],
    cId: [c.conv],
    mId: [c.agentMsg, c.userMsg],
    fileId: [convFile, podFile],
    taskId: [task],
    keyId: [keyId],
    tokenId: [tokenId],
    userId: [owner.user.sId],
    sId: [privateAgent, agent],
    serverId: [serverId],
    groupId: [group],
    // Dust App ids: this server has no Dust Apps, so any id names nothing (the space decides).
    aId: ["app1"],
  };
  const hidden = new Set([
    k.vault,
    k.pod,
    k.vaultDs,
    await viewOf(server, k.vaultDs),
    k.vaultDoc,
    c.conv,
    c.agentMsg,
    c.userMsg,
    convFile,
    podFile,
    task,
    serverId,
    tokenId,
    privateAgent,
  ]);
  return {
    ids,
    hidden,
    vault: k.vault,
    pod: k.pod,
    global: k.global,
    conv: c.conv,
    convFile,
    podFile,
  };
}

/** Build the world (agent runs are held so message states never move under a test). */
export async function buildSecurityWorld(server: TestServer): Promise<SecurityWorld> {
  holdAgentRuns(server);
  const alice = await mcpUser(
    server,
    await createUserWithToken(server, { email: "alice@a.example", role: "admin" }),
  );
  const bob = await mcpUser(
    server,
    await createUserWithToken(server, {
      email: "bob@a.example",
      role: "user",
      workspace: alice.workspace,
    }),
  );
  const carol = await mcpUser(
    server,
    await createUserWithToken(server, { email: "carol@b.example", role: "admin" }),
  );
  const a = await buildTenant(server, alice, A_WORDS);
  return {
    alice,
    bob,
    carol,
    keyB: await createApiKey(server, carol.workspace),
    ids: a.ids,
    hiddenFromBob: a.hidden,
    vault: a.vault,
    pod: a.pod,
    globalA: a.global,
    conv: a.conv,
    convFile: a.convFile,
    podFile: a.podFile,
  };
}

/** Rows of workspace `wsId` (and the rows that hang off them), for a before/after compare. */
const DIGEST_QUERIES = [
  "SELECT * FROM workspaces WHERE id = :ws",
  "SELECT * FROM memberships WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM groups WHERE workspace_id = :ws ORDER BY id",
  "SELECT gm.* FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE g.workspace_id = :ws ORDER BY 1, 2",
  "SELECT * FROM spaces WHERE workspace_id = :ws ORDER BY id",
  "SELECT m.* FROM space_members m JOIN spaces s ON s.id = m.space_id WHERE s.workspace_id = :ws ORDER BY 1, 2",
  "SELECT g.* FROM space_groups g JOIN spaces s ON s.id = g.space_id WHERE s.workspace_id = :ws ORDER BY 1, 2",
  "SELECT p.* FROM pod_metadata p JOIN spaces s ON s.id = p.space_id WHERE s.workspace_id = :ws ORDER BY 1",
  "SELECT * FROM agent_configurations WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM conversations WHERE workspace_id = :ws ORDER BY id",
  "SELECT p.* FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id WHERE c.workspace_id = :ws ORDER BY 1, 2",
  "SELECT * FROM messages WHERE workspace_id = :ws ORDER BY id",
  "SELECT u.* FROM user_messages u JOIN messages m ON m.id = u.message_id WHERE m.workspace_id = :ws ORDER BY 1",
  "SELECT a.* FROM agent_messages a JOIN messages m ON m.id = a.message_id WHERE m.workspace_id = :ws ORDER BY 1",
  "SELECT f.* FROM content_fragments f JOIN messages m ON m.id = f.message_id WHERE m.workspace_id = :ws ORDER BY 1",
  "SELECT * FROM files WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM pod_tasks WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM data_sources WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM documents WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM mcp_server_views WHERE workspace_id = :ws ORDER BY id",
  "SELECT id, s_id, workspace_id, name, revoked_at FROM api_keys WHERE workspace_id = :ws ORDER BY id",
  "SELECT id, s_id, revoked_at FROM mcp_tokens WHERE workspace_id = :ws ORDER BY id",
  "SELECT id, s_id, revoked_at FROM personal_tokens WHERE workspace_id = :ws ORDER BY id",
  "SELECT * FROM relay_registrations WHERE workspace_id = :ws ORDER BY server_id",
  "SELECT f.* FROM agent_favorites f JOIN agent_configurations a ON a.id = f.agent_configuration_id WHERE a.workspace_id = :ws ORDER BY 1, 2",
];

/** A fingerprint of workspace `wsId`'s rows: equal before and after means nothing changed. */
export async function digestWorkspace(server: TestServer, wsId: number): Promise<string> {
  return (await mapSeries(DIGEST_QUERIES, async (q) =>
    JSON.stringify(
      await server.deps.db.all(q, { ws: wsId }),
      (_k, v) => typeof v === "bigint" ? String(v) : v,
    ))).join("\n");
}
