/**
 * The `dust://` URI scheme of MCP resources (documented in the README):
 *
 * - `dust://w/<wId>/documents/<dataSourceViewId>/<documentId>`: a document of a data source
 *   the user reads (the document id percent-encoded: it may hold `/`);
 * - `dust://w/<wId>/files/conversation-<cId>/<path>` and `dust://w/<wId>/files/pod-<podId>/<path>`:
 *   a file of a conversation's or a Pod's file system, by the scoped path the file tools use
 *   (each segment percent-encoded);
 * - `dust://w/<wId>/conversations/<cId>`: a conversation's transcript.
 *
 * Pure functions: building and parsing only; what a URI names is checked when it is read.
 * @module
 */
import type { FileScope } from "../core/file_types.ts";

const PREFIX = "dust://w/";

/** RFC 6570 templates of the three kinds, as `resources/templates/list` serves them. */
export const URI_TEMPLATES = {
  document: "dust://w/{workspaceId}/documents/{dataSourceViewId}/{documentId}",
  conversationFile: "dust://w/{workspaceId}/files/conversation-{conversationId}/{+path}",
  podFile: "dust://w/{workspaceId}/files/pod-{podId}/{+path}",
  conversation: "dust://w/{workspaceId}/conversations/{conversationId}",
} as const;

export type ParsedUri =
  | { kind: "document"; workspaceId: string; dataSourceViewId: string; documentId: string }
  | { kind: "file"; workspaceId: string; scope: FileScope; scopedPath: string }
  | { kind: "conversation"; workspaceId: string; conversationId: string };

const enc = encodeURIComponent;

export function documentUri(wId: string, dataSourceViewId: string, documentId: string): string {
  return `${PREFIX}${enc(wId)}/documents/${enc(dataSourceViewId)}/${enc(documentId)}`;
}

/** A file by its scoped path (`conversation-<id>/…` or `pod-<id>/…`). */
export function fileUri(wId: string, scopedPath: string): string {
  return `${PREFIX}${enc(wId)}/files/${scopedPath.split("/").map(enc).join("/")}`;
}

export function conversationUri(wId: string, conversationId: string): string {
  return `${PREFIX}${enc(wId)}/conversations/${enc(conversationId)}`;
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** The scope of a scoped path's first segment, or null. */
function scopeOf(first: string): FileScope | null {
  const conv = /^conversation-(.+)$/.exec(first);
  if (conv) return { type: "conversation", conversation_id: conv[1] };
  const pod = /^pod-(.+)$/.exec(first);
  return pod ? { type: "pod", pod_id: pod[1] } : null;
}

/** What a `dust://` URI names, or null when it is not one of ours. */
export function parseResourceUri(uri: string): ParsedUri | null {
  if (!uri.startsWith(PREFIX) || uri.length > 8192) return null;
  const raw = uri.slice(PREFIX.length).split("/");
  if (raw.some((s) => s === "")) return null;
  const parts = raw.map(decode);
  if (parts.some((p) => p === null)) return null;
  const [workspaceId, kind, ...rest] = parts as string[];
  if (kind === "documents" && rest.length === 2) {
    return { kind: "document", workspaceId, dataSourceViewId: rest[0], documentId: rest[1] };
  }
  if (kind === "conversations" && rest.length === 1) {
    return { kind: "conversation", workspaceId, conversationId: rest[0] };
  }
  if (kind === "files" && rest.length >= 2) {
    const scope = scopeOf(rest[0]);
    if (scope) return { kind: "file", workspaceId, scope, scopedPath: rest.join("/") };
  }
  return null;
}
