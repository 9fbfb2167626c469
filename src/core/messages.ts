/**
 * Posting into a conversation: content fragments (inline text stored as a conversation file,
 * or an existing file by id), the user message with its mentions and context (Dust's
 * `UserMessageContextSchema` rules), and one agent message in status `created` per mentioned
 * agent. A post happens in three steps so that it can join a conversation's creation:
 * {@link preparePost} (validation and file bytes, async), {@link insertPost} (rows and events,
 * inside the caller's transaction), {@link finishPost} (publish, announce, optionally wait).
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";

import { AppError, invalid } from "../errors.ts";
import { newSId } from "../util/ids.ts";
import { requireScope } from "./access.ts";
import { launchingGrantId } from "./grant_access.ts";
import { type AgentRow, findAgentByName, getAgentConfiguration } from "./agents.ts";
import {
  attachFile,
  discardFragments,
  type FragmentInput,
  insertFragmentFile,
  type PreparedFragment,
  prepareFragment,
} from "./content_fragments.ts";
import { defaultMessageContext, type MessageContext, validateContext } from "./message_context.ts";
import { conversationStream, insertEvents, publishEvents } from "./conversation_events.ts";
import {
  type ConversationRow,
  conversationStamp,
  conversationUrl,
  loadMessagesBySId,
  requireReadableConversation,
} from "./conversation_views.ts";
import { checkClientSideServers } from "./relay_registry.ts";
import {
  AGENT_MESSAGE_CREATED_CHANNEL,
  type AgentMessageCreated,
  waitForAgentMessages,
} from "./agent_messages.ts";
import { mapSeries } from "../util/async.ts";
import { insertAgentRun } from "./agent_runs.ts";

export type MentionInput = { configurationId: string } | { type: "user"; userId: string };

/** A post: optional content fragments, then an optional user message. */
export interface PostInput {
  /** The user message text; null posts only the fragments. */
  content: string | null;
  mentions: MentionInput[];
  context: MessageContext | null;
  contentFragments: FragmentInput[];
  /** Dust's `skipToolsValidation`: the agents' tool calls run without asking for approval. */
  skipToolsValidation?: boolean;
}

type AgentRef = Pick<AgentRow, "id" | "sId" | "version" | "name">;

/** A mentioned agent: readable by the actor and active, else 404 `agent_configuration_not_found`. */
async function resolveMentionedAgent(deps: Deps, actor: Actor, sId: string): Promise<AgentRef> {
  const a = await getAgentConfiguration(deps, actor, { agentId: sId });
  if (a.status !== "active") {
    throw new AppError(
      404,
      "agent_configuration_not_found",
      `The agent configuration "${sId}" is not active.`,
    );
  }
  return a;
}

/** A validated post whose inline fragment bytes are already stored. */
export interface PreparedPost {
  content: string | null;
  mentions: MentionInput[];
  context: MessageContext | null;
  agents: AgentRef[];
  fragments: PreparedFragment[];
  skipToolsValidation: boolean;
}

async function validateUserMentions(
  deps: Deps,
  actor: Actor,
  mentions: MentionInput[],
): Promise<void> {
  const member = deps.db.prepare(
    `SELECT 1 FROM users u JOIN memberships m ON m.user_id = u.id
     WHERE u.s_id = ? AND m.workspace_id = ?`,
  );
  for (const [i, m] of mentions.entries()) {
    if ("type" in m && !await member.get(m.userId, actor.workspace.id)) {
      throw invalid(`mentions.${i}.userId: no member of this workspace has id "${m.userId}"`);
    }
  }
}

/** Validate a post and store its inline fragments' bytes (removed again on failure). */
/** Remove the stored bytes of a prepared post that was not inserted. */
export async function discardPrepared(deps: Deps, p: PreparedPost | null): Promise<void> {
  await discardFragments(deps, p?.fragments ?? []);
}

export async function preparePost(
  deps: Deps,
  actor: Actor,
  input: PostInput,
  origin: "conversation" | "message" = "message",
): Promise<PreparedPost> {
  if (input.content !== null && input.content.length === 0) {
    throw invalid("content: must not be empty");
  }
  const context = input.content !== null
    ? validateContext(
      input.context ?? (() => {
        throw invalid("context: required");
      })(),
    )
    : null;
  // Dust refuses a post naming client-side servers the caller does not own (401/403, dust.md
  // §3.9) before anything is written; owned ones get their TTL refreshed.
  await checkClientSideServers(deps, actor, context?.clientSideMCPServerIds, origin);
  await validateUserMentions(deps, actor, input.mentions);
  const seen = new Set<string>();
  const agents: AgentRef[] = [];
  for (const m of input.mentions) {
    if ("type" in m || seen.has(m.configurationId)) continue;
    seen.add(m.configurationId);
    agents.push(await resolveMentionedAgent(deps, actor, m.configurationId));
  }
  const fragments: PreparedFragment[] = [];
  try {
    for (const f of input.contentFragments) fragments.push(await prepareFragment(deps, actor, f));
  } catch (e) {
    await discardFragments(deps, fragments);
    throw e;
  }
  return {
    content: input.content,
    mentions: input.mentions,
    context,
    agents,
    fragments,
    skipToolsValidation: input.skipToolsValidation === true,
  };
}

