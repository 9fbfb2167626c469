/**
 * Conversations: create (optionally in a space/Pod, with a first message and content
 * fragments), list, get, mark read. Access is `canReadConversation` (access.ts); a
 * conversation the caller may not read answers exactly like a missing one (404
 * `conversation_not_found`). The MCP tools' shapes (`createConversation`,
 * `listConversations`, `markConversationRead`) are thin adapters over the same functions the
 * REST handlers call.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError, invalid } from "../errors.ts";
import { appendEvent, conversationStream } from "./conversation_events.ts";

import { newSId } from "../util/ids.ts";
import type { SpaceRow } from "./space_rows.ts";
import {
  reachesOwnConversations,
  requireReadablePod,
  requireReadableSpace,
  requireScope,
  requireUser,
} from "./access.ts";
import {
  conversationFromRow,
  conversationListItem,
  type ConversationRow,
  conversationStamp,
  conversationUrl,
  getParticipantState,
  groupByRank,
  loadMessages,
  requireReadableConversation,
} from "./conversation_views.ts";
import {
  discardPrepared,
  finishPost,
  type InsertedPost,
  insertPost,
  mentionsForAgentName,
  type PostInput,
  type PostResult,
  type PreparedPost,
  preparePost,
} from "./messages.ts";
import { defaultMessageContext } from "./message_context.ts";

export const CONVERSATION_PAGE_SIZE = 25;

/** Input of {@link postConversation} (Dust's `PublicPostConversationsRequestBody`). */
export interface PostConversationInput {
  title: string | null;
  visibility: "unlisted" | "workspace" | "test";
  depth?: number;
  spaceId?: string | null;
  /** First message and/or content fragments (fragments come first, as in Dust). */
  post?: PostInput | null;
  blocking?: boolean;
}

/** Longest accepted conversation title. */
export const MAX_TITLE_LENGTH = 1024;

/** Dust's max sub-agent chain depth. */
export const MAX_CONVERSATION_DEPTH = 4;

/**
 * Create a conversation, with an optional first message and content fragments, in one
 * transaction. With `spaceId` the space must be readable (a Pod: its members) else 404
 * `space_not_found`. The creating user becomes a participant.
 */
export async function postConversation(
  deps: Deps,
  actor: Actor,
  input: PostConversationInput,
): Promise<{ conversation: ConversationRow; json: ConversationJson } & PostResult> {
  requireScope(actor, "write");
  if (input.title && input.title.length > MAX_TITLE_LENGTH) {
    throw invalid(`title: must be at most ${MAX_TITLE_LENGTH} characters`);
  }
  if ((input.depth ?? 0) >= MAX_CONVERSATION_DEPTH) {
    throw invalid(`depth: must be below ${MAX_CONVERSATION_DEPTH}`);
  }
  const space = input.spaceId ? await requireReadableSpace(deps.db, actor, input.spaceId) : null;
  if (!space && !reachesOwnConversations(actor)) {
    throw new AppError(
      403,
      "workspace_auth_error",
      "This token was narrowed on consent to chosen spaces without conversations: create the conversation in one of its Pods (spaceId).",
    );
  }
  const sId = newSId();
  const prepared = input.post ? await preparePost(deps, actor, input.post, "conversation") : null;
  let created: { conversation: ConversationRow; inserted: InsertedPost | null };
  try {
    created = await deps.db.tx(async () =>
      await insertConversation(deps, actor, { ...input, sId, space }, prepared)
    );
  } catch (e) {
    await discardPrepared(deps, prepared);
    throw e;
  }
  const { conversation, inserted } = created;
  const result = await finishPost(deps, actor, conversation, inserted, input.blocking ?? false);
  const fresh = await requireReadableConversation(deps, actor, conversation.sId);
  return { conversation: fresh, json: await conversationJson(deps, actor, fresh), ...result };
}

