/**
 * The console's conversation lists, newest activity first, 25 per page (cursor: the last
 * item's `updatedAt`, as Dust's list): `mine` (the member's private workspace-level
 * conversations, the same set as `listConversations` without a Pod), `shared` (workspace-level
 * conversations whose visibility is `workspace`: every member reads them) and `pods` (the
 * conversations of every Pod the member reads). Who reads what is `canReadConversation` /
 * `readableSpaceIds` (access.ts); test and deleted conversations are never listed.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { reachesOwnConversations, readableSpaceIds, requireUser } from "./access.ts";
import { listWorkspaceSpaces } from "./space_rows.ts";

export const CONSOLE_CONVERSATION_VIEWS = ["mine", "shared", "pods"] as const;
export type ConsoleConversationView = (typeof CONSOLE_CONVERSATION_VIEWS)[number];
export const CONSOLE_CONVERSATIONS_PAGE = 25;

export interface ListedConversation {
  sId: string;
  title: string | null;
  visibility: string;
  createdAt: number;
  updatedAt: number;
  /** The Pod it lives in, if any. */
  pod: { sId: string; name: string } | null;
  unread: boolean;
}

const SELECT = `SELECT c.s_id, c.title, c.visibility, c.created_at, c.updated_at,
    s.s_id AS space_s_id, s.name AS space_name, p.user_id AS p_user_id,
    p.last_read_at AS p_last_read_at
  FROM conversations c LEFT JOIN spaces s ON s.id = c.space_id`;

/** One page of a console conversation list (users only). */
export async function listConsoleConversations(
  deps: Deps,
  actor: Actor,
  input: { view: ConsoleConversationView; cursor?: string; limit?: number },
): Promise<{ conversations: ListedConversation[]; nextCursor: string | null }> {
  const user = requireUser(actor);
  const limit = Math.min(Math.max(input.limit ?? CONSOLE_CONVERSATIONS_PAGE, 1), 100);
  if (input.cursor !== undefined && !/^\d{1,15}$/.test(input.cursor)) {
    throw invalid("cursor: not a cursor from this list");
  }
  const before = input.cursor === undefined ? Number.MAX_SAFE_INTEGER : Number(input.cursor);
  const ws = actor.workspace.id;
  const uid = user.user.id;
  let rows: Record<string, unknown>[];
  if (input.view !== "pods" && !reachesOwnConversations(actor)) {
    rows = [];
  } else if (input.view === "mine") {
    rows = await deps.db.all(
      `${SELECT} JOIN conversation_participants p ON p.conversation_id = c.id AND p.user_id = ?
       WHERE c.workspace_id = ? AND c.space_id IS NULL AND c.visibility = 'unlisted'
       AND c.updated_at < ? ORDER BY c.updated_at DESC LIMIT ?`,
      uid,
      ws,
      before,
      limit + 1,
    );
  } else if (input.view === "shared") {
    rows = await deps.db.all(
      `${SELECT} LEFT JOIN conversation_participants p ON p.conversation_id = c.id
         AND p.user_id = ?
       WHERE c.workspace_id = ? AND c.space_id IS NULL AND c.visibility = 'workspace'
       AND c.updated_at < ? ORDER BY c.updated_at DESC LIMIT ?`,
      uid,
      ws,
      before,
      limit + 1,
    );
  } else {
    const readable = await readableSpaceIds(deps.db, actor);
    const pods = (await listWorkspaceSpaces(deps.db, ws))
      .filter((s) => s.kind === "project" && readable.has(s.id)).map((s) => s.id);
    rows = pods.length === 0 ? [] : await deps.db.all(
      `${SELECT} LEFT JOIN conversation_participants p ON p.conversation_id = c.id
         AND p.user_id = ?
       WHERE c.workspace_id = ? AND c.space_id IN (SELECT value FROM json_each(?))
       AND c.visibility NOT IN ('deleted', 'test') AND c.updated_at < ?
       ORDER BY c.updated_at DESC LIMIT ?`,
      uid,
      ws,
      JSON.stringify(pods),
      before,
      limit + 1,
    );
  }
  const page = rows.slice(0, limit).map((r): ListedConversation => {
    const updatedAt = Number(r.updated_at);
    const lastRead = r.p_last_read_at == null ? null : Number(r.p_last_read_at);
    return {
      sId: r.s_id as string,
      title: r.title as string | null,
      visibility: r.visibility as string,
      createdAt: Number(r.created_at),
      updatedAt,
      pod: r.space_s_id ? { sId: r.space_s_id as string, name: r.space_name as string } : null,
      unread: r.p_user_id != null && (lastRead === null || lastRead < updatedAt),
    };
  });
  return {
    conversations: page,
    nextCursor: rows.length > limit ? String(page[page.length - 1].updatedAt) : null,
  };
}
