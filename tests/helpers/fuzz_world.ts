/**
 * The seeded world of the hostile-input fuzzer: one real test server and two workspaces (A and
 * B), each with an admin who has a password, a personal token, an API key, an MCP token and an
 * OAuth access + refresh token from a real consent flow, and content (conversation, message,
 * Pod, task, restricted space, folder, document, files, agent, relay registration) whose text
 * carries the workspace's marker string. A response to one workspace's credential must never
 * contain the other workspace's marker. Every secret created here is listed in `secrets`.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./server.ts";
import {
  apiJson,
  bearer,
  createApiKey,
  createUserWithToken,
  type UserWithToken,
} from "./fixtures.ts";
import { createPasswordUser } from "./oauth_client.ts";
import { connect } from "./oauth_flow.ts";
import {
  actorOf,
  createFolder,
  createPod,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "./knowledge.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";

/** Ids of one workspace's objects, by the path parameter names the REST API uses. */
export interface TenantIds {
  wId: string;
  cId: string;
  mId: string;
  fileId: string;
  podFileId: string;
  spaceId: string[];
  podId: string;
  dsId: string;
  documentId: string;
  taskId: string;
  userId: string;
  keyId: string;
  agentId: string;
  serverId: string;
}

export interface Tenant {
  label: "A" | "B";
  /** A string that occurs only in this workspace's content. */
  marker: string;
  email: string;
  password: string;
  /** Personal access token (REST). */
  token: string;
  apiKey: string;
  mcpToken: string;
  oauth: { access: string; refresh: string; clientId: string };
  ids: TenantIds;
}

export interface FuzzWorld extends AsyncDisposable {
  server: TestServer;
  a: Tenant;
  b: Tenant;
  /** Every token, key and password the world created (never allowed in a response). */
  secrets: string[];
}

/** High `/mcp` and CIMD budgets so the fuzzer exercises the code instead of the limiters. */
const FUZZ_FLAGS = {
  "mcp-rate-user": "100000",
  "mcp-rate-client": "100000",
  "mcp-rate-requests": "100000",
  "cimd-fetches-per-ip": "100000",
  "cimd-fetches-total": "100000",
  "log-level": "info",
};

/**
 * CIMD without any network: every host "resolves" to a public address and every document is
 * answered in-process — a valid one at `/ok.json`, hostile ones elsewhere (by path).
 */
export const CIMD_HOOKS = {
  resolveHost: () => Promise.resolve(["93.184.216.34"]),
  fetch: (url: string) => Promise.resolve(cimdDocument(new URL(url))),
};

function cimdDocument(url: URL): Response {
  const json = (doc: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(doc), {
      headers: { "content-type": "application/json", ...headers },
    });
  switch (url.pathname) {
    case "/ok.json":
      return json({
        client_id: url.href,
        client_name: "Fuzz CIMD client",
        redirect_uris: ["http://127.0.0.1:53682/callback"],
        token_endpoint_auth_method: "none",
      });
    case "/wrong-id.json":
      return json({ client_id: "https://other.example/x.json", redirect_uris: [] });
    case "/huge.json":
      return new Response("x".repeat(200_000), { headers: { "content-type": "application/json" } });
    case "/not-json.json":
      return new Response("{ nope", { headers: { "content-type": "application/json" } });
    case "/html.json":
      return new Response("<html></html>", { headers: { "content-type": "text/html" } });
    case "/array.json":
      return json([1, 2, 3]);
    case "/redirect.json":
      return new Response(null, { status: 302, headers: { location: "http://127.0.0.1:1/" } });
    default:
      return new Response("not found", { status: 404 });
  }
}