/** What a post created (sIds), for {@link finishPost}. */
export interface InsertedPost {
  fragmentSIds: string[];
  userMessageSId: string | null;
  agentMessages: { sId: string; agentSId: string }[];
  events: Awaited<ReturnType<typeof insertEvents>>;
}

/** Insert a prepared post into `c` (call inside a transaction). */
export async function insertPost(
  deps: Deps,
  actor: Actor,
  c: ConversationRow,
  p: PreparedPost,
): Promise<InsertedPost> {
  const db = deps.db;
  const t = conversationStamp();
  let rank = (await db.get(
    "SELECT COALESCE(MAX(rank), -1) + 1 AS r FROM messages WHERE conversation_id = ?",
    c.id,
  ) as { r: number }).r;
  const insertMessage = db.prepare(
    `INSERT INTO messages (s_id, workspace_id, conversation_id, rank, type, created_at)
     VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
  );
  const addMessage = async (type: string) => {
    const sId = newSId();
    const { id } = await insertMessage.get(sId, c.workspaceId, c.id, rank++, type, t) as {
      id: number;
    };
    return { id, sId };
  };
  const fragmentSIds = await mapSeries(p.fragments, async (f) => {
    const m = await addMessage("content_fragment");
    const file = f.kind === "inline"
      ? await insertFragmentFile(deps, actor, c, f, t)
      : await attachFile(deps, c, f.file, t);
    await db.run(
      `INSERT INTO content_fragments (message_id, title, content_type, file_id, source_url, text_bytes, context)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      m.id,
      f.title,
      file.contentType,
      file.id,
      f.url,
      file.size,
      JSON.stringify(f.context),
    );
    return m.sId;
  });
  let userMessageSId: string | null = null;
  const agentMessages: { sId: string; agentSId: string }[] = [];
  if (p.content !== null) {
    const um = await addMessage("user_message");
    userMessageSId = um.sId;
    await db.run(
      "INSERT INTO user_messages (message_id, user_id, content, mentions, context) VALUES (?, ?, ?, ?, ?)",
      um.id,
      actor.kind === "user" ? actor.user.id : null,
      p.content,
      JSON.stringify(p.mentions),
      JSON.stringify(p.context),
    );
    for (const a of p.agents) {
      const am = await addMessage("agent_message");
      await db.run(
        `INSERT INTO agent_messages (message_id, agent_configuration_id, agent_s_id, agent_version,
           status, parent_message_id, skip_tools_validation, grant_id)
           VALUES (?, ?, ?, ?, 'created', ?, ?, ?)`,
        am.id,
        a.id,
        a.sId,
        a.version,
        um.id,
        p.skipToolsValidation ? 1 : 0,
        launchingGrantId(actor),
      );
      // The run is this instance's (it announces the message to its runner below).
      const at = Date.now();
      await insertAgentRun(db, {
        messageId: am.id,
        instanceId: deps.instanceId,
        at,
        leaseUntil: at + deps.config.workLeaseSeconds * 1000,
      });
      agentMessages.push({ sId: am.sId, agentSId: a.sId });
    }
  }
  await touchConversation(deps, actor, c, t);
  return {
    fragmentSIds,
    userMessageSId,
    agentMessages,
    events: await insertPostEvents(deps, actor, c, userMessageSId, agentMessages, t),
  };
}

async function touchConversation(
  deps: Deps,
  actor: Actor,
  c: ConversationRow,
  t: number,
): Promise<void> {
  await deps.db.run("UPDATE conversations SET updated_at = ? WHERE id = ?", t, c.id);
  if (actor.kind !== "user") return;
  await deps.db.run(
    `INSERT INTO conversation_participants (conversation_id, user_id, action, last_read_at, created_at, updated_at)
     VALUES (?, ?, 'posted', ?, ?, ?)
     ON CONFLICT (conversation_id, user_id) DO UPDATE SET action = 'posted',
       last_read_at = excluded.last_read_at, updated_at = excluded.updated_at`,
    c.id,
    actor.user.id,
    t,
    t,
    t,
  );
}

