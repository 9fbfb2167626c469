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

/** The Pods tool group. */
export const POD_TOOLS: ToolDef[] = [
  defineTool({
    name: "list_pods",
    title: "List Pods",
    description: "List the Pods (project spaces) the user is a member of, sorted by name.",
    input: z.object({}),
    write: false,
    run: async ({ deps, actor }) => await listPods(deps, actor),
  }),
  defineTool({
    name: "get_pod",
    title: "Get Pod",
    description:
      "Get a Pod's information: description, pinned frame, file tabs, linked content nodes and file count.",
    input: z.object({ podId }),
    write: false,
    run: async ({ deps, actor }, args) => await getPod(deps, actor, args),
  }),
  defineTool({
    name: "get_pod_tasks",
    title: "Get Pod tasks",
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
    write: false,
    run: async ({ deps, actor }, args) => await getPodTasks(deps, actor, args),
  }),
];