/** Start a server (extra `flags`, e.g. a model) and seed workspaces A and B. */
export async function startFuzzWorld(flags: Record<string, string> = {}): Promise<FuzzWorld> {
  const server = await startTestServer({
    flags: { ...FUZZ_FLAGS, ...flags },
    cimdFetch: CIMD_HOOKS,
  });
  try {
    const salt = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
    const a = await seedTenant(server, "A", `QzxMarkA${salt}`);
    const b = await seedTenant(server, "B", `QzxMarkB${salt}`);
    const secrets = [a, b].flatMap((t) => [
      t.password,
      t.token,
      t.apiKey,
      t.mcpToken,
      t.oauth.access,
      t.oauth.refresh,
    ]);
    // Stopping also proves nothing failed late (agent runs, stream cleanup) after the last
    // property's own log check.
    const stop = async () => {
      await new Promise((r) => setTimeout(r, 50));
      const late = server.logs.filter((l) => l.includes('"level":"error"'));
      await server.stop();
      assert.deepEqual(
        late,
        [],
        `error log lines during the fuzz run:\n${late.slice(0, 5).join("\n")}`,
      );
    };
    return { server, a, b, secrets, [Symbol.asyncDispose]: stop };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

async function seedTenant(server: TestServer, label: "A" | "B", marker: string): Promise<Tenant> {
  const email = `${marker.toLowerCase()}@example.com`;
  const password = `pw-${crypto.randomUUID()}`;
  const pu = await createPasswordUser(server, { email, role: "admin", password });
  const admin = await createUserWithToken(server, {
    email,
    role: "admin",
    workspace: pu.workspace,
  });
  const content = await seedContent(server, admin, label, marker);
  const apiKey = await createApiKey(server, admin.workspace, `${marker} key`);
  const mcp = await issueMcpToken(server.deps.db, {
    userId: admin.user.id,
    workspaceId: admin.workspace.id,
  });
  const oauth = await connect(server.url, pu);
  return {
    label,
    marker,
    email,
    password,
    token: admin.token,
    apiKey,
    mcpToken: mcp.token,
    oauth: {
      access: oauth.tokens.access_token,
      refresh: oauth.tokens.refresh_token,
      clientId: oauth.clientId,
    },
    ids: { wId: admin.workspace.sId, userId: admin.user.sId, ...content },
  };
}

/** The admin's content, each piece carrying the marker; returns the ids. */
async function seedContent(
  server: TestServer,
  admin: UserWithToken,
  label: "A" | "B",
  marker: string,
): Promise<Omit<TenantIds, "wId" | "userId">> {
  const actor = actorOf(admin);
  const wId = admin.workspace.sId;
  const api = async (path: string, body?: unknown) => {
    const r = await apiJson(server, admin.token, `/api/v1/w/${wId}${path}`, {
      method: body === undefined ? "GET" : "POST",
      body,
    });
    assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const conv = await api("/assistant/conversations", {
    title: `${marker} conversation`,
    visibility: "unlisted",
    message: {
      content: `${marker} first message`,
      mentions: [],
      context: { username: "fuzzer", timezone: "UTC" },
    },
  });
  const podId = await createPod(server, actor, `${marker} pod`);
  const restricted = await createRestrictedSpace(server, actor, `${marker} restricted`);
  const globalId = await globalSpaceSId(server, admin.workspace);
  const dsId = await createFolder(server, actor, globalId, `${marker}-folder`);
  const documentId = `doc-${label.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`;
  const where = { spaceId: globalId, dataSourceId: dsId };
  await putDocument(server, actor, where, documentId, `${marker} alpha beta`, {
    title: `${marker} title`,
    tags: [marker],
  });
  const task = await api(`/spaces/${podId}/tasks`, { text: `${marker} task` });
  const agent = await api("/assistant/agent_configurations", {
    name: `${marker}Agent`,
    description: `${marker} agent`,
    instructions: `${marker} instructions`,
  });
  const relay = await api("/mcp/register", { serverName: `${marker}-local` });
  const cId = conv.conversation.sId;
  const upload = (useCase: Record<string, unknown>) =>
    uploadFile(server, admin.token, wId, useCase, marker, fileName(label));
  // A key whose id the fuzzer may delete without losing the credential it sends.
  await createApiKey(server, admin.workspace, `${marker} spare`);
  const keys = await api("/api_keys");
  const spare = keys.keys.find((k: { name: string }) => k.name === `${marker} spare`);
  assert.ok(conv.message?.sId && spare?.sId, "seed: message and spare key ids");
  return {
    cId,
    mId: conv.message.sId,
    fileId: await upload({ useCase: "conversation", useCaseMetadata: { conversationId: cId } }),
    podFileId: await upload({ useCase: "project_context", useCaseMetadata: { spaceId: podId } }),
    spaceId: [globalId, podId, restricted],
    podId,
    dsId,
    documentId,
    taskId: task.task.sId,
    keyId: spare.sId,
    agentId: agent.agentConfiguration.sId,
    serverId: relay.serverId,
  };
}

/** The seeded files' name (the marker is in their bytes only, so paths can name them). */
export function fileName(label: "A" | "B"): string {
  return `notes-${label.toLowerCase()}.txt`;
}

/** Create a text file through REST (`useCase` chooses the scope) and upload its marker bytes. */
async function uploadFile(
  server: TestServer,
  token: string,
  wId: string,
  useCase: Record<string, unknown>,
  marker: string,
  name: string,
): Promise<string> {
  const bytes = new TextEncoder().encode(`${marker} file line\nsecond line\n`);
  const created = await apiJson(server, token, `/api/v1/w/${wId}/files`, {
    method: "POST",
    body: {
      contentType: "text/plain",
      fileName: name,
      fileSize: bytes.length,
      ...useCase,
    },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const form = new FormData();
  form.append("file", new File([bytes], name));
  const res = await fetch(created.body.file.uploadUrl, {
    method: "POST",
    headers: bearer(token),
    body: form,
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return created.body.file.sId;
}