async function insertPostEvents(
  deps: Deps,
  actor: Actor,
  c: ConversationRow,
  userMessageSId: string | null,
  agents: { sId: string; agentSId: string }[],
  t: number,
) {
  if (!userMessageSId) return [];
  const records = await loadMessagesBySId(deps, actor.workspace.sId, c.id, [
    userMessageSId,
    ...agents.map((a) => a.sId),
  ]);
  const stream = conversationStream(c.sId);
  return await insertEvents(
    deps.db,
    records.map((r) => ({
      stream,
      data: r.type === "user_message"
        ? {
          type: "user_message_new",
          created: t,
          messageId: r.sId,
          message: { ...r.json, rank: r.rank },
        }
        : {
          type: "agent_message_new",
          created: t,
          configurationId: r.json.configuration.sId,
          messageId: r.sId,
          message: { ...r.json, rank: r.rank },
        },
    })),
  );
}

/** The JSON a post returns. */
export interface PostResult {
  userMessage: Record<string, unknown> | null;
  agentMessages: Record<string, unknown>[];
  contentFragments: Record<string, unknown>[];
}

/** Publish a committed post, announce its agent messages, optionally wait, then render it. */
export async function finishPost(
  deps: Deps,
  actor: Actor,
  c: ConversationRow,
  ins: InsertedPost | null,
  blocking: boolean,
): Promise<PostResult> {
  if (!ins) return { userMessage: null, agentMessages: [], contentFragments: [] };
  publishEvents(deps, ins.events);
  for (const a of ins.agentMessages) {
    const payload: AgentMessageCreated = {
      workspaceId: c.workspaceId,
      workspaceSId: actor.workspace.sId,
      conversationSId: c.sId,
      messageSId: a.sId,
      agentSId: a.agentSId,
      userId: actor.kind === "user" ? actor.user.id : null,
      grantId: launchingGrantId(actor),
    };
    // To this instance's runner only: the run's lease is already this instance's.
    deps.events.publishLocal(AGENT_MESSAGE_CREATED_CHANNEL, payload);
  }
  if (blocking) await waitForAgentMessages(deps, ins.agentMessages.map((a) => a.sId));
  const sIds = [
    ...ins.fragmentSIds,
    ...(ins.userMessageSId ? [ins.userMessageSId] : []),
    ...ins.agentMessages.map((a) => a.sId),
  ];
  const records = await loadMessagesBySId(deps, actor.workspace.sId, c.id, sIds);
  return {
    userMessage: records.find((r) => r.type === "user_message")?.json ?? null,
    agentMessages: records.filter((r) => r.type === "agent_message").map((r) => r.json),
    contentFragments: records.filter((r) => r.type === "content_fragment").map((r) => r.json),
  };
}

/** Post into an existing conversation (REST `POST .../messages` and `.../content_fragments`). */
export async function postToConversation(
  deps: Deps,
  actor: Actor,
  input: { conversationId: string; post: PostInput; blocking?: boolean },
): Promise<PostResult> {
  requireScope(actor, "write");
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const prepared = await preparePost(deps, actor, input.post);
  let ins: InsertedPost;
  try {
    ins = await deps.db.tx(async () => await insertPost(deps, actor, c, prepared));
  } catch (e) {
    await discardPrepared(deps, prepared);
    throw e;
  }
  return await finishPost(deps, actor, c, ins, input.blocking ?? false);
}

/**
 * The mentions for an MCP tool's `agentName`: default "Dust", null = no agent; an unknown
 * name is `No agent found matching name: "<name>"`.
 */
export async function mentionsForAgentName(
  deps: Deps,
  actor: Actor,
  agentName: string | null | undefined,
): Promise<MentionInput[]> {
  const name = agentName === undefined ? "Dust" : agentName;
  if (name === null) return [];
  return [{ configurationId: (await findAgentByName(deps, actor, { name })).sId }];
}

/**
 * MCP `create_conversation_message`: post `message` mentioning `agentName` (default "Dust").
 * `clientSideMCPServerIds` (the caller's local MCP servers) go into the message context and
 * through {@link preparePost}'s check, exactly as in a REST post.
 */
export async function createConversationMessage(
  deps: Deps,
  actor: Actor,
  input: {
    conversationId: string;
    message: string;
    agentName?: string | null;
    clientSideMCPServerIds?: string[];
  },
) {
  const c = await requireReadableConversation(deps, actor, input.conversationId);
  const r = await postToConversation(deps, actor, {
    conversationId: c.sId,
    post: {
      content: input.message,
      mentions: await mentionsForAgentName(deps, actor, input.agentName),
      context: defaultMessageContext(actor, input.clientSideMCPServerIds),
      contentFragments: [],
    },
  });
  return {
    conversationId: c.sId,
    conversationUrl: conversationUrl(deps, actor.workspace.sId, c.sId),
    userMessageId: (r.userMessage?.sId ?? null) as string | null,
    agentMessageIds: r.agentMessages.map((m) => m.sId as string),
  };
}
