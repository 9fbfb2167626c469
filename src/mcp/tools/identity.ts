/**
 * `identity` (dust.md §1.3): who the token acts as, in which workspace. Needs only the actor,
 * so it is answered from the authenticated caller without a database read.
 * @module
 */
import * as z from "zod";
import { defineTool, type ToolDef } from "../tool_kit.ts";

const IdentityOutput = z.object({
  id: z.string().describe("The user's sId"),
  name: z.string().describe("The user's first name"),
  workspaceId: z.string().describe("The workspace sId"),
  workspaceName: z.string(),
});

/** The identity tool group. */
export const IDENTITY_TOOLS: ToolDef[] = [
  defineTool({
    name: "identity",
    title: "Identity",
    toolset: "identity",
    description:
      "Identify the authenticated user and the Dust workspace this connection acts in. Call it first to learn which workspace the other tools read and write.",
    input: z.object({}),
    output: IdentityOutput,
    write: false,
    run: ({ actor }) => ({
      id: actor.user.sId,
      name: actor.user.firstName.trim() || "there",
      workspaceId: actor.workspace.sId,
      workspaceName: actor.workspace.name,
    }),
  }),
];
