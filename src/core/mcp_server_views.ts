/**
 * MCP server views of a space (`GET spaces/{spaceId}/mcp_server_views`, seed 001 and dust.md
 * §3.10), and the catalog of this server's internal MCP servers — the tools agents get
 * (`search`, `files`). Every global space has a view of each internal server (migration 2:
 * backfill + trigger on new global spaces); they are `auto` like Dust's internal servers, so
 * they are listed only with `includeAuto=true`.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { requireReadableSpace } from "./access.ts";
import { fullName } from "../auth/actor.ts";
import type { Stake } from "./tool_stakes.ts";

/** A tool as listed in a view (and offered to the model by the agent loop). */
export interface CatalogTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
  /** Whether a call asks the poster first (tool_stakes.ts): reads never ask, writes do. */
  stake: Stake;
}

export interface InternalServer {
  sId: string;
  name: string;
  description: string;
  icon: string;
  tools: CatalogTool[];
}

const SCOPE_PARAM = {
  type: "string",
  enum: ["conversation", "pod"],
  description: "Whose files: this conversation's (default) or its Pod's.",
};
const PATH_PARAM = {
  type: "string",
  description: "Scoped path, e.g. conversation-<id>/notes.md or pod-<id>/plan.md",
};

function objectSchema(properties: Record<string, unknown>, required: string[] = []) {
  return { type: "object", properties, required };
}

/** The internal MCP servers, by name (the names used in an agent's `tools`). */
export const INTERNAL_MCP_SERVERS: Record<"search" | "files", InternalServer> = {
  search: {
    sId: "ims_search",
    name: "search",
    description: "Search the workspace's knowledge.",
    icon: "ActionMagnifyingGlassIcon",
    tools: [{
      name: "search",
      description: "Search the workspace's knowledge (documents of the data sources you can read).",
      stake: "never_ask",
      inputSchema: objectSchema({
        query: { type: "string", description: "What to look for." },
        relativeTimeFrame: { type: "string", description: '"all" or <k>h|d|w|m|y' },
      }, ["query"]),
    }],
  },
  files: {
    sId: "ims_files",
    name: "files",
    description: "Read and write the files of the conversation and of its Pod.",
    icon: "ActionDocumentTextIcon",
    tools: [
      {
        name: "files_list",
        description: "List the files.",
        stake: "never_ask",
        inputSchema: objectSchema({ scope: SCOPE_PARAM }),
      },
      {
        name: "files_cat",
        description: "Read a text file (numbered lines).",
        stake: "never_ask",
        inputSchema: objectSchema({
          scope: SCOPE_PARAM,
          path: PATH_PARAM,
          offset: { type: "integer" },
          limit: { type: "integer" },
        }, ["path"]),
      },
      {
        name: "files_create",
        description: "Create or overwrite a UTF-8 text file.",
        stake: "low",
        inputSchema: objectSchema({
          scope: SCOPE_PARAM,
          path: PATH_PARAM,
          content: { type: "string" },
          content_type: { type: "string", description: "MIME type, default text/plain" },
        }, ["path", "content"]),
      },
      {
        name: "files_grep",
        description: "Search a text file with a regular expression.",
        stake: "never_ask",
        inputSchema: objectSchema({
          scope: SCOPE_PARAM,
          path: PATH_PARAM,
          pattern: { type: "string" },
        }, ["path", "pattern"]),
      },
    ],
  },
};

/** The catalog entry of an internal tool by name. */
export function findInternalTool(name: string): CatalogTool | null {
  for (const s of Object.values(INTERNAL_MCP_SERVERS)) {
    const t = s.tools.find((x) => x.name === name);
    if (t) return t;
  }
  return null;
}

// deno-lint-ignore no-explicit-any
type Row = any;

function viewJson(r: Row, spaceSId: string) {
  const internal = INTERNAL_MCP_SERVERS[r.server_name as "search" | "files"];
  return {
    id: r.id,
    sId: r.s_id,
    name: r.name,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    spaceId: spaceSId,
    serverType: r.server_type,
    server: {
      sId: internal?.sId ?? r.server_name,
      name: internal?.name ?? r.server_name,
      version: "1.0.0",
      description: internal?.description ?? "",
      icon: internal?.icon ?? "ActionCubeIcon",
      authorization: null,
      tools: (internal?.tools ?? []).map((t) => ({
        name: t.name,
        description: t.description,
        inputSchema: t.inputSchema,
      })),
      availability: r.availability,
      allowMultipleInstances: false,
      documentationUrl: null,
    },
    oAuthUseCase: null,
    editedByUser: r.editor_s_id
      ? {
        editedAt: r.updated_at,
        fullName: fullName({ firstName: r.first_name, lastName: r.last_name }),
        imageUrl: r.image_url,
        email: r.email,
        userId: r.editor_s_id,
      }
      : null,
  };
}

/** Views of a space the actor can read (404 `space_not_found` otherwise), bounded. */
export async function listMcpServerViews(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; includeAuto: boolean },
) {
  const space = await requireReadableSpace(deps.db, actor, input.spaceId);
  const rows = await deps.db.all(
    `SELECT v.*, u.s_id AS editor_s_id, u.first_name, u.last_name, u.image_url, u.email
     FROM mcp_server_views v LEFT JOIN users u ON u.id = v.edited_by_user_id
     WHERE v.space_id = ? AND (v.availability = 'manual' OR ?) ORDER BY v.id LIMIT 500`,
    space.id,
    input.includeAuto ? 1 : 0,
  );
  const serverViews = rows.map((r) => viewJson(r, space.sId));
  // `serverViews` is what Dust and its SDK use; seed 001 documents the array as `spaces`.
  return { success: true as const, serverViews, spaces: serverViews };
}
