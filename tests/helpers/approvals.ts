/**
 * Helpers for tool-approval tests: post a message through `@dust-tt/client` naming a local MCP
 * server, and read the agent message's event stream step by step (bounded waits).
 *
 * ```ts
 * const posted = await postWithLocalTools(api, local.serverId, "What is in the vault?");
 * const ask = await posted.events.until("tool_approve_execution");
 * await api.validateAction({ conversationId, messageId, actionId: ask.actionId, approved: "approved" });
 * const done = await posted.events.until("agent_message_success");
 * ```
 */
import type { DustAPI } from "@dust-tt/client";

// deno-lint-ignore no-explicit-any
export type AgentEvent = { type: string; [k: string]: any };

/** An agent message's event stream read event by event, each wait bounded. */
export class EventReader implements AsyncDisposable {
  readonly seen: AgentEvent[] = [];
  constructor(private readonly it: AsyncGenerator<AgentEvent>) {}

  /** Read until an event of `type` (returned); throws after `ms` or at the stream's end. */
  async until(type: string, ms = 15_000): Promise<AgentEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} event within ${ms} ms (saw ${this.types()})`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left)));
      const next = await Promise.race([this.it.next(), timeout]);
      clearTimeout(timer);
      if (next === "timeout") {
        throw new Error(`no ${type} event within ${ms} ms (saw ${this.types()})`);
      }
      if (next.done) throw new Error(`stream ended before ${type} (saw ${this.types()})`);
      this.seen.push(next.value);
      if (next.value.type === type) return next.value;
    }
  }

  /** The types seen so far, without token deltas. */
  types(): string[] {
    return this.seen.map((e) => e.type).filter((t) => t !== "generation_tokens");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.it.return(undefined);
  }
}

export interface Posted {
  conversationId: string;
  userMessageId: string;
  agentMessageId: string;
  events: EventReader;
}

/** Create a conversation whose first message mentions `dust`, then follow its agent message. */
export async function postAndFollow(
  api: DustAPI,
  content: string,
  options: { clientSideMCPServerIds?: string[]; skipToolsValidation?: boolean } = {},
): Promise<Posted> {
  const created = await api.createConversation({
    title: null,
    visibility: "unlisted",
    message: {
      content,
      mentions: [{ configurationId: "dust" }],
      context: {
        username: "alice",
        timezone: "UTC",
        clientSideMCPServerIds: options.clientSideMCPServerIds ?? [],
      },
    },
    ...(options.skipToolsValidation ? { skipToolsValidation: true } : {}),
  });
  if (created.isErr()) throw new Error(`createConversation: ${JSON.stringify(created.error)}`);
  const { conversation, message } = created.value;
  return await follow(api, conversation, message!.sId);
}

/** Post in an existing conversation and follow the agent message. */
export async function postAgainAndFollow(
  api: DustAPI,
  conversationId: string,
  content: string,
  clientSideMCPServerIds: string[] = [],
): Promise<Posted> {
  const posted = await api.postUserMessage({
    conversationId,
    message: {
      content,
      mentions: [{ configurationId: "dust" }],
      context: { username: "alice", timezone: "UTC", clientSideMCPServerIds },
    },
  });
  if (posted.isErr()) throw new Error(`postUserMessage: ${JSON.stringify(posted.error)}`);
  const conv = await api.getConversation({ conversationId });
  if (conv.isErr()) throw new Error(`getConversation: ${JSON.stringify(conv.error)}`);
  return await follow(api, conv.value, posted.value.sId);
}

async function follow(
  api: DustAPI,
  conversation: Parameters<DustAPI["streamAgentAnswerEvents"]>[0]["conversation"],
  userMessageId: string,
): Promise<Posted> {
  const stream = await api.streamAgentAnswerEvents({ conversation, userMessageId });
  if (stream.isErr()) throw new Error(`streamAgentAnswerEvents: ${JSON.stringify(stream.error)}`);
  const agent = conversation.content.flat().find((m) =>
    m.type === "agent_message" && m.parentMessageId === userMessageId
  );
  return {
    conversationId: conversation.sId,
    userMessageId,
    agentMessageId: agent?.sId ?? "",
    events: new EventReader(stream.value.eventStream as AsyncGenerator<AgentEvent>),
  };
}
