/**
 * Core-level helpers for tests that call core functions directly: the {@link UserActor} of a
 * fixture user, and a conversation with one user message (real rows, made by the core).
 */
import type { UserActor } from "../../src/auth/actor.ts";
import { ALL_SCOPES } from "../../src/auth/actor.ts";
import { resolveUserActor } from "../../src/auth/user_actor.ts";
import { postConversation } from "../../src/core/conversations.ts";
import type { ServerHandle } from "../../src/server.ts";
import type { UserWithToken } from "./fixtures.ts";

/** The actor a personal token of `u` resolves to. */
export async function userActorOf(
  server: Pick<ServerHandle, "deps">,
  u: UserWithToken,
): Promise<UserActor> {
  const actor = await resolveUserActor(server.deps, {
    userSId: u.user.sId,
    workspaceSId: u.workspace.sId,
    scopes: new Set(ALL_SCOPES),
    credential: { kind: "personal_token", id: "test" },
  });
  if (!actor) throw new Error("fixture user is not a member of its workspace");
  return actor;
}

/** A conversation of `u` with one user message (no agent); returns both sIds. */
export async function createConversationWithMessage(
  server: Pick<ServerHandle, "deps">,
  u: UserWithToken,
): Promise<{ conversationId: string; messageId: string }> {
  const r = await postConversation(server.deps, await userActorOf(server, u), {
    title: "relay test",
    visibility: "unlisted",
    post: {
      content: "hello",
      mentions: [],
      context: { username: u.user.username, timezone: "UTC" },
      contentFragments: [],
    },
  });
  return { conversationId: r.conversation.sId, messageId: r.userMessage!.sId as string };
}
