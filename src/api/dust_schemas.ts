/**
 * Zod schemas of Dust's public JSON shapes (as `@dust-tt/client` 1.2.8 parses them), used to
 * document responses in the OpenAPI document. Reusable by every router.
 * @module
 */
import { z } from "zod";

export const WorkspaceSchema = z.object({
  id: z.number(),
  sId: z.string(),
  name: z.string(),
  role: z.enum(["admin", "builder", "user", "none"]),
  segmentation: z.string().nullable(),
  whiteListedProviders: z.array(z.string()).nullable(),
  defaultEmbeddingProvider: z.string().nullable(),
  ssoEnforced: z.boolean().optional(),
});

export const UserSchema = z.object({
  sId: z.string(),
  id: z.number(),
  createdAt: z.number(),
  provider: z.string().nullable(),
  username: z.string(),
  email: z.string(),
  firstName: z.string(),
  lastName: z.string().nullable(),
  fullName: z.string(),
  image: z.string().nullable(),
});

export const MeResponseSchema = z.object({
  user: UserSchema.extend({
    workspaces: z.array(WorkspaceSchema),
    selectedWorkspace: z.string().optional(),
  }),
});

export const LightAgentConfigurationSchema = z.object({
  id: z.number(),
  sId: z.string(),
  version: z.number(),
  versionCreatedAt: z.string().nullable(),
  versionAuthorId: z.number().nullable(),
  name: z.string(),
  description: z.string(),
  instructions: z.string().nullable(),
  pictureUrl: z.string(),
  status: z.string(),
  scope: z.string(),
  userFavorite: z.boolean(),
  model: z.object({ providerId: z.string(), modelId: z.string(), temperature: z.number() }),
  maxStepsPerRun: z.number(),
  visualizationEnabled: z.boolean().optional(),
  templateId: z.string().nullable(),
  groupIds: z.array(z.string()).optional(),
  requestedGroupIds: z.array(z.array(z.string())).optional(),
  requestedSpaceIds: z.array(z.string()).optional(),
  lastAuthors: z.array(z.string()).optional(),
});

export const SpaceSchema = z.object({
  sId: z.string(),
  name: z.string(),
  kind: z.string(),
  isRestricted: z.boolean(),
  groupIds: z.array(z.string()),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const PodTaskSchema = z.object({
  id: z.number(),
  sId: z.string(),
  text: z.string(),
  status: z.enum(["todo", "in_progress", "done"]),
  doneAt: z.number().nullable(),
  user: z.object({ sId: z.string(), fullName: z.string(), image: z.string().nullable() })
    .nullable(),
  conversationId: z.string().nullable(),
  agentInstructions: z.string().nullable(),
  actorRationale: z.string().nullable(),
  createdByType: z.enum(["user", "agent"]),
  createdByUserId: z.string().nullable(),
  createdByAgentConfigurationId: z.string().nullable(),
  markedAsDoneByType: z.enum(["user", "agent"]).nullable(),
  markedAsDoneByUserId: z.string().nullable(),
  markedAsDoneByAgentConfigurationId: z.string().nullable(),
  agentSuggestionStatus: z.enum(["pending", "approved", "rejected"]).nullable(),
  agentSuggestionReviewedAt: z.number().nullable(),
  sources: z.array(z.object({
    sourceType: z.string(),
    sourceId: z.string(),
    sourceTitle: z.string(),
    sourceUrl: z.string(),
  })),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const PodMetadataSchema = z.object({
  sId: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  spaceId: z.string(),
  description: z.string().nullable(),
  archivedAt: z.number().nullable(),
  members: z.array(z.string()).describe("User sIds of the Pod's members and editors"),
  pinnedFramePath: z.string().nullable(),
  fileTabs: z.array(z.unknown()),
  tabsOrder: z.array(z.unknown()),
});

/** Who last edited a data source or view (Dust's `EditedByUserSchema`; null here: no editor kept). */
export const EditedByUserSchema = z.object({
  editedAt: z.number().nullable(),
  fullName: z.string().nullable(),
  imageUrl: z.string().nullable(),
  email: z.string().nullable(),
  userId: z.string().nullable(),
});

/**
 * A name or text the core trims: at most `max` characters and at least one that is not
 * blank (written as the `pattern` \S in the document, so that "   " is not documented as valid).
 */
export function nonBlank(max: number) {
  return z.string().max(max).regex(/\S/, "must not be blank").trim();
}

/** An opaque keyset cursor: an id this route returned as nextCursor, refused (400) otherwise. */
export const OPAQUE_CURSOR = "nextCursor of the previous page (any other value: 400)";

export const SuccessSchema = z.object({ success: z.boolean() });
