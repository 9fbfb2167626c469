/**
 * MCP prompts: ready-made requests a user picks in their client (slash commands in most).
 *
 * - `ask_<agentId>` ("Ask @Name"), one per agent the user can use, and `ask_agent` with the
 *   agent as an argument: the question goes to the agent through `create_conversation`;
 * - `search_and_answer`: search the company data and answer with citations;
 * - `summarize_conversation`: the conversation's transcript, embedded, to summarise;
 * - `plan_pod_tasks`: the Pod's description and tasks, embedded, to plan the next ones.
 *
 * Listing and fetching go through the core (the agents the user can use, conversations and
 * Pods they read), so a prompt never shows what its user may not see. A narrowed endpoint
 * serves the prompts of its toolsets, and a read-only one none that would post a message.
 * `prompts/get` is budgeted and audited like a tool call (tool name `prompts/get`).
 * @module
 */
import * as z from "zod";
import type {
  GetPromptResult,
  ListPromptsResult,
  Prompt,
  PromptMessage,
} from "@modelcontextprotocol/server";
import { ProtocolError, ProtocolErrorCode } from "@modelcontextprotocol/server";
import type { UserActor } from "../auth/actor.ts";
import type { Deps } from "../deps.ts";
import { type AgentRow, getAgentConfiguration, listAgentConfigurations } from "../core/agents.ts";
import { getConversationTranscript } from "../core/conversation_text.ts";
import { getPod } from "../core/pods.ts";
import { getPodTasks } from "../core/tasks.ts";
import { type Endpoint, servesToolset, type Toolset } from "./endpoint.ts";
import { auditedRequest, type McpCaller, type ToolRuntime } from "./tool_kit.ts";
import { conversationUri } from "./resource_uris.ts";

/** Prompts per `prompts/list` page. */
export const PROMPTS_PER_PAGE = 50;
const AGENT_PREFIX = "ask_";

const question = z.string().min(1).max(100_000).describe("What to ask");

/** A prompt that is not per agent: its arguments and how it renders. */
interface StaticPrompt {
  name: string;
  title: string;
  description: string;
  /** The toolsets the prompt's instructions use: all must be served. */
  toolsets: Toolset[];
  /** True when following the prompt posts a message (not on read-only endpoints). */
  write: boolean;
  // deno-lint-ignore no-explicit-any
  args: z.ZodObject<any>;
  render(
    deps: Deps,
    actor: UserActor,
    args: Record<string, string>,
  ): Promise<PromptMessage[]> | PromptMessage[];
}

const user = (text: string): PromptMessage => ({ role: "user", content: { type: "text", text } });

function askText(agent: Pick<AgentRow, "name" | "description">, q: string): string {
  return `Ask the Dust agent @${agent.name}${
    agent.description ? ` (${agent.description})` : ""
  } the question below. Call the \`create_conversation\` tool with a short title, \`message\` set to the question and \`agentName\` set to ${
    JSON.stringify(agent.name)
  }; the agent answers asynchronously, so read its answer with \`get_conversation_messages\` on the returned conversationId (or run the call as a task when your client supports tasks). Report the agent's answer faithfully, with any sources it cites.\n\nQuestion:\n${q}`;
}

const STATIC_PROMPTS: StaticPrompt[] = [
  {
    name: "ask_agent",
    title: "Ask an agent",
    description: "Ask any agent of the workspace a question (the agent is an argument).",
    toolsets: ["conversations"],
    write: true,
    args: z.object({
      agent: z.string().min(1).max(256).describe("The agent's name (e.g. Dust)"),
      question,
    }),
    render: (_deps, _actor, a) => [user(askText({ name: a.agent, description: "" }, a.question))],
  },
  {
    name: "search_and_answer",
    title: "Search and answer with citations",
    description: "Answer a question from the workspace's company data, citing the documents used.",
    toolsets: ["search"],
    write: false,
    args: z.object({ question }),
    render: (_deps, _actor, a) => [
      user(
        `Answer the question below from the company data of this Dust workspace. Call the \`search\` tool with a focused query (and again with other wordings if the first results miss), then \`fetch\` the most relevant results for their full text. Answer only from what you read; cite every claim with the result's \`ref\` in brackets, like [${"a1b"}], and end with a "Sources" list giving each cited document's title and url. If the documents do not answer the question, say so.\n\nQuestion:\n${a.question}`,
      ),
    ],
  },
  {
    name: "summarize_conversation",
    title: "Summarize a conversation",
    description: "Summarize a conversation: decisions, open questions and next steps.",
    toolsets: ["conversations"],
    write: false,
    args: z.object({
      conversationId: z.string().min(1).max(128).describe("The conversation id"),
    }),
    render: async (deps, actor, a) => {
      const t = await getConversationTranscript(deps, actor, { conversationId: a.conversationId });
      return [
        user(
          `Summarize the conversation "${
            t.title ?? "Untitled"
          }" below in a few short paragraphs: what was asked, what was decided, what is still open, and the next steps with their owners when named. Quote agent answers only where the wording matters.`,
        ),
        {
          role: "user",
          content: {
            type: "resource",
            resource: {
              uri: conversationUri(actor.workspace.sId, t.conversationId),
              mimeType: "text/plain",
              text: t.text,
            },
          },
        },
      ];
    },
  },
  {
    name: "plan_pod_tasks",
    title: "Plan a Pod's tasks",
    description: "Review a Pod's open and recent tasks and propose the next ones.",
    toolsets: ["pods"],
    write: false,
    args: z.object({
      podId: z.string().min(1).max(128).describe("The Pod id"),
      goal: z.string().max(2000).optional().describe("What the Pod should achieve next"),
    }),
    render: async (deps, actor, a) => {
      const { pod } = await getPod(deps, actor, { podId: a.podId });
      const tasks = await getPodTasks(deps, actor, { podId: a.podId, statusFilter: "all" });
      const lines = tasks.tasks.map((t) => `- [${t.status}] ${t.text}`).join("\n") ||
        "(no tasks yet)";
      return [
        user(
          `Plan the next tasks of the Pod "${pod.name}"${
            a.goal ? ` towards this goal: ${a.goal}` : ""
          }. Read its description and its open and recently done tasks below; point out tasks that are stale, duplicated or blocked, and propose at most ten new tasks, each one actionable, with a one-line rationale. Use \`get_pod\`, \`get_pod_tasks\` and the Pod's files (\`files_list\` with {"type":"pod","pod_id":"${pod.id}"}) if you need more context.\n\nDescription:\n${
            pod.description || "(none)"
          }\n\nTasks (${tasks.count}):\n${lines}`,
        ),
      ];
    },
  },
];

