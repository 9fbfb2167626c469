/**
 * MCP `get_conversation_messages`: a page of 25 messages (most recent first, older pages by
 * message rank) rendered as ONE plain-text string in chronological order, following Dust's
 * `render_as_text.ts` with timestamps, user emails and unread markers:
 *
 * ```
 * >> User (<full name>, <email>) [<ISO time>] (unread):
 * <content>
 *
 * >> Agent (<agent name>) [<ISO time>]:
 * <content>
 *
 * >> Content Fragment [<ISO time>]:
 * ID: … / Content-Type: … / Title: … / Version: … / Source URL: …
 * ```
 * Deleted messages show `[Deleted message]`; only the last version of each message is shown.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import {
  type ConversationRow,
  getParticipantState,
  loadMessages,
  type MessageRecord,
  requireReadableConversation,
} from "./conversation_views.ts";

export const MESSAGES_PAGE_SIZE = 25;

function header(kind: string, m: MessageRecord, lastReadMs: number | null): string {
  const unread = lastReadMs === null || m.created > lastReadMs ? " (unread)" : "";
  return `>> ${kind} [${new Date(m.created).toISOString()}]${unread}:`;
}

/** One message as text (header, content, blank line), Dust's rules. */
export function renderMessageAsText(m: MessageRecord, lastReadMs: number | null): string {
  const j = m.json;
  if (m.type === "content_fragment") {
    return `${header("Content Fragment", m, lastReadMs)}\nID: ${j.contentFragmentId}\n` +
      `Content-Type: ${j.contentType}\nTitle: ${j.title}\nVersion: ${j.version}\n` +
      `Source URL: ${j.sourceUrl}\n`;
  }
  const who = m.type === "user_message"
    ? `User (${j.user?.fullName || j.user?.username || "User"}, ${j.user?.email ?? "Unknown"})`
    : `Agent (${m.agentName ?? "Agent"})`;
  const content = m.visibility === "deleted"
    ? "[Deleted message]"
    : m.type === "agent_message"
    ? agentContent(m)
    : (j.content ?? "");
  return `${header(who, m, lastReadMs)}\n${content}\n`;
}

/**
 * An agent message's text with its state when it is not a finished answer: still being
 * written, failed (with the error) or cancelled, after whatever text was written.
 */
function agentContent(m: MessageRecord): string {
  const text = (m.json.content as string | null) ?? "";
  const error = m.json.error as { code: string; message: string } | null;
  const note = m.agentStatus === "failed"
    ? `[Agent message failed${error?.code ? ` (${error.code})` : ""}: ${
      error?.message || "no error message"
    }]`
    : m.agentStatus === "cancelled"
    ? "[Agent message cancelled]"
    : m.agentStatus === "created"
    ? "[Agent message in progress]"
    : null;
  if (note === null) return text;
  return text === "" ? note : `${text}\n${note}`;
}

/** Render messages (chronological, last version per rank) as Dust's text transcript. */
export function renderMessagesAsText(records: MessageRecord[], lastReadMs: number | null): string {
  const latest = new Map<number, MessageRecord>();
  for (const r of records) latest.set(r.rank, r);
  return [...latest.values()].sort((a, b) => a.rank - b.rank)
    .map((m) => renderMessageAsText(m, lastReadMs)).join("\n");
}

/**
 * MCP `get_conversation_messages`: `lastValue` is the lowest rank of the previous page; the
 * next page holds the 25 ranks below it.
 */
export async function getConversationMessages(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; lastValue?: number },
) {
  if (
    input.lastValue !== undefined && (!Number.isInteger(input.lastValue) || input.lastValue < 0)
  ) {
    throw invalid("lastValue: must be a message rank (a non-negative integer)");
  }
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const page = await renderPage(deps, actor, c, input.lastValue, MESSAGES_PAGE_SIZE);
  return {
    conversationId: c.sId,
    title: c.title,
    messages: page.text,
    hasMore: page.hasMore,
    lastValue: page.lastValue,
  };
}

/** The `size` latest ranks below `below` of a conversation, rendered as text. */
async function renderPage(
  deps: Deps,
  actor: Actor,
  c: ConversationRow,
  below: number | undefined,
  size: number,
): Promise<{ text: string; hasMore: boolean; lastValue: number | null }> {
  const ranks = await deps.db.all(
    `SELECT DISTINCT rank FROM messages WHERE conversation_id = ? AND rank < ?
     ORDER BY rank DESC LIMIT ?`,
    c.id,
    below ?? Number.MAX_SAFE_INTEGER,
    size + 1,
  ) as { rank: number }[];
  const hasMore = ranks.length > size;
  const page = ranks.slice(0, size);
  const records = page.length === 0 ? [] : await loadMessages(deps, actor.workspace.sId, c.id, {
    fromRank: page[page.length - 1].rank,
    toRank: page[0].rank,
  });
  const state = await getParticipantState(deps, actor, c.id);
  return {
    text: renderMessagesAsText(records, state?.lastReadAt ?? null),
    hasMore,
    lastValue: hasMore ? page[page.length - 1].rank : null,
  };
}

/** Messages a transcript ({@link getConversationTranscript}) holds at most: the latest ones. */
export const TRANSCRIPT_MAX_MESSAGES = 200;

/**
 * A conversation's transcript (MCP `resources/read` of `dust://…/conversations/<id>`): its
 * title and its latest {@link TRANSCRIPT_MAX_MESSAGES} messages as text, with a first line
 * saying so when older ones are left out.
 */
export async function getConversationTranscript(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string },
) {
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const page = await renderPage(deps, actor, c, undefined, TRANSCRIPT_MAX_MESSAGES);
  const older = page.hasMore
    ? `[Only the latest ${TRANSCRIPT_MAX_MESSAGES} messages; read older ones with get_conversation_messages and lastValue ${page.lastValue}.]\n\n`
    : "";
  return {
    conversationId: c.sId,
    title: c.title,
    updatedAt: c.updatedAt,
    text: `# ${c.title ?? "Untitled conversation"}\n\n${older}${page.text}`,
  };
}