async function insertConversation(
  deps: Deps,
  actor: Actor,
  input: PostConversationInput & { sId: string; space: SpaceRow | null },
  prepared: PreparedPost | null,
): Promise<{ conversation: ConversationRow; inserted: InsertedPost | null }> {
  const t = conversationStamp();
  const row = await deps.db.get(
    `INSERT INTO conversations (s_id, workspace_id, space_id, title, visibility, depth,
       created_by_user_id, created_through_api_key, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    input.sId,
    actor.workspace.id,
    input.space?.id ?? null,
    input.title,
    input.visibility,
    input.depth ?? 0,
    actor.kind === "user" ? actor.user.id : null,
    actor.kind === "api_key" ? 1 : 0,
    t,
    t,
  ) as { id: number };
  if (actor.kind === "user") {
    await deps.db.run(
      `INSERT INTO conversation_participants (conversation_id, user_id, action, last_read_at,
         created_at, updated_at) VALUES (?, ?, 'subscribed', ?, ?, ?)`,
      row.id,
      actor.user.id,
      t,
      t,
      t,
    );
  }
  const conversation = await requireReadableConversation(deps, actor, input.sId);
  const inserted = prepared ? await insertPost(deps, actor, conversation, prepared) : null;
  return { conversation, inserted };
}

/** Dust's full Conversation JSON (content = every message's versions, by rank). */
export type ConversationJson = Awaited<ReturnType<typeof conversationJson>>;

/** Dust's full Conversation JSON (content = every message's versions, by rank). */
export async function conversationJson(deps: Deps, actor: Actor, c: ConversationRow) {
  const messages = await loadMessages(deps, actor.workspace.sId, c.id, {
    fromRank: 0,
    toRank: Number.MAX_SAFE_INTEGER,
  });
  return {
    ...conversationListItem(actor, c, await getParticipantState(deps, actor, c.id)),
    url: conversationUrl(deps, actor.workspace.sId, c.sId),
    content: groupByRank(messages),
  };
}

/** `GET /assistant/conversations/{cId}`. */
export async function getConversation(deps: Deps, actor: Actor, input: { conversationId: string }) {
  return await conversationJson(
    deps,
    actor,
    await requireReadableConversation(deps, actor, input.conversationId),
  );
}

/** Conversation columns plus the caller's participant row `p` (joined by each query). */
const LIST_SELECT =
  `SELECT c.id, c.s_id, c.workspace_id, c.space_id, s.s_id AS space_s_id, c.title, c.visibility,
     c.depth, c.created_by_user_id, c.created_through_api_key, c.created_at, c.updated_at,
     p.user_id AS p_user_id,
     p.last_read_at AS p_last_read_at, p.action_required AS p_action_required
   FROM conversations c LEFT JOIN spaces s ON s.id = c.space_id`;

/** Input of {@link listConversations}. */
export interface ListConversationsInput {
  podId?: string;
  lastValue?: string;
  orderDirection?: "asc" | "desc";
  limit?: number;
}

function parseCursor(lastValue: string | undefined): number | null {
  if (lastValue === undefined || lastValue === "") return null;
  if (!/^\d{1,15}$/.test(lastValue)) throw invalid("lastValue: not a cursor from a previous page");
  return Number(lastValue);
}

/**
 * The caller's conversations, `limit` (default 25) per page ordered by last update; the
 * cursor is the last item's `updatedAt` in ms as a string. Without `podId`: the user's
 * private conversations (participant, `unlisted`, not in a space) — users only, as in Dust
 * (401 `user_not_found` for API keys). With `podId`: the Pod's conversations (test ones
 * excluded); the Pod must be readable, else "Pod not found or you do not have access.".
 */
export async function listConversations(deps: Deps, actor: Actor, input: ListConversationsInput) {
  const desc = (input.orderDirection ?? "desc") === "desc";
  const limit = Math.min(Math.max(input.limit ?? CONVERSATION_PAGE_SIZE, 1), 1000);
  const cursor = parseCursor(input.lastValue) ?? (desc ? Number.MAX_SAFE_INTEGER : -1);
  const order = desc ? "DESC" : "ASC";
  const cmp = desc ? "<" : ">";
  const userId = actor.kind === "user" ? actor.user.id : -1;
  let rows: Record<string, unknown>[];
  if (input.podId) {
    const pod = await requireReadablePod(deps.db, actor, input.podId);
    rows = await deps.db.all(
      `${LIST_SELECT} LEFT JOIN conversation_participants p ON p.conversation_id = c.id
         AND p.user_id = ?
       WHERE c.workspace_id = ? AND c.space_id = ? AND c.visibility NOT IN ('deleted', 'test')
       AND c.updated_at ${cmp} ? ORDER BY c.updated_at ${order} LIMIT ?`,
      userId,
      actor.workspace.id,
      pod.id,
      cursor,
      limit + 1,
    );
  } else {
    requireUser(actor);
    // A token narrowed away from conversations sees none outside its spaces.
    rows = !reachesOwnConversations(actor) ? [] : await deps.db.all(
      `${LIST_SELECT} JOIN conversation_participants p ON p.conversation_id = c.id AND p.user_id = ?
       WHERE c.workspace_id = ? AND c.space_id IS NULL AND c.visibility = 'unlisted'
       AND c.updated_at ${cmp} ? ORDER BY c.updated_at ${order} LIMIT ?`,
      userId,
      actor.workspace.id,
      cursor,
      limit + 1,
    );
  }
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit).map((r) => ({
    c: conversationFromRow(r),
    state: r.p_user_id == null ? null : {
      lastReadAt: r.p_last_read_at as number | null,
      actionRequired: r.p_action_required === 1,
    },
  }));
  return {
    conversations: page.map(({ c, state }) => conversationListItem(actor, c, state)),
    hasMore,
    lastValue: hasMore ? String(page[page.length - 1].c.updatedAt) : null,
  };
}

/**
 * Mark a conversation read or unread for the caller only (a user). Marking read also clears
 * the participant's "action required" flag. API keys have no read state: 401 `user_not_found`.
 */
export async function markConversationRead(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; read: boolean },
): Promise<{ success: true; conversationId: string; read: boolean }> {
  requireScope(actor, "write");
  const user = requireUser(actor);
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const t = Date.now();
  await deps.db.run(
    `INSERT INTO conversation_participants (conversation_id, user_id, action, last_read_at,
       action_required, created_at, updated_at) VALUES (?, ?, 'subscribed', ?, 0, ?, ?)
     ON CONFLICT (conversation_id, user_id) DO UPDATE SET last_read_at = excluded.last_read_at,
       action_required = CASE WHEN ? = 1 THEN 0 ELSE conversation_participants.action_required END, updated_at = excluded.updated_at`,
    c.id,
    user.user.id,
    input.read ? Math.max(t, c.updatedAt) : null,
    t,
    t,
    input.read ? 1 : 0,
  );
  return { success: true, conversationId: c.sId, read: input.read };
}

/**
 * Set a conversation's title (runner API, e.g. an automatic title after the first answer; no
 * actor: the caller already holds the conversation) and emit `conversation_title`.
 */
export async function setConversationTitle(
  deps: Deps,
  input: { conversationId: string; title: string },
): Promise<void> {
  const title = input.title.trim().slice(0, 1024);
  if (title === "") throw invalid("title: must not be empty");
  const r = await deps.db.get(
    "UPDATE conversations SET title = ? WHERE s_id = ? RETURNING s_id",
    title,
    input.conversationId,
  );
  if (!r) throw new AppError(404, "conversation_not_found", "Conversation not found.");
  await appendEvent(deps, conversationStream(input.conversationId), {
    type: "conversation_title",
    created: Date.now(),
    title,
  });
}

// ---------------------------------------------------------------------------------------------
// MCP tool shapes (Dust's hosted MCP server, dust.md §1.3)

/**
 * MCP `create_conversation`: an `unlisted` conversation, optionally in a Pod the user is in.
 * `clientSideMCPServerIds` (the caller's local MCP servers, for the agent answering the first
 * message) go into that message's context and through the same check as a REST post.
 */
export async function createConversation(
  deps: Deps,
  actor: Actor,
  input: {
    title: string;
    podId?: string;
    message?: string;
    agentName?: string | null;
    clientSideMCPServerIds?: string[];
  },
) {
  if (input.clientSideMCPServerIds?.length && !input.message) {
    // Without a message no agent runs, so the servers would be silently unused.
    throw invalid("clientSideMCPServerIds: only applies together with message");
  }
  const pod = input.podId
    ? await requireReadablePod(deps.db, actor, input.podId, { activeOnly: true })
    : null;
  const post: PostInput | null = input.message
    ? {
      content: input.message,
      mentions: await mentionsForAgentName(deps, actor, input.agentName),
      context: defaultMessageContext(actor, input.clientSideMCPServerIds),
      contentFragments: [],
    }
    : null;
  const r = await postConversation(deps, actor, {
    title: input.title,
    visibility: "unlisted",
    spaceId: pod?.sId ?? null,
    post,
  });
  return {
    conversationId: r.conversation.sId,
    title: r.conversation.title,
    podId: pod?.sId ?? null,
    podName: pod?.name ?? null,
    conversationUrl: conversationUrl(deps, actor.workspace.sId, r.conversation.sId),
    userMessageId: r.userMessage?.sId ?? null,
    agentMessageIds: r.agentMessages.map((m) => m.sId as string),
  };
}