function servesPrompt(e: Endpoint, p: { toolsets: Toolset[]; write: boolean }): boolean {
  return p.toolsets.every((t) => servesToolset(e, t)) && !(e.readOnly && p.write);
}

/** The arguments of a prompt as `prompts/list` describes them. */
// deno-lint-ignore no-explicit-any
function argumentsOf(schema: z.ZodObject<any>): Prompt["arguments"] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const f = field as z.ZodType;
    return {
      name,
      description: f.description ?? "",
      required: !f.safeParse(undefined).success,
    };
  });
}

const AGENT_PROMPT_ARGS = z.object({ question });

function agentPrompt(a: AgentRow): Prompt {
  return {
    name: `${AGENT_PREFIX}${a.sId}`,
    title: `Ask @${a.name}`,
    description: a.description ? `Ask @${a.name}: ${a.description}` : `Ask the agent @${a.name}.`,
    arguments: argumentsOf(AGENT_PROMPT_ARGS),
  };
}

/** Every prompt `caller` may use on its endpoint, in order (static ones first). */
async function promptsFor(deps: Deps, caller: McpCaller): Promise<Prompt[]> {
  const e = caller.endpoint;
  const statics = STATIC_PROMPTS.filter((p) => servesPrompt(e, p)).map((p) => ({
    name: p.name,
    title: p.title,
    description: p.description,
    arguments: argumentsOf(p.args),
  }));
  const agents = servesPrompt(e, { toolsets: ["conversations"], write: true })
    ? (await listAgentConfigurations(deps, caller.actor, { view: "list" })).map(agentPrompt)
    : [];
  return [...statics, ...agents];
}

/** `prompts/list` for `caller`: pages of {@link PROMPTS_PER_PAGE}; the cursor is an offset. */
export async function listPrompts(
  rt: ToolRuntime,
  caller: McpCaller,
  cursor: string | undefined,
): Promise<ListPromptsResult> {
  const start = cursor === undefined ? 0 : Number(cursor);
  if (
    !Number.isInteger(start) || start < 0 || (cursor !== undefined && !/^\d{1,6}$/.test(cursor))
  ) {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Invalid cursor");
  }
  const all = await promptsFor(rt.deps, caller);
  const page = all.slice(start, start + PROMPTS_PER_PAGE);
  const next = start + PROMPTS_PER_PAGE;
  return { prompts: page, ...(next < all.length ? { nextCursor: String(next) } : {}) };
}

function parseArgs(
  // deno-lint-ignore no-explicit-any
  schema: z.ZodObject<any>,
  name: string,
  args: Record<string, string> | undefined,
): Record<string, string> {
  const parsed = schema.safeParse(args ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `Invalid arguments for prompt ${name}: ${
        issue.path.join(".") || "arguments"
      }: ${issue.message}`,
    );
  }
  return parsed.data as Record<string, string>;
}

function notFound(name: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, `Prompt ${name} not found`);
}

async function renderPrompt(
  deps: Deps,
  caller: McpCaller,
  name: string,
  args: Record<string, string> | undefined,
): Promise<GetPromptResult> {
  const e = caller.endpoint;
  const p = STATIC_PROMPTS.find((x) => x.name === name);
  if (p) {
    if (!servesPrompt(e, p)) throw notFound(name);
    return {
      description: p.description,
      messages: await p.render(deps, caller.actor, parseArgs(p.args, name, args)),
    };
  }
  if (
    !name.startsWith(AGENT_PREFIX) || !servesPrompt(e, { toolsets: ["conversations"], write: true })
  ) {
    throw notFound(name);
  }
  const a = await getAgentConfiguration(deps, caller.actor, {
    agentId: name.slice(AGENT_PREFIX.length),
  });
  const q = parseArgs(AGENT_PROMPT_ARGS, name, args).question;
  return { description: agentPrompt(a).description, messages: [user(askText(a, q))] };
}

/** `prompts/get` for `caller`: budgeted and audited; an unknown prompt is invalid params. */
export function getPrompt(
  rt: ToolRuntime,
  caller: McpCaller,
  name: string,
  args: Record<string, string> | undefined,
): Promise<GetPromptResult> {
  return auditedRequest(
    rt,
    caller,
    { name: "prompts/get", arguments: { name, arguments: args ?? {} } },
    async () => await renderPrompt(rt.deps, caller, name, args),
    (e) => new ProtocolError(ProtocolErrorCode.InvalidParams, e.message),
  );
}

/** The static prompts' names and toolsets (completion reads them). */
export function staticPrompt(name: string): Pick<StaticPrompt, "toolsets" | "write"> | undefined {
  return STATIC_PROMPTS.find((p) => p.name === name);
}
