/**
 * MCP resources: the workspace's documents, Pod and conversation files, and conversation
 * transcripts under the `dust://` scheme (resource_uris.ts), each read through the core
 * function the tools and the REST API use, so a user reads exactly what they may read:
 *
 * - `resources/list`, paginated and permission-filtered: the user's conversations, then the
 *   files of their Pods (one Pod per page), then the documents of the data sources they read;
 * - `resources/templates/list`: a document by id, a file by scoped path, a conversation by id;
 * - `resources/read`: text, or binary as a base64 blob with its MIME type, at most the size
 *   `files_cat` accepts for images (READ_WHOLE_MAX_BYTES).
 *
 * A narrowed endpoint (endpoint.ts) serves the resources of its toolsets only: conversations
 * with `conversations`, files with `files`, documents with `search`. Reads are budgeted and
 * audited like tool calls (tool name `resources/read`).
 * @module
 */
import type {
  ListResourcesResult,
  ReadResourceResult,
  Resource,
  ResourceTemplateType,
} from "@modelcontextprotocol/server";
import {
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
} from "@modelcontextprotocol/server";
import { Buffer } from "node:buffer";
import type { UserActor } from "../auth/actor.ts";
import type { Deps } from "../deps.ts";
import { listConversations } from "../core/conversations.ts";
import { getConversationTranscript } from "../core/conversation_text.ts";
import { listReadableDocuments, readNodeDocument } from "../core/documents.ts";
import { filesList, readScopedFile } from "../core/file_system.ts";
import { listPods } from "../core/pods.ts";
import { type Endpoint, servesToolset, type Toolset } from "./endpoint.ts";
import { auditedRequest, type McpCaller, type ToolRuntime } from "./tool_kit.ts";
import {
  conversationUri,
  documentUri,
  fileUri,
  parseResourceUri,
  URI_TEMPLATES,
} from "./resource_uris.ts";

/** Documents per `resources/list` page. */
export const DOCUMENTS_PER_PAGE = 100;
/** Sections skipped in one `resources/list` call when they turn out empty (then a page ends). */
const EMPTY_SECTIONS_MAX = 20;

type Section = "conversations" | "files" | "documents";
const SECTIONS: readonly Section[] = ["conversations", "files", "documents"];
const SECTION_TOOLSET: Record<Section, Toolset> = {
  conversations: "conversations",
  files: "files",
  documents: "search",
};

/** Where a listing resumes: a section and its own cursor. */
interface ListCursor {
  s: Section;
  c: string | number | null;
}

function encodeCursor(c: ListCursor): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

function decodeCursor(raw: string | undefined): ListCursor | null {
  if (raw === undefined) return null;
  try {
    const c = JSON.parse(Buffer.from(raw, "base64url").toString()) as ListCursor;
    if (SECTIONS.includes(c.s) && (c.c === null || ["string", "number"].includes(typeof c.c))) {
      return c;
    }
  } catch {
    // fall through
  }
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Invalid cursor");
}

interface Page {
  resources: Resource[];
  /** The section's next cursor, or null when the section is done. */
  next: string | number | null;
}

async function conversationsPage(
  deps: Deps,
  actor: UserActor,
  cursor: string | null,
): Promise<Page> {
  const r = await listConversations(deps, actor, cursor === null ? {} : { lastValue: cursor });
  return {
    resources: r.conversations.map((c) => ({
      uri: conversationUri(actor.workspace.sId, c.sId),
      name: c.sId,
      title: c.title ?? "Untitled conversation",
      description: "Conversation transcript",
      mimeType: "text/plain",
    })),
    next: r.hasMore ? r.lastValue : null,
  };
}

/** One Pod's files per page: `cursor` is the Pod's index among the user's Pods. */
async function filesPage(deps: Deps, actor: UserActor, cursor: number): Promise<Page> {
  const pods = (await listPods(deps, actor)).pods;
  const pod = pods[cursor];
  if (!pod) return { resources: [], next: null };
  const files = (await filesList(deps, actor, { scope: { type: "pod", pod_id: pod.id } })).files;
  return {
    resources: files.map((f) => ({
      uri: fileUri(actor.workspace.sId, f.path),
      name: f.path.slice(f.path.lastIndexOf("/") + 1),
      title: f.path,
      description: `File of the Pod ${pod.name}`,
      mimeType: f.mimeType,
      size: f.sizeBytes,
    })),
    next: cursor + 1 < pods.length ? cursor + 1 : null,
  };
}

async function documentsPage(deps: Deps, actor: UserActor, cursor: number | null): Promise<Page> {
  const r = await listReadableDocuments(deps, actor, { limit: DOCUMENTS_PER_PAGE, cursor });
  return {
    resources: r.documents.map((d) => ({
      uri: documentUri(actor.workspace.sId, d.dataSourceViewId, d.documentId),
      name: d.documentId,
      title: d.title ?? d.documentId,
      description: "Document",
      mimeType: d.mimeType,
      size: d.textSize,
    })),
    next: r.nextCursor,
  };
}

