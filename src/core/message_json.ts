/**
 * Dust's public JSON for message versions (`@dust-tt/client` 1.2.8 schemas, notes/dust-sdk.md
 * §3): user messages with their user, agent messages with their light agent configuration and
 * actions, file content fragments. Input rows come from `conversation_views.ts`'s query.
 * @module
 */
import type { Deps } from "../deps.ts";
import { type AgentRow, findAgentBySId, toLightAgentConfiguration } from "./agents.ts";

// deno-lint-ignore no-explicit-any
export type Json = Record<string, any>;

/** Dust's User JSON. */
export function userJson(r: Json) {
  return {
    sId: r.u_s_id,
    id: r.u_id,
    createdAt: r.u_created_at,
    provider: null,
    username: r.username,
    email: r.email,
    firstName: r.first_name,
    lastName: r.last_name,
    fullName: [r.first_name, r.last_name].filter(Boolean).join(" "),
    image: r.image_url,
  };
}

export function userMessageJson(r: Json): Json {
  return {
    id: r.id,
    created: r.created_at,
    type: "user_message",
    sId: r.s_id,
    visibility: r.visibility,
    version: r.version,
    user: r.u_id ? userJson(r) : null,
    mentions: JSON.parse(r.mentions),
    content: r.u_content,
    context: JSON.parse(r.context),
  };
}

export function agentMessageJson(r: Json, configuration: Json, actions: Json[]): Json {
  return {
    id: r.id,
    agentMessageId: r.id,
    created: r.created_at,
    type: "agent_message",
    sId: r.s_id,
    visibility: r.visibility,
    version: r.version,
    parentMessageId: r.parent_s_id ?? null,
    parentAgentMessageId: null,
    configuration,
    status: r.status,
    actions,
    content: r.a_content,
    chainOfThought: r.chain_of_thought,
    // Per-step raw model outputs are not stored; the final content is in `content`.
    rawContents: [],
    error: r.error_code
      ? {
        code: r.error_code,
        message: r.error_message ?? "",
        metadata: r.error_metadata ? JSON.parse(r.error_metadata) : null,
      }
      : null,
  };
}

export function contentFragmentJson(deps: Deps, workspaceSId: string, r: Json): Json {
  const fileGone = !r.file_s_id;
  return {
    type: "content_fragment",
    id: r.id,
    sId: r.s_id,
    created: r.created_at,
    visibility: r.visibility,
    version: r.version,
    sourceUrl: r.source_url ?? null,
    title: r.cf_title,
    contentType: r.cf_content_type,
    context: JSON.parse(r.cf_context ?? "{}"),
    contentFragmentId: r.s_id,
    contentFragmentVersion: "latest",
    contentFragmentType: "file",
    expiredReason: fileGone ? "file_deleted" : null,
    fileId: fileGone ? null : r.file_s_id,
    snippet: null,
    generatedTables: [],
    textUrl: fileGone
      ? null
      : `${deps.config.publicUrl}/api/v1/w/${workspaceSId}/files/${r.file_s_id}?action=view`,
    textBytes: fileGone ? null : r.text_bytes,
    sourceProvider: null,
    sourceIcon: null,
  };
}

export async function loadActions(
  deps: Deps,
  agentMessageIds: number[],
): Promise<Map<number, Json[]>> {
  const out = new Map<number, Json[]>();
  if (agentMessageIds.length === 0) return out;
  const rows = await deps.db.all(
    `SELECT id, s_id, agent_message_id, step, function_call_name, function_call_id, mcp_server_id,
       params, output, status, created_at, updated_at
     FROM agent_actions WHERE agent_message_id IN (SELECT value FROM json_each(?))
     ORDER BY agent_message_id, step, id`,
    JSON.stringify(agentMessageIds),
  ) as Json[];
  for (const r of rows) {
    const list = out.get(r.agent_message_id) ?? [];
    list.push(agentActionJson(r));
    out.set(r.agent_message_id, list);
  }
  return out;
}

/** Dust's AgentAction JSON from an `agent_actions` row. */
export function agentActionJson(r: Json): Json {
  const name: string = r.function_call_name;
  return {
    id: r.id,
    sId: r.s_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    mcpServerId: r.mcp_server_id ?? null,
    internalMCPServerName: null,
    // Function names are `<server>__<tool>` when the tool came from an MCP server.
    toolName: name.includes("__") ? name.slice(name.lastIndexOf("__") + 2) : name,
    agentMessageId: r.agent_message_id,
    functionCallName: name,
    functionCallId: r.function_call_id,
    status: r.status,
    params: JSON.parse(r.params),
    step: r.step,
    executionDurationMs: r.status === "running" ? null : r.updated_at - r.created_at,
    citationsAllocated: 0,
    output: r.output ? JSON.parse(r.output) : null,
    generatedFiles: [],
    displayLabels: null,
  };
}

/** Light configurations of the agents of these messages, by agent sId. */
export async function loadAgentConfigs(
  deps: Deps,
  workspaceId: number,
  sIds: string[],
): Promise<Map<string, Json>> {
  const out = new Map<string, Json>();
  for (const sId of new Set(sIds)) {
    const a = await findAgentBySId(deps.db, workspaceId, sId);
    out.set(sId, toLightAgentConfiguration(a ?? missingAgent(sId)));
  }
  return out;
}

/** What an agent message shows when its agent was deleted since. */
function missingAgent(sId: string): AgentRow {
  return {
    id: 0,
    sId,
    version: 0,
    name: sId,
    description: "",
    instructions: null,
    pictureUrl: "",
    providerId: "noop",
    modelId: "noop",
    temperature: 0,
    scope: "hidden",
    status: "archived",
    maxStepsPerRun: 0,
    tools: [],
    spaceIds: [],
    authorUserId: null,
    createdAt: 0,
    updatedAt: 0,
  };
}
