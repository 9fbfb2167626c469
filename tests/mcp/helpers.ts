/**
 * MCP test helpers: users with MCP tokens and OAuth access tokens minted through the core,
 * and connected v1 / v2 SDK clients (closed with `await using`).
 */
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from "@modelcontextprotocol/client";
import type { Role, Scope } from "../../src/auth/actor.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";
import { insertGrant } from "../../src/core/oauth_grants.ts";
import { issueAccessToken } from "../../src/auth/jwt.ts";
import { mcpResourceUrl } from "../../src/config.ts";
import type { WorkspaceRow } from "../../src/core/workspaces.ts";
import type { TestServer } from "../helpers/server.ts";
import { createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { MemoryOAuthProvider } from "../helpers/oauth_client.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { auth as authV1 } from "../helpers/sdk_v1.ts";
import { auth as authV2 } from "@modelcontextprotocol/client";
import { createSession } from "../../src/core/sessions.ts";
import { sessionCookieName } from "../../src/auth/sessions.ts";

export interface McpUser extends UserWithToken {
  /** An MCP API token (`dmcp_…`). */
  mcpToken: string;
  mcpTokenSId: string;
}

/** A user (new workspace unless given) with an MCP token. */
export async function createMcpUser(
  server: TestServer,
  options: { email: string; role: Role; workspace?: WorkspaceRow; name?: string },
): Promise<McpUser> {
  const u = await createUserWithToken(server, options);
  const t = await issueMcpToken(server.deps.db, { userId: u.user.id, workspaceId: u.workspace.id });
  return { ...u, mcpToken: t.token, mcpTokenSId: t.sId };
}

/** An OAuth access token for `/mcp` backed by a real grant row. */
export async function mintOAuthToken(
  server: TestServer,
  who: Pick<McpUser, "user" | "workspace">,
  options: { scopes?: Scope[]; audience?: string; clientId?: string; ttlSeconds?: number } = {},
): Promise<{ token: string; grantSId: string; grantId: number }> {
  const scopes = options.scopes ?? ["read", "write"];
  const clientId = options.clientId ?? "https://client.example/metadata.json";
  const grant = await insertGrant(server.deps.db, {
    clientId,
    userId: who.user.id,
    workspaceId: who.workspace.id,
    scope: scopes.join(" "),
    resource: mcpResourceUrl(server.config),
    redirectUri: "http://127.0.0.1:9/callback",
  }, Date.now());
  const token = await issueAccessToken(server.deps.keys, {
    issuer: server.config.publicUrl,
    userSId: who.user.sId,
    workspaceSId: who.workspace.sId,
    audience: options.audience ?? mcpResourceUrl(server.config),
    scopes,
    clientId,
    grantSId: grant.sId,
    region: server.config.regionId,
    ttlSeconds: options.ttlSeconds ?? 3600,
  });
  return { token, grantSId: grant.sId, grantId: grant.id };
}

/** A connected client of either SDK generation, closed on dispose. */
export interface AnyClient extends AsyncDisposable {
  listTools(): Promise<
    { tools: Array<{ name: string; annotations?: { readOnlyHint?: boolean } }> }
  >;
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<CallResult>;
  serverInfo(): { name: string; version: string } | undefined;
  instructions(): string | undefined;
  /** The negotiated revision (v2 client only). */
  protocolVersion(): string | undefined;
  /** The SDK client itself, for the rest of its API (resources, prompts, completion…). */
  // deno-lint-ignore no-explicit-any
  raw: any;
  /** Which SDK generation this is. */
  sdk: "v1" | "v2";
}

export interface CallResult {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
  structuredContent?: unknown;
}

/** Connect the v1 SDK client (`@modelcontextprotocol/sdk` 1.32.2) with a bearer header. */
export async function connectV1(
  server: TestServer,
  token: string,
  path = "/mcp",
): Promise<AnyClient> {
  const client = new V1Client({ name: "v1-test", version: "1.0.0" });
  const transport = new V1Transport(new URL(`${server.url}${path}`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return wrap(client, () => client.close(), "v1");
}

/** Connect the v2 SDK client (`@modelcontextprotocol/client` 2.4.0) with a bearer header. */
export async function connectV2(
  server: TestServer,
  token: string,
  mode: "legacy" | "auto" = "legacy",
  path = "/mcp",
): Promise<AnyClient> {
  const client = new V2Client({ name: "v2-test", version: "2.0.0" }, {
    versionNegotiation: { mode },
  });
  const transport = new V2Transport(new URL(`${server.url}${path}`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return wrap(client, () => client.close(), "v2");
}

/** The three real clients every feature is tried with, by label. */
export const CLIENTS: Record<
  string,
  (s: TestServer, token: string, path?: string) => Promise<AnyClient>
> = {
  "v1 (2025-11-25)": (s, t, p) => connectV1(s, t, p),
  "v2 (legacy: 2025-11-25)": (s, t, p) => connectV2(s, t, "legacy", p),
  "v2 (auto: 2026-07-28)": (s, t, p) => connectV2(s, t, "auto", p),
};

// deno-lint-ignore no-explicit-any
function wrap(client: any, close: () => Promise<void>, sdk: "v1" | "v2"): AnyClient {
  return {
    raw: client,
    sdk,
    listTools: () => client.listTools(),
    callTool: (p) => client.callTool(p) as Promise<CallResult>,
    serverInfo: () => client.getServerVersion(),
    instructions: () => client.getInstructions(),
    protocolVersion: () => client.getNegotiatedProtocolVersion?.(),
    [Symbol.asyncDispose]: close,
  };
}

/** Parse the JSON text content of a successful tool result. */
export function payloadOf<T = Record<string, unknown>>(r: CallResult): T {
  if (r.isError) throw new Error(`tool failed: ${r.content[0]?.text}`);
  return JSON.parse(r.content[0].text ?? "null") as T;
}

/** The text of an `isError` result (throws when the call succeeded). */
export function errorOf(r: CallResult): string {
  if (!r.isError) throw new Error(`expected a tool error, got ${r.content[0]?.text}`);
  return r.content[0]?.text ?? "";
}

/**
 * POST a raw JSON-RPC body to `/mcp` (2025-06-18 unless `headers` override; a null value
 * removes a default header); the body is always consumed.
 */
export async function rawMcp(
  server: TestServer,
  body: unknown,
  headers: Record<string, string | null> = {},
  path = "/mcp",
): Promise<{ status: number; headers: Headers; text: string }> {
  const all: Record<string, string | null> = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
    ...headers,
  };
  const sent = Object.fromEntries(
    Object.entries(all).filter((e): e is [string, string] => e[1] !== null),
  );
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: sent,
    body: JSON.stringify(body),
    redirect: "manual",
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The JSON-RPC message of a JSON or single-event SSE body. */
export function rpcOf(text: string): Record<string, unknown> {
  const t = text.trim();
  if (t.startsWith("{")) return JSON.parse(t);
  const line = t.split("\n").find((l) => l.startsWith("data: "));
  if (!line) throw new Error(`no JSON-RPC message in ${text.slice(0, 200)}`);
  return JSON.parse(line.slice(6));
}

export const TOOLS_CALL = (name: string, args: Record<string, unknown> = {}, id = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args },
});

/** How a popular client registers (its real registration body), for {@link oauthTokenByFlow}. */
export interface ClientStyle {
  label: string;
  clientName: string;
  redirectUri: string;
  /** A Client ID Metadata Document URL (CIMD) instead of Dynamic Client Registration. */
  clientMetadataUrl?: string;
}

/** Claude (DCR, its hosted callback), Cursor (DCR, custom scheme), ChatGPT (CIMD). */
export const CLIENT_STYLES = {
  claude: {
    label: "Claude-style DCR",
    clientName: "Claude",
    redirectUri: "https://claude.ai/api/mcp/auth_callback",
  },
  cursor: {
    label: "Cursor-style DCR",
    clientName: "Cursor",
    redirectUri: "cursor://anysphere.cursor-mcp/oauth/callback",
  },
  chatgpt: {
    label: "ChatGPT-style CIMD",
    clientName: "ChatGPT",
    redirectUri: "https://chatgpt.com/connector/oauth/cb123",
    clientMetadataUrl: "https://client.example.com/oauth/chatgpt/client.json",
  },
} satisfies Record<string, ClientStyle>;

/**
 * An access token for `/mcp` obtained the way a real client gets one: the SDK's own `auth()`
 * (v1 or v2) discovers the server, registers with the client's body (DCR or CIMD), the user
 * approves the consent page over HTTP (signed in by a browser session), and the SDK exchanges
 * the code. For CIMD the server must run with the fixture's `cimdFetch` hooks and `serveCimd`
 * must publish the document.
 */
export async function oauthTokenByFlow(
  server: TestServer,
  who: Pick<McpUser, "user">,
  style: ClientStyle,
  sdk: "v1" | "v2",
  serveCimd?: (path: string, doc: Record<string, unknown>) => void,
  mcpPath = "/mcp",
): Promise<string> {
  const browser = new BrowserHttp(server.url);
  const session = await createSession(server.deps.db, who.user.id);
  browser.cookies.set(sessionCookieName(server.config), session.id);
  const provider = new MemoryOAuthProvider(style.redirectUri, {
    clientName: style.clientName,
    clientMetadataUrl: style.clientMetadataUrl,
  });
  if (style.clientMetadataUrl) {
    if (!serveCimd) throw new Error("a CIMD client needs serveCimd");
    serveCimd(new URL(style.clientMetadataUrl).pathname, {
      client_id: style.clientMetadataUrl,
      ...provider.clientMetadata,
    });
  }
  // deno-lint-ignore no-explicit-any
  const auth = (sdk === "v1" ? authV1 : authV2) as (p: any, o: any) => Promise<string>;
  const serverUrl = `${server.url}${mcpPath}`;
  if (await auth(provider, { serverUrl }) !== "REDIRECT") throw new Error("expected a redirect");
  const cb = await browser.approve(provider.authorizationUrl!.href);
  if (!cb.href.startsWith(style.redirectUri)) throw new Error(`redirected to ${cb.href}`);
  const done = await auth(provider, {
    serverUrl,
    authorizationCode: cb.searchParams.get("code")!,
    iss: cb.searchParams.get("iss")!,
  });
  if (done !== "AUTHORIZED") throw new Error(`auth() ended ${done}`);
  const clientId = provider.clientInformation()?.client_id;
  const cimd = style.clientMetadataUrl;
  if (cimd ? clientId !== cimd : typeof clientId !== "string" || clientId.startsWith("https:")) {
    throw new Error(`registered as ${clientId}, expected ${cimd ? "the CIMD URL" : "a DCR id"}`);
  }
  return provider.savedTokens!.access_token;
}
