/**
 * Conversation tools (dust.md §1.3): `list_conversations`, `create_conversation`,
 * `create_conversation_message`, `get_conversation_messages` (messages rendered as text the
 * way Dust renders them) and `mark_conversation_read`. Each calls one conversations-core
 * function, the same the REST API uses. Posting a message that mentions an agent may run as a
 * task (`task: true`, see tasks.ts): the task's result is the tool's payload plus `answer`.
 * @module
 */
import * as z from "zod";
import {
  createConversation,
  listConversations,
  markConversationRead,
} from "../../core/conversations.ts";
import { getConversationMessages } from "../../core/conversation_text.ts";
import { createConversationMessage } from "../../core/messages.ts";
import { defineTool, type ResourceLink, type ToolContext, type ToolDef } from "../tool_kit.ts";
import { conversationUri } from "../resource_uris.ts";

const id = (what: string) => z.string().min(1).max(128).describe(what);
const agentName = z.string().max(256).nullable().optional().describe(
  'Name of the agent to mention (default "Dust"); null posts without mentioning any agent',
);

/** Dust's REST message-context field, for the user's local MCP servers (relay registrations). */
const clientSideMCPServerIds = z.array(z.string().min(1).max(256)).max(10).optional().describe(
  "Server ids of the user's own local MCP servers (from registering with Dust's client-side MCP relay, e.g. the SDK's DustMcpServerTransport) whose tools the mentioned agent may use; at most 10. Omit for none",
);

/** An agent's answer, as a task's result carries it (absent from immediate results). */
export const AgentAnswer = z.object({
  messageId: z.string().describe("The agent message id"),
  agentName: z.string(),
  status: z.enum(["created", "succeeded", "failed", "cancelled"]),
  content: z.string().nullable().describe("The answer text (null until it is written)"),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
}).describe("The agent's answer: only in the result of a task");

const CreateConversationOutput = z.object({
  conversationId: z.string(),
  title: z.string().nullable(),
  podId: z.string().nullable(),
  podName: z.string().nullable(),
  conversationUrl: z.string(),
  userMessageId: z.string().nullable(),
  agentMessageIds: z.array(z.string()),
  answer: AgentAnswer.optional(),
});

const CreateMessageOutput = z.object({
  conversationId: z.string(),
  conversationUrl: z.string(),
  userMessageId: z.string().nullable(),
  agentMessageIds: z.array(z.string()),
  answer: AgentAnswer.optional(),
});

const ListConversationsOutput = z.object({
  conversations: z.array(z.looseObject({
    sId: z.string(),
    title: z.string().nullable(),
    created: z.number(),
    updated: z.number(),
    unread: z.boolean(),
    spaceId: z.string().nullable(),
  })),
  hasMore: z.boolean(),
  lastValue: z.string().nullable(),
});

const MessagesOutput = z.object({
  conversationId: z.string(),
  title: z.string().nullable(),
  messages: z.string().describe("The page of messages as text, oldest first"),
  hasMore: z.boolean(),
  lastValue: z.number().int().nullable().describe("Cursor for older messages, when hasMore"),
});

function conversationLink(
  ctx: ToolContext,
  c: { conversationId: string; title?: string | null },
): ResourceLink {
  return {
    type: "resource_link",
    uri: conversationUri(ctx.actor.workspace.sId, c.conversationId),
    name: c.conversationId,
    ...(c.title ? { title: c.title } : {}),
    mimeType: "text/plain",
  };
}

/** The conversations tool group. */
export const CONVERSATION_TOOLS: ToolDef[] = [
  defineTool({
    name: "list_conversations",
    title: "List conversations",
    toolset: "conversations",
    description:
      "List the user's private conversations, or the conversations of a Pod when podId is given, 25 per page ordered by last update. Pass the returned lastValue to get the next page.",
    input: z.object({
      podId: id("List the conversations of this Pod").optional(),
      lastValue: z.string().max(32).optional().describe("Cursor from the previous page"),
      orderDirection: z.enum(["asc", "desc"]).optional().describe(
        "Order by last update (default desc)",
      ),
    }),
    output: ListConversationsOutput,
    write: false,
    run: async ({ deps, actor }, args) => await listConversations(deps, actor, args),
    links: (r, _args, ctx) =>
      r.conversations.map((c) => conversationLink(ctx, { conversationId: c.sId, title: c.title })),
  }),
  defineTool({
    name: "create_conversation",
    title: "Create conversation",
    toolset: "conversations",
    description:
      "Create a conversation (at workspace level, or in a Pod the user is a member of), optionally posting a first message to an agent. The agent answers asynchronously: poll get_conversation_messages (or run the call as a task). To let the agent use the user's local MCP servers, pass their ids in clientSideMCPServerIds (requires message).",
    input: z.object({
      title: z.string().min(1).max(512).describe("Conversation title"),
      podId: id("Create the conversation in this Pod").optional(),
      message: z.string().min(1).max(100_000).optional().describe("First user message"),
      agentName,
      clientSideMCPServerIds,
    }),
    output: CreateConversationOutput,
    write: true,
    task: true,
    run: ({ deps, actor }, args) => createConversation(deps, actor, args),
    links: (r, _args, ctx) => [conversationLink(ctx, r)],
  }),
  defineTool({
    name: "create_conversation_message",
    title: "Post message",
    toolset: "conversations",
    description:
      "Post a user message in a conversation, mentioning an agent (default Dust). The agent answers asynchronously: poll get_conversation_messages (or run the call as a task). To let the agent use the user's local MCP servers, pass their ids in clientSideMCPServerIds.",
    input: z.object({
      conversationId: id("The conversation id"),
      message: z.string().min(1).max(100_000).describe("The message text"),
      agentName,
      clientSideMCPServerIds,
    }),
    output: CreateMessageOutput,
    write: true,
    task: true,
    run: ({ deps, actor }, args) => createConversationMessage(deps, actor, args),
    links: (r, _args, ctx) => [conversationLink(ctx, r)],
  }),
  defineTool({
    name: "get_conversation_messages",
    title: "Read conversation",
    toolset: "conversations",
    description:
      "Read a conversation's messages as plain text (25 messages per page, most recent page first; pass lastValue to read older messages). An agent message still being written, failed or cancelled says so.",
    input: z.object({
      conversationId: id("The conversation id"),
      lastValue: z.number().int().min(0).optional().describe(
        "Cursor: the lastValue of the previous page (a message rank)",
      ),
    }),
    output: MessagesOutput,
    write: false,
    run: async ({ deps, actor }, args) => await getConversationMessages(deps, actor, args),
    links: (r, _args, ctx) => [conversationLink(ctx, r)],
  }),
  defineTool({
    name: "mark_conversation_read",
    title: "Mark conversation read",
    toolset: "conversations",
    description: "Mark a conversation as read (or unread) for the current user only.",
    input: z.object({
      conversationId: id("The conversation id"),
      read: z.boolean().describe("true to mark read, false to mark unread"),
    }),
    output: z.object({
      success: z.literal(true),
      conversationId: z.string(),
      read: z.boolean(),
    }),
    write: true,
    run: async ({ deps, actor }, args) => await markConversationRead(deps, actor, args),
  }),
];
