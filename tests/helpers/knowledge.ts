/**
 * Helpers for the files / knowledge / search tests: actors built from fixture users (as the
 * bearer middleware would), spaces, Pods, conversations and data sources created through the
 * core.
 */
import type { ApiKeyActor, Scope, UserActor } from "../../src/auth/actor.ts";
import { toUserRef } from "../../src/core/users.ts";
import { toWorkspaceRef, type WorkspaceRow } from "../../src/core/workspaces.ts";
import { createSpace } from "../../src/core/spaces.ts";
import { listWorkspaceSpaces } from "../../src/core/space_rows.ts";
import { postConversation } from "../../src/core/conversations.ts";
import { createDataSource } from "../../src/core/data_sources.ts";
import { upsertDocument } from "../../src/core/documents.ts";
import type { ServerHandle } from "../../src/server.ts";
import type { UserWithToken } from "./fixtures.ts";

type Server = Pick<ServerHandle, "deps">;

/** The actor a user's token would resolve to (all scopes unless narrowed). */
export function actorOf(u: UserWithToken, scopes: Scope[] = ["read", "write"]): UserActor {
  return {
    kind: "user",
    user: toUserRef(u.user),
    workspace: toWorkspaceRef(u.workspace),
    role: u.role,
    scopes: new Set(scopes),
    credential: { kind: "personal_token", id: "pat_test" },
  };
}

/** The actor of a workspace API key. */
export function keyActorOf(workspace: WorkspaceRow): ApiKeyActor {
  return {
    kind: "api_key",
    workspace: toWorkspaceRef(workspace),
    credential: { kind: "api_key", id: "key_test" },
  };
}

/** The sId of the workspace's global space ("Company Data"). */
export async function globalSpaceSId(server: Server, workspace: WorkspaceRow): Promise<string> {
  return (await listWorkspaceSpaces(server.deps.db, workspace.id)).find((s) => s.kind === "global")!
    .sId;
}

/** A Pod (restricted project space) created by `owner` (builder or admin), with members. */
export async function createPod(
  server: Server,
  owner: UserActor,
  name: string,
  memberSIds: string[] = [],
) {
  return (await createSpace(server.deps, owner, { kind: "project", name, memberIds: memberSIds }))
    .sId;
}

/** A restricted regular space created by an admin, with members. */
export async function createRestrictedSpace(
  server: Server,
  admin: UserActor,
  name: string,
  memberSIds: string[] = [],
) {
  return (await createSpace(server.deps, admin, {
    kind: "regular",
    name,
    restricted: true,
    memberIds: memberSIds,
  })).sId;
}

/** An unlisted conversation created by `actor` (no message). */
export async function createEmptyConversation(server: Server, actor: UserActor): Promise<string> {
  const r = await postConversation(server.deps, actor, { title: "files", visibility: "unlisted" });
  return r.conversation.sId;
}

/** A data source in a space; returns its sId. */
export async function createFolder(
  server: Server,
  actor: UserActor | ApiKeyActor,
  spaceId: string,
  name: string,
) {
  return (await createDataSource(server.deps, actor, { spaceId, name })).data_source.sId;
}

/** Upsert a document with defaults. */
export async function putDocument(
  server: Server,
  actor: UserActor | ApiKeyActor,
  where: { spaceId: string; dataSourceId: string },
  documentId: string,
  text: string,
  extra: { title?: string; tags?: string[]; timestamp?: number; parents?: string[] } = {},
) {
  return await upsertDocument(server.deps, actor, { ...where, documentId, text, ...extra });
}
