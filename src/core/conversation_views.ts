/**
 * Read side of conversations: loads messages (all versions, by rank) and renders them in the
 * JSON shapes of Dust's public API that `@dust-tt/client` 1.2.8 parses (see
 * notes/dust-sdk.md §3): user messages, agent messages with their light agent configuration
 * and actions, content fragments, and the conversation with `content` as version arrays.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { canReadConversation } from "./access.ts";
import { findSpaceById, type SpaceRow } from "./space_rows.ts";
import {
  agentMessageJson,
  contentFragmentJson,
  type Json,
  loadActions,
  loadAgentConfigs,
  userMessageJson,
} from "./message_json.ts";

/** A conversation row (internal; ids are row ids). */
export interface ConversationRow {
  id: number;
  sId: string;
  workspaceId: number;
  spaceId: number | null;
  spaceSId: string | null;
  title: string | null;
  visibility: "unlisted" | "workspace" | "deleted" | "test";
  depth: number;
  createdByUserId: number | null;
  /** Created by an API key (no user): API keys read these (access.ts). */
  createdThroughApiKey: boolean;
  createdAt: number;
  updatedAt: number;
}

export const CONVERSATION_SELECT =
  `SELECT c.id, c.s_id, c.workspace_id, c.space_id, s.s_id AS space_s_id, c.title, c.visibility,
     c.depth, c.created_by_user_id, c.created_through_api_key, c.created_at, c.updated_at
   FROM conversations c LEFT JOIN spaces s ON s.id = c.space_id`;

