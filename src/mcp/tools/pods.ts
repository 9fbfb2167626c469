/**
 * Pod tools (dust.md §1.3): `list_pods`, `get_pod`, `get_pod_tasks`. Each calls one
 * pods/tasks core function, the same the REST API uses.
 * @module
 */
import * as z from "zod";
import { getPod, listPods } from "../../core/pods.ts";
import { getPodTasks } from "../../core/tasks.ts";
import { defineTool, type ToolDef } from "../tool_kit.ts";

const podId = z.string().min(1).max(128).describe("The Pod id");

const ListPodsOutput = z.object({
  count: z.number().int(),
  pods: z.array(z.object({ id: z.string(), name: z.string(), url: z.string() })),
});

const GetPodOutput = z.object({
  pod: z.object({
    id: z.string(),
    name: z.string(),
    url: z.string(),
    description: z.string(),
    pinnedFramePath: z.string().nullable(),
    fileTabs: z.array(z.unknown()),
    tabsOrder: z.array(z.unknown()),
    contentNodes: z.array(z.object({
      name: z.string(),
      nodeId: z.string(),
      dataSourceViewId: z.string(),
    })),
    fileCount: z.number().int(),
  }),
});

/** Dust's `PodTaskType`: the fields a client plans with, the rest kept as sent. */
const PodTask = z.looseObject({
  sId: z.string(),
  text: z.string(),
  status: z.enum(["todo", "in_progress", "done"]),
  doneAt: z.number().nullable(),
  conversationId: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
});

const GetPodTasksOutput = z.object({
  count: z.number().int(),
  podId: z.string(),
  podName: z.string(),
  assigneeFilter: z.enum(["mine", "all"]),
  statusFilter: z.enum(["open", "done", "all"]),
  daysAgo: z.number().int(),
  tasks: z.array(PodTask),
});

/** The Pods tool group. */
export const POD_TOOLS: ToolDef[] = [
  defineTool({
    name: "list_pods",
    title: "List Pods",
    toolset: "pods",
    description: "List the Pods (project spaces) the user is a member of, sorted by name.",
    input: z.object({}),
    output: ListPodsOutput,
    write: false,
    run: async ({ deps, actor }) => await listPods(deps, actor),
  }),
  defineTool({
    name: "get_pod",
    title: "Get Pod",
    toolset: "pods",
    description:
      "Get a Pod's information: description, pinned frame, file tabs, linked content nodes and file count.",
    input: z.object({ podId }),
    output: GetPodOutput,
    write: false,
    run: async ({ deps, actor }, args) => await getPod(deps, actor, args),
  }),
  defineTool({
    name: "get_pod_tasks",
    title: "Get Pod tasks",
    toolset: "pods",
    description:
      "List a Pod's tasks. statusFilter: open (todo or in progress, default), done (completed in the last daysAgo days) or all; assigneeFilter: mine or all (default).",
    input: z.object({
      podId,
      assigneeFilter: z.enum(["mine", "all"]).optional().describe("mine or all (default all)"),
      statusFilter: z.enum(["open", "done", "all"]).optional().describe(
        "open, done or all (default open)",
      ),
      daysAgo: z.number().int().min(1).max(90).optional().describe(
        "How many days back completed tasks are included (1-90, default 7)",
      ),
    }),
    output: GetPodTasksOutput,
    write: false,
    run: async ({ deps, actor }, args) => await getPodTasks(deps, actor, args),
  }),
];
