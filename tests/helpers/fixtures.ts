/**
 * Test fixtures shared by every area: users, workspaces, memberships and credentials created
 * directly through the core on the test server's database (no HTTP), plus a small JSON fetch
 * helper that always consumes the body.
 *
 * ```ts
 * await using server = await startTestServer();
 * const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
 * const bob = await createUserWithToken(server, { email: "bob@example.com", role: "user", workspace: alice.workspace });
 * const key = createApiKey(server, alice.workspace);
 * const { status, body } = await apiJson(server, bob.token, `/api/v1/w/${alice.workspace.sId}/spaces`);
 * ```
 */
import type { Role } from "../../src/auth/actor.ts";
import { createUser, findUserByEmail, type UserRow } from "../../src/core/users.ts";
import { addMember, createWorkspace, type WorkspaceRow } from "../../src/core/workspaces.ts";
import { issuePersonalToken } from "../../src/core/personal_tokens.ts";
import { insertApiKey } from "../../src/core/api_keys.ts";
import type { ServerHandle } from "../../src/server.ts";

export interface UserWithToken {
  user: UserRow;
  workspace: WorkspaceRow;
  role: Role;
  /** A personal access token for REST (`Authorization: Bearer <token>`). */
  token: string;
}

export interface CreateUserOptions {
  email: string;
  role: Role;
  /** Join this workspace; without it a new workspace is created for the user. */
  workspace?: WorkspaceRow;
  /** Full name (defaults to the email's local part). */
  name?: string;
  /** Workspace name when a new workspace is created. */
  workspaceName?: string;
}

/**
 * Create (or reuse, by email) a user, put them in a workspace with `role`, and issue them a
 * personal access token. Without `workspace`, a fresh workspace is created (with its global
 * space, system space and `dust` agent) and the user gets `role` in it.
 */
export async function createUserWithToken(
  server: Pick<ServerHandle, "deps">,
  options: CreateUserOptions,
): Promise<UserWithToken> {
  const db = server.deps.db;
  const user = await findUserByEmail(db, options.email) ??
    await createUser(db, {
      email: options.email,
      name: options.name ?? options.email.split("@")[0],
      password: null,
    });
  const workspace = options.workspace ??
    await createWorkspace(db, {
      name: options.workspaceName ?? `${options.email.split("@")[0]}'s workspace`,
      adminUserId: user.id,
    });
  await addMember(db, { workspaceId: workspace.id, userId: user.id, role: options.role });
  const { secret } = await issuePersonalToken(db, {
    workspaceId: workspace.id,
    userId: user.id,
    name: "test token",
  });
  return { user, workspace, role: options.role, token: secret };
}

/** A workspace API key (`sk-…`) for `workspace`; returns the secret. */
export async function createApiKey(
  server: Pick<ServerHandle, "deps">,
  workspace: Pick<WorkspaceRow, "id">,
  name = "test key",
): Promise<string> {
  return (await insertApiKey(server.deps.db, {
    workspaceId: workspace.id,
    name,
    createdByUserId: null,
  }))
    .secret;
}

/** Authorization header for a token. */
export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/**
 * Call the server and read the JSON body (always consumed). `body` is JSON-encoded when given.
 * `token` null sends no Authorization header.
 */
export async function apiJson(
  server: Pick<ServerHandle, "url">,
  token: string | null,
  path: string,
  init: { method?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } =
    {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(token ? bearer(token) : {}), ...init.headers };
  let payload: string | undefined = init.rawBody;
  if (init.body !== undefined) {
    payload = JSON.stringify(init.body);
    headers["Content-Type"] = "application/json";
  } else if (payload !== undefined) headers["Content-Type"] ??= "application/json";
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? "GET",
    headers,
    body: payload,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (HTML pages, SSE): hand back the text.
  }
  return { status: res.status, body, headers: res.headers };
}
