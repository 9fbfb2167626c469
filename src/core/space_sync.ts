/**
 * What Dust's connectors read of a space to index it (`@dust-tt/client`
 * `getSpaceConversationsForDataSource`, `getSpaceConversationIds`, `getSpaceProjectFiles`):
 * the space's conversations as text-ready messages, their ids, and a Pod's files.
 *
 * Dust serves these to its system key only; here the readers of the space do (404
 * `space_not_found` for anyone else, the same answer as a missing space) — they read the same
 * conversations and files through the other routes. API keys read no Pod.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { invalid } from "../errors.ts";
import { requireReadableSpace } from "./access.ts";
import { conversationUrl, loadMessages, type MessageRecord } from "./conversation_views.ts";
import { listScopeFiles } from "./scoped_files.ts";
import { toScopedPath } from "./file_types.ts";

/** Conversations one answer holds at most (oldest update first: page with `updatedSince`). */
export const SYNC_CONVERSATIONS_MAX = 200;
/** Messages (latest versions) per conversation at most. */
export const SYNC_MESSAGES_MAX = 1000;
/** Files of a Pod one answer lists at most. */
export const PROJECT_FILES_MAX = 1000;

interface ConversationRowLite {
  id: number;
  s_id: string;
  title: string | null;
  visibility: string;
  created_at: number;
  updated_at: number;
}

/** The latest version of each rank, in order. */
function latestVersions(records: MessageRecord[]): MessageRecord[] {
  const latest = new Map<number, MessageRecord>();
  for (const r of records) latest.set(r.rank, r);
  return [...latest.values()].sort((a, b) => a.rank - b.rank);
}

/** Dust's `ConversationForDataSourceSync` content: user messages carry their fragments. */
function syncContent(records: MessageRecord[]) {
  const out: Record<string, unknown>[] = [];
  let fragments: Record<string, unknown>[] = [];
  for (const r of latestVersions(records)) {
    const j = r.json;
    if (r.type === "content_fragment") {
      fragments.push({
        type: "content_fragment",
        created: r.created,
        visibility: r.visibility,
        contentFragmentId: j.contentFragmentId,
        contentType: j.contentType,
        title: j.title,
        version: j.version,
        sourceUrl: j.sourceUrl ?? null,
      });
    } else if (r.type === "user_message") {
      out.push({
        type: "user_message",
        created: r.created,
        visibility: r.visibility,
        user: j.user
          ? {
            sId: j.user.sId,
            fullName: j.user.fullName,
            username: j.user.username,
            email: j.user.email,
          }
          : null,
        content: r.visibility === "deleted" ? "" : j.content,
        contentFragments: fragments,
      });
      fragments = [];
    } else {
      out.push({
        type: "agent_message",
        created: r.created,
        visibility: r.visibility,
        configuration: { name: r.agentName ?? "Agent" },
        content: r.visibility === "deleted" ? null : j.content ?? null,
      });
    }
  }
  return out;
}

/**
 * `GET spaces/{spaceId}/conversations?updatedSince=` → `{ conversations }`: deleted ones
 * included (so that an index removes them), test ones not.
 */
export async function listSpaceConversationsForSync(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; updatedSince?: number | null },
) {
  const space = await requireReadableSpace(deps.db, actor, input.spaceId);
  const rows = await deps.db.all(
    `SELECT id, s_id, title, visibility, created_at, updated_at FROM conversations
     WHERE workspace_id = ? AND space_id = ? AND visibility != 'test' AND updated_at >= ?
     ORDER BY updated_at, id LIMIT ?`,
    actor.workspace.id,
    space.id,
    input.updatedSince ?? 0,
    SYNC_CONVERSATIONS_MAX,
  ) as ConversationRowLite[];
  const conversations = [];
  for (const c of rows) {
    const top = await deps.db.get(
      "SELECT COALESCE(MAX(rank), -1) AS r FROM messages WHERE conversation_id = ?",
      c.id,
    ) as { r: number };
    const records = top.r < 0 ? [] : await loadMessages(deps, actor.workspace.sId, c.id, {
      fromRank: Math.max(0, top.r - SYNC_MESSAGES_MAX + 1),
      toRank: top.r,
    });
    conversations.push({
      sId: c.s_id,
      created: c.created_at,
      updated: c.updated_at,
      title: c.title,
      visibility: c.visibility,
      url: conversationUrl(deps, actor.workspace.sId, c.s_id),
      content: c.visibility === "deleted" ? [] : syncContent(records),
    });
  }
  return { conversations };
}

/** `GET spaces/{spaceId}/conversation_ids` → `{ conversationIds }` (not deleted, not test). */
export async function listSpaceConversationIds(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string },
): Promise<{ conversationIds: string[] }> {
  const space = await requireReadableSpace(deps.db, actor, input.spaceId);
  const rows = await deps.db.all(
    `SELECT s_id FROM conversations WHERE workspace_id = ? AND space_id = ?
     AND visibility NOT IN ('deleted', 'test') ORDER BY id LIMIT 10000`,
    actor.workspace.id,
    space.id,
  ) as { s_id: string }[];
  return { conversationIds: rows.map((r) => r.s_id) };
}

/**
 * `GET spaces/{spaceId}/project_files?updatedSince=` → `{ files }`: a Pod's files (scoped
 * paths `pod-<id>/…`) and the directories they sit in. No signed download URLs here: fetch a
 * file by its `fileId` (`GET files/{fileId}`).
 */
export async function listProjectFiles(
  deps: Deps,
  actor: Actor,
  input: { spaceId: string; updatedSince?: number | null },
) {
  const space = await requireReadableSpace(deps.db, actor, input.spaceId);
  if (space.kind !== "project") {
    throw invalid("Project files are only available for project spaces (Pods).");
  }
  const rows = await listScopeFiles(deps, actor.workspace.id, {
    type: "pod",
    pod_id: space.sId,
  }, PROJECT_FILES_MAX);
  const since = input.updatedSince ?? null;
  const files = rows.filter((f) => since === null || f.updatedAt >= since);
  const dirs = new Map<string, number>();
  for (const f of files) {
    const parts = f.path!.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      dirs.set(dir, Math.max(dirs.get(dir) ?? 0, f.updatedAt));
    }
  }
  return {
    files: [
      ...[...dirs].sort(([a], [b]) => a.localeCompare(b)).map(([dir, at]) => ({
        isDirectory: true as const,
        fileName: dir.split("/").pop()!,
        path: toScopedPath("pod", space.sId, dir),
        sizeBytes: 0,
        lastModifiedMs: at,
      })),
      ...files.map((f) => ({
        isDirectory: false as const,
        fileName: f.path!.split("/").pop()!,
        path: toScopedPath("pod", space.sId, f.path!),
        sizeBytes: f.fileSize,
        lastModifiedMs: f.updatedAt,
        contentType: f.contentType,
        fileId: f.sId,
        thumbnailUrl: null,
        signedDownloadUrl: null,
      })),
    ],
  };
}
