/**
 * File-system tools (dust.md §1.3): `files_list`, `files_cat`, `files_create`, `files_grep`,
 * `files_resolve`, with Dust's snake_case argument names and scopes
 * `{type:"conversation",conversation_id}` / `{type:"pod",pod_id}`. Each calls one
 * file-system core function (limits and texts live there).
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
import { defineTool, type ToolDef } from "../tool_kit.ts";

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

/** The files tool group. */
export const FILE_TOOLS: ToolDef[] = [
  defineTool({
    name: "files_list",
    title: "List files",
    description: "List the files of a conversation's or a Pod's file system.",
    input: z.object({ scope }),
    write: false,
    run: async ({ deps, actor }, args) => await filesList(deps, actor, args),
  }),
  defineTool({
    name: "files_cat",
    title: "Read file",
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
    write: false,
    run: ({ deps, actor }, args) => filesCat(deps, actor, args),
  }),
  defineTool({
    name: "files_create",
    title: "Create file",
    description: "Create or overwrite a UTF-8 text file (at most 50 KB) in the file system.",
    input: z.object({
      scope,
      path,
      content: z.string().describe("The file content (UTF-8 text)"),
      content_type: z.string().min(1).max(255).describe("MIME type, e.g. text/markdown"),
    }),
    write: true,
    run: ({ deps, actor }, args) => filesCreate(deps, actor, args),
  }),
  defineTool({
    name: "files_grep",
    title: "Search in file",
    description:
      "Find the lines of a text file matching a regular expression (case-sensitive; start it with (?i) for case-insensitive). At most 50 matches.",
    input: z.object({
      scope,
      path,
      pattern: z.string().min(1).max(GREP_PATTERN_MAX_CHARS).describe("Regular expression"),
    }),
    write: false,
    run: ({ deps, actor }, args) => filesGrep(deps, actor, args),
  }),
  defineTool({
    name: "files_resolve",
    title: "Resolve file id",
    description: "Resolve a file id (fil_...) to its scoped path in the given file system.",
    input: z.object({
      scope,
      file_id: z.string().min(1).max(128).describe("The file id (fil_...)"),
    }),
    write: false,
    run: async ({ deps, actor }, args) => await filesResolve(deps, actor, args),
  }),
];
