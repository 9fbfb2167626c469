/**
 * `completion/complete`: values for resource-template variables (workspace, data source view,
 * document, conversation, Pod, file path) and prompt arguments (agent names, conversation and
 * Pod ids), drawn from the core reads that list what the caller may see, matched against what
 * was typed, and bounded: at most {@link COMPLETION_MAX} values, from at most a few pages of
 * each source. Anything the caller cannot read, or an endpoint does not serve, completes to
 * nothing.
 * @module
 */
import type { CompleteResult } from "@modelcontextprotocol/server";
import { ProtocolError, ProtocolErrorCode } from "@modelcontextprotocol/server";
import type { UserActor } from "../auth/actor.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { fuzzyRank, searchAgentConfigurations } from "../core/agents.ts";
import { listConversations } from "../core/conversations.ts";
import { listSearchableDataSources } from "../core/data_sources.ts";
import { listReadableDocuments } from "../core/documents.ts";
import { filesList } from "../core/file_system.ts";
import type { FileScope } from "../core/file_types.ts";
import { listPods } from "../core/pods.ts";
import { servesToolset, type Toolset } from "./endpoint.ts";
import type { McpCaller } from "./tool_kit.ts";
import { URI_TEMPLATES } from "./resource_uris.ts";
import { staticPrompt } from "./prompts.ts";

/** The spec's cap on the values of one completion. */
export const COMPLETION_MAX = 100;
/** Conversation pages (of 25) read at most to complete a conversation id. */
const CONVERSATION_PAGES_MAX = 4;

type Context = Record<string, string> | undefined;
type Completer = (
  deps: Deps,
  actor: UserActor,
  value: string,
  ctx: Context,
) => Promise<string[]> | string[];

const startsWithCi = (s: string, v: string) => s.toLowerCase().startsWith(v.toLowerCase());

const workspaceIds: Completer = (_deps, actor, v) =>
  startsWithCi(actor.workspace.sId, v) ? [actor.workspace.sId] : [];

const dataSourceViewIds: Completer = async (deps, actor, v) =>
  (await listSearchableDataSources(deps, actor)).filter((d) =>
    startsWithCi(d.viewSId, v) || d.name.toLowerCase().includes(v.toLowerCase())
  ).map((d) => d.viewSId);

const documentIds: Completer = async (deps, actor, v, ctx) => {
  const view = ctx?.dataSourceViewId;
  return (await listReadableDocuments(deps, actor, {
    limit: COMPLETION_MAX,
    prefix: v,
    ...(view ? { dataSourceViewId: view } : {}),
  })).documents.map((d) => d.documentId);
};

/** The user's conversations (latest pages) whose id starts with, or title holds, `v`. */
const conversationIds: Completer = async (deps, actor, v) => {
  const out: string[] = [];
  let lastValue: string | undefined;
  for (let i = 0; i < CONVERSATION_PAGES_MAX; i++) {
    const page = await listConversations(deps, actor, lastValue ? { lastValue } : {});
    for (const c of page.conversations) {
      if (startsWithCi(c.sId, v) || (c.title ?? "").toLowerCase().includes(v.toLowerCase())) {
        out.push(c.sId);
      }
    }
    if (!page.hasMore || page.lastValue === null) break;
    lastValue = page.lastValue;
  }
  return out;
};

const podIds: Completer = async (deps, actor, v) =>
  (await listPods(deps, actor)).pods.filter((p) =>
    startsWithCi(p.id, v) || p.name.toLowerCase().includes(v.toLowerCase())
  ).map((p) => p.id);

/** Paths (relative to the scope) of the files of the scope named in the context. */
function pathsIn(scopeOf: (ctx: Context) => FileScope | null): Completer {
  return async (deps, actor, v, ctx) => {
    const scope = scopeOf(ctx);
    if (!scope) return [];
    return (await filesList(deps, actor, { scope })).files
      .map((f) => f.path.slice(f.path.indexOf("/") + 1))
      .filter((p) => p.startsWith(v));
  };
}

const agentNames: Completer = async (deps, actor, v) =>
  (await searchAgentConfigurations(deps, actor, { q: v })).map((a) => a.name)
    .filter((n) => fuzzyRank(n, v) !== null);

/** Completers per resource template and variable, with the toolset serving the template. */
const TEMPLATE_COMPLETERS: Record<string, { toolset: Toolset; vars: Record<string, Completer> }> = {
  [URI_TEMPLATES.document]: {
    toolset: "search",
    vars: {
      workspaceId: workspaceIds,
      dataSourceViewId: dataSourceViewIds,
      documentId: documentIds,
    },
  },
  [URI_TEMPLATES.conversationFile]: {
    toolset: "files",
    vars: {
      workspaceId: workspaceIds,
      conversationId: conversationIds,
      path: pathsIn((c) =>
        c?.conversationId ? { type: "conversation", conversation_id: c.conversationId } : null
      ),
    },
  },
  [URI_TEMPLATES.podFile]: {
    toolset: "files",
    vars: {
      workspaceId: workspaceIds,
      podId: podIds,
      path: pathsIn((c) => (c?.podId ? { type: "pod", pod_id: c.podId } : null)),
    },
  },
  [URI_TEMPLATES.conversation]: {
    toolset: "conversations",
    vars: { workspaceId: workspaceIds, conversationId: conversationIds },
  },
};

/** Completers of prompt arguments, by prompt name. */
const PROMPT_COMPLETERS: Record<string, Record<string, Completer>> = {
  ask_agent: { agent: agentNames },
  summarize_conversation: { conversationId: conversationIds },
  plan_pod_tasks: { podId: podIds },
};

export interface CompleteParams {
  ref: { type: string; name?: string; uri?: string };
  argument: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
}

function pick(caller: McpCaller, ref: CompleteParams["ref"], arg: string): Completer | null {
  const e = caller.endpoint;
  if (ref.type === "ref/resource") {
    const t = TEMPLATE_COMPLETERS[ref.uri ?? ""];
    if (!t) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Resource template ${ref.uri} not found`,
      );
    }
    return servesToolset(e, t.toolset) ? t.vars[arg] ?? null : null;
  }
  if (ref.type === "ref/prompt") {
    const p = staticPrompt(ref.name ?? "");
    if (!p && !(ref.name ?? "").startsWith("ask_")) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Prompt ${ref.name} not found`);
    }
    const served = p
      ? p.toolsets.every((t) => servesToolset(e, t)) && !(e.readOnly && p.write)
      : servesToolset(e, "conversations") && !e.readOnly;
    return served ? PROMPT_COMPLETERS[ref.name ?? ""]?.[arg] ?? null : null;
  }
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid completion reference`);
}

/** `completion/complete` for `caller`. */
export async function complete(
  deps: Deps,
  caller: McpCaller,
  params: CompleteParams,
): Promise<CompleteResult> {
  const completer = pick(caller, params.ref, params.argument.name);
  let values: string[] = [];
  if (completer) {
    try {
      const value = params.argument.value.slice(0, 512);
      values = await completer(deps, caller.actor, value, params.context?.arguments);
    } catch (e) {
      // A context naming something unreadable (a Pod, a conversation) completes to nothing.
      if (!(e instanceof AppError)) throw e;
    }
  }
  const unique = [...new Set(values)];
  return {
    completion: {
      values: unique.slice(0, COMPLETION_MAX),
      total: unique.length,
      hasMore: unique.length > COMPLETION_MAX,
    },
  };
}