// deno-lint-ignore no-explicit-any
export function conversationFromRow(r: any): ConversationRow {
  return {
    id: r.id,
    sId: r.s_id,
    workspaceId: r.workspace_id,
    spaceId: r.space_id,
    spaceSId: r.space_s_id ?? null,
    title: r.title,
    visibility: r.visibility,
    depth: r.depth,
    createdByUserId: r.created_by_user_id,
    createdThroughApiKey: r.created_through_api_key === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function conversationNotFound(): AppError {
  return new AppError(404, "conversation_not_found", "Conversation not found.");
}

let lastStamp = 0;
/**
 * A strictly increasing epoch-ms timestamp for `conversations.updated_at`, so the list
 * cursor (the last item's `updatedAt` as a string, as Dust's) never skips a tie.
 */
export function conversationStamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return lastStamp;
}

async function isParticipant(deps: Deps, actor: Actor, conversationId: number): Promise<boolean> {
  if (actor.kind !== "user") return false;
  return !!await deps.db.get(
    "SELECT 1 FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    conversationId,
    actor.user.id,
  );
}

async function spaceOf(deps: Deps, c: ConversationRow): Promise<SpaceRow | null> {
  return c.spaceId === null ? null : await findSpaceById(deps.db, c.workspaceId, c.spaceId);
}

/** The conversation if the actor may read it, else null (no difference with a missing id). */
export async function findReadableConversation(
  deps: Deps,
  actor: Actor,
  sId: string,
): Promise<ConversationRow | null> {
  const r = await deps.db.get(
    `${CONVERSATION_SELECT} WHERE c.s_id = ? AND c.workspace_id = ?`,
    sId,
    actor.workspace.id,
  );
  if (!r) return null;
  const c = conversationFromRow(r);
  const ok = await canReadConversation(deps.db, actor, {
    workspaceId: c.workspaceId,
    space: await spaceOf(deps, c),
    visibility: c.visibility,
    isParticipant: await isParticipant(deps, actor, c.id),
    createdThroughApiKey: c.createdThroughApiKey,
  });
  return ok ? c : null;
}

/** The conversation the actor may read, or 404 `conversation_not_found`. */
export async function requireReadableConversation(
  deps: Deps,
  actor: Actor,
  sId: string,
): Promise<ConversationRow> {
  const c = await findReadableConversation(deps, actor, sId);
  if (!c) throw conversationNotFound();
  return c;
}

/** The per-user state of a conversation (null for API keys and non-participants). */
export interface ParticipantState {
  lastReadAt: number | null;
  actionRequired: boolean;
}

/** The caller's participant row, or null. */
export async function getParticipantState(
  deps: Deps,
  actor: Actor,
  conversationId: number,
): Promise<ParticipantState | null> {
  if (actor.kind !== "user") return null;
  const r = await deps.db.get(
    "SELECT last_read_at, action_required FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    conversationId,
    actor.user.id,
  ) as
    | { last_read_at: number | null; action_required: number }
    | undefined;
  return r ? { lastReadAt: r.last_read_at, actionRequired: r.action_required === 1 } : null;
}

/** Dust's Workspace JSON for `owner`; API keys act at builder level. */
export function workspaceJson(actor: Actor) {
  return {
    id: actor.workspace.id,
    sId: actor.workspace.sId,
    name: actor.workspace.name,
    role: actor.kind === "user" ? actor.role : "builder",
    segmentation: null,
    whiteListedProviders: null,
    defaultEmbeddingProvider: null,
  };
}

/**
 * The URL of a conversation: its console page (`/w/{wId}/conversations/{cId}`), as Dust's
 * `url` / `conversationUrl` name its web app page. REST clients read the conversation at
 * `/api/v1/w/{wId}/assistant/conversations/{cId}` by its sId, never through this URL.
 */
export function conversationUrl(deps: Deps, workspaceSId: string, conversationSId: string): string {
  return `${deps.config.publicUrl}/w/${encodeURIComponent(workspaceSId)}/conversations/${
    encodeURIComponent(conversationSId)
  }`;
}

/** A conversation without content (Dust's `ConversationWithoutContent`, plus `spaceId`). */
export function conversationListItem(
  actor: Actor,
  c: ConversationRow,
  state: ParticipantState | null,
) {
  return {
    id: c.id,
    sId: c.sId,
    created: c.createdAt,
    updated: c.updatedAt,
    unread: state ? state.lastReadAt === null || state.lastReadAt < c.updatedAt : false,
    actionRequired: state?.actionRequired ?? false,
    owner: workspaceJson(actor),
    title: c.title,
    visibility: c.visibility,
    spaceId: c.spaceSId,
    groupIds: [] as string[],
    requestedGroupIds: [] as string[][],
  };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** One message version as stored, with what rendering needs. */
export interface MessageRecord {
  id: number;
  sId: string;
  rank: number;
  version: number;
  type: "user_message" | "agent_message" | "content_fragment";
  visibility: "visible" | "deleted";
  created: number;
  json: Json;
  /** For text rendering and the agent loop. */
  agentName: string | null;
  agentStatus: string | null;
}

const MESSAGE_SELECT = `
  SELECT m.id, m.s_id, m.workspace_id, m.rank, m.version, m.type, m.visibility, m.created_at,
    um.content AS u_content, um.mentions, um.context,
    u.id AS u_id, u.s_id AS u_s_id, u.email, u.username, u.first_name, u.last_name,
    u.image_url, u.created_at AS u_created_at,
    am.agent_configuration_id, am.agent_s_id, am.status, am.content AS a_content,
    am.chain_of_thought, am.error_code, am.error_message, am.error_metadata,
    pm.s_id AS parent_s_id,
    cf.title AS cf_title, cf.content_type AS cf_content_type, cf.source_url, cf.text_bytes,
    cf.context AS cf_context, f.s_id AS file_s_id, f.status AS file_status
  FROM messages m
  LEFT JOIN user_messages um ON um.message_id = m.id
  LEFT JOIN users u ON u.id = um.user_id
  LEFT JOIN agent_messages am ON am.message_id = m.id
  LEFT JOIN messages pm ON pm.id = am.parent_message_id
  LEFT JOIN content_fragments cf ON cf.message_id = m.id
  LEFT JOIN files f ON f.id = cf.file_id`;

/**
 * Every version of the conversation's messages with `fromRank <= rank <= toRank`, ordered by
 * rank then version (callers bound the range: a page, or one rank).
 */
export async function loadMessages(
  deps: Deps,
  workspaceSId: string,
  conversationId: number,
  range: { fromRank: number; toRank: number },
): Promise<MessageRecord[]> {
  const rows = await deps.db.all(
    `${MESSAGE_SELECT} WHERE m.conversation_id = ? AND m.rank BETWEEN ? AND ?
     ORDER BY m.rank, m.version`,
    conversationId,
    range.fromRank,
    range.toRank,
  ) as Json[];
  return await renderRows(deps, workspaceSId, rows);
}

/** Messages by sId within one conversation (for responses right after a write). */
export async function loadMessagesBySId(
  deps: Deps,
  workspaceSId: string,
  conversationId: number,
  sIds: string[],
): Promise<MessageRecord[]> {
  const rows = await deps.db.all(
    `${MESSAGE_SELECT} WHERE m.conversation_id = ? AND m.s_id IN (SELECT value FROM json_each(?))
     ORDER BY m.rank, m.version`,
    conversationId,
    JSON.stringify(sIds),
  ) as Json[];
  return await renderRows(deps, workspaceSId, rows);
}

async function renderRows(
  deps: Deps,
  workspaceSId: string,
  rows: Json[],
): Promise<MessageRecord[]> {
  const agentIds = [...new Set(rows.filter((r) => r.type === "agent_message").map((r) => r.id))];
  const actions = await loadActions(deps, agentIds);
  const configs = await loadAgentConfigs(
    deps,
    rows[0]?.workspace_id ?? 0,
    rows.filter((r) => r.type === "agent_message").map((r) => r.agent_s_id),
  );
  return rows.map((r) => {
    const base = {
      id: r.id as number,
      sId: r.s_id as string,
      rank: r.rank as number,
      version: r.version as number,
      type: r.type,
      visibility: r.visibility,
      created: r.created_at as number,
    };
    if (r.type === "user_message") {
      return { ...base, json: userMessageJson(r), agentName: null, agentStatus: null };
    }
    if (r.type === "agent_message") {
      const cfg = configs.get(r.agent_s_id)!;
      return {
        ...base,
        json: agentMessageJson(r, cfg, actions.get(r.id) ?? []),
        agentName: cfg.name as string,
        agentStatus: r.status as string,
      };
    }
    return {
      ...base,
      json: contentFragmentJson(deps, workspaceSId, r),
      agentName: null,
      agentStatus: null,
    };
  });
}

/** Group message versions by rank: Dust's `content` (last element = current version). */
export function groupByRank(records: MessageRecord[]): Json[][] {
  const out: Json[][] = [];
  let rank: number | null = null;
  for (const m of records) {
    if (m.rank !== rank) {
      out.push([]);
      rank = m.rank;
    }
    out[out.length - 1].push(m.json);
  }
  return out;
}