async function sectionPage(rt: ToolRuntime, actor: UserActor, at: ListCursor): Promise<Page> {
  if (at.s === "conversations") {
    return await conversationsPage(rt.deps, actor, at.c === null ? null : String(at.c));
  }
  if (at.s === "files") return await filesPage(rt.deps, actor, Number(at.c ?? 0));
  return await documentsPage(rt.deps, actor, at.c === null ? null : Number(at.c));
}

function nextSection(e: Endpoint, after: Section | null): Section | null {
  const from = after === null ? 0 : SECTIONS.indexOf(after) + 1;
  return SECTIONS.slice(from).find((s) => servesToolset(e, SECTION_TOOLSET[s])) ?? null;
}

/** `resources/list` for `caller`: one non-empty section page (or the end). */
export async function listResources(
  rt: ToolRuntime,
  caller: McpCaller,
  rawCursor: string | undefined,
): Promise<ListResourcesResult> {
  let at: ListCursor | null = decodeCursor(rawCursor);
  if (at === null) {
    const first = nextSection(caller.endpoint, null);
    at = first === null ? null : { s: first, c: null };
  } else if (!servesToolset(caller.endpoint, SECTION_TOOLSET[at.s])) at = null;
  for (let i = 0; at !== null && i < EMPTY_SECTIONS_MAX; i++) {
    const page = await sectionPage(rt, caller.actor, at);
    const section: Section = at.s;
    const following = nextSection(caller.endpoint, section);
    at = page.next !== null
      ? { s: section, c: page.next }
      : following === null
      ? null
      : { s: following, c: null };
    if (page.resources.length > 0) {
      return { resources: page.resources, ...(at ? { nextCursor: encodeCursor(at) } : {}) };
    }
  }
  return { resources: [], ...(at ? { nextCursor: encodeCursor(at) } : {}) };
}

const TEMPLATES: (ResourceTemplateType & { toolset: Toolset })[] = [
  {
    toolset: "search",
    name: "document",
    title: "Document",
    uriTemplate: URI_TEMPLATES.document,
    description:
      "A document of a data source you read, by data source view id and document id (as search results name them).",
  },
  {
    toolset: "files",
    name: "conversation-file",
    title: "Conversation file",
    uriTemplate: URI_TEMPLATES.conversationFile,
    description: "A file of a conversation's file system, by its path in the conversation.",
  },
  {
    toolset: "files",
    name: "pod-file",
    title: "Pod file",
    uriTemplate: URI_TEMPLATES.podFile,
    description: "A file of a Pod's file system, by its path in the Pod.",
  },
  {
    toolset: "conversations",
    name: "conversation",
    title: "Conversation transcript",
    uriTemplate: URI_TEMPLATES.conversation,
    description: "A conversation's latest messages as text.",
    mimeType: "text/plain",
  },
];

/** `resources/templates/list` for an endpoint. */
export function listResourceTemplates(e: Endpoint): { resourceTemplates: ResourceTemplateType[] } {
  return {
    resourceTemplates: TEMPLATES.filter((t) => servesToolset(e, t.toolset)).map((
      { toolset: _, ...t },
    ) => t),
  };
}

async function readParsed(
  rt: ToolRuntime,
  caller: McpCaller,
  uri: string,
): Promise<ReadResourceResult> {
  const parsed = parseResourceUri(uri);
  const actor = caller.actor;
  const served = parsed !== null && parsed.workspaceId === actor.workspace.sId &&
    servesToolset(
      caller.endpoint,
      SECTION_TOOLSET[
        parsed.kind === "document"
          ? "documents"
          : parsed.kind === "file"
          ? "files"
          : "conversations"
      ],
    );
  if (!parsed || !served) throw new ResourceNotFoundError(uri);
  if (parsed.kind === "document") {
    const d = await readNodeDocument(rt.deps, actor, parsed);
    return { contents: [{ uri, mimeType: d.mimeType, text: d.text }] };
  }
  if (parsed.kind === "conversation") {
    const t = await getConversationTranscript(rt.deps, actor, parsed);
    return { contents: [{ uri, mimeType: "text/plain", text: t.text }] };
  }
  const f = await readScopedFile(rt.deps, actor, { scope: parsed.scope, path: parsed.scopedPath });
  return {
    contents: [
      f.text !== undefined
        ? { uri, mimeType: f.mimeType, text: f.text }
        : { uri, mimeType: f.mimeType, blob: Buffer.from(f.bytes).toString("base64") },
    ],
  };
}

/** `resources/read` for `caller`: budgeted and audited; unknown or unreadable → not found. */
export function readResource(
  rt: ToolRuntime,
  caller: McpCaller,
  uri: string,
): Promise<ReadResourceResult> {
  return auditedRequest(
    rt,
    caller,
    { name: "resources/read", arguments: { uri } },
    () => readParsed(rt, caller, uri),
    () => new ResourceNotFoundError(uri),
  );
}
