/**
 * File-system tools (dust.md §1.3): `files_list`, `files_cat`, `files_create`, `files_grep`,
 * `files_resolve`, with Dust's snake_case argument names and scopes
 * `{type:"conversation",conversation_id}` / `{type:"pod",pod_id}`. Each calls one
 * file-system core function (limits and texts live there); each file a result names comes
 * with a `resource_link` to its `dust://` resource.
 * @module
 */
import * as z from "zod";
import {
  CAT_LINES_MAX,
  filesCat,
  filesCreate,
  filesGrep,
  filesList,
  filesResolve,
  GREP_PATTERN_MAX_CHARS,
} from "../../core/file_system.ts";
import {
  type FileScope,
  relativePathInScope,
  scopeColumns,
  toScopedPath,
} from "../../core/file_types.ts";
import { defineTool, type ResourceLink, type ToolContext, type ToolDef } from "../tool_kit.ts";
import { fileUri } from "../resource_uris.ts";

const scope = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("conversation"),
    conversation_id: z.string().min(1).max(128).describe("The conversation id"),
  }),
  z.object({
    type: z.literal("pod"),
    pod_id: z.string().min(1).max(128).describe("The Pod id"),
  }),
]).describe(
  'The file system: {"type":"conversation","conversation_id"} or {"type":"pod","pod_id"}',
);
const path = z.string().min(1).max(2048).describe(
  'Scoped path: "conversation-<id>/<path>" or "pod-<id>/<path>"',
);

const TextOutput = z.object({ text: z.string() });

function fileLink(
  ctx: ToolContext,
  scopedPath: string,
  mimeType?: string,
  size?: number,
): ResourceLink {
  return {
    type: "resource_link",
    uri: fileUri(ctx.actor.workspace.sId, scopedPath),
    name: scopedPath.slice(scopedPath.lastIndexOf("/") + 1),
    title: scopedPath,
    ...(mimeType ? { mimeType } : {}),
    ...(size !== undefined ? { size } : {}),
  };
}

/** The canonical scoped path of a path the core accepted for `scope`. */
function canonical(scope: FileScope, p: string): string {
  const { type, sId } = scopeColumns(scope);
  return toScopedPath(type, sId, relativePathInScope(p, scope));
}

/** The files tool group. */
export const FILE_TOOLS: ToolDef[] = [
  defineTool({
    name: "files_list",
    title: "List files",
    toolset: "files",
    description: "List the files of a conversation's or a Pod's file system.",
    input: z.object({ scope }),
    output: TextOutput,
    write: false,
    run: async ({ deps, actor }, args) => await filesList(deps, actor, args),
    present: (r) => ({ text: r.text }),
    links: (r, _args, ctx) => r.files.map((f) => fileLink(ctx, f.path, f.mimeType, f.sizeBytes)),
  }),
  defineTool({
    name: "files_cat",
    title: "Read file",
    toolset: "files",
    description:
      `Read a text file with line numbers, from line offset (1-based, default 1), at most limit lines (default 200, max ${CAT_LINES_MAX}).`,
    input: z.object({
      scope,
      path,
      offset: z.number().int().min(1).optional().describe("First line to read (1-based)"),
      limit: z.number().int().min(1).max(CAT_LINES_MAX).optional().describe(
        "Number of lines to read",
      ),
    }),
    output: z.object({
      text: z.string(),
      path: z.string().optional().describe("For an image: its path"),
      mimeType: z.string().optional().describe("For an image: its type"),
    }),
    write: false,
    run: ({ deps, actor }, args) => filesCat(deps, actor, args),
    links: (_r, args, ctx) => [fileLink(ctx, canonical(args.scope, args.path))],
  }),
  defineTool({
    name: "files_create",
    title: "Create file",
    toolset: "files",
    description: "Create or overwrite a UTF-8 text file (at most 50 KB) in the file system.",
    input: z.object({
      scope,
      path,
      content: z.string().describe("The file content (UTF-8 text)"),
      content_type: z.string().min(1).max(255).describe("MIME type, e.g. text/markdown"),
    }),
    output: z.object({ message: z.string(), path: z.string(), contentType: z.string() }),
    write: true,
    run: ({ deps, actor }, args) => filesCreate(deps, actor, args),
    links: (r, args, ctx) => [fileLink(ctx, canonical(args.scope, r.path), r.contentType)],
  }),
  defineTool({
    name: "files_grep",
    title: "Search in file",
    toolset: "files",
    description:
      "Find the lines of a text file matching a regular expression (case-sensitive; start it with (?i) for case-insensitive). At most 50 matches.",
    input: z.object({
      scope,
      path,
      pattern: z.string().min(1).max(GREP_PATTERN_MAX_CHARS).describe("Regular expression"),
    }),
    output: TextOutput,
    write: false,
    run: ({ deps, actor }, args) => filesGrep(deps, actor, args),
    links: (_r, args, ctx) => [fileLink(ctx, canonical(args.scope, args.path))],
  }),
  defineTool({
    name: "files_resolve",
    title: "Resolve file id",
    toolset: "files",
    description: "Resolve a file id (fil_...) to its scoped path in the given file system.",
    input: z.object({
      scope,
      file_id: z.string().min(1).max(128).describe("The file id (fil_...)"),
    }),
    output: z.object({ path: z.string() }),
    write: false,
    run: async ({ deps, actor }, args) => await filesResolve(deps, actor, args),
    links: (r, _args, ctx) => [fileLink(ctx, r.path)],
  }),
];
