/**
 * Storage quotas: how many bytes of files and documents one member may store in a workspace
 * (`--storage-quota-member`, default 1 GiB) and one workspace may store in all
 * (`--storage-quota-workspace`, default 10 GiB).
 *
 * What counts: the bytes of `ready` files (uploads, `files_create`, content fragments) and the
 * UTF-8 bytes of documents' text, owned by the member who last wrote them; writes by API keys
 * (which act as the workspace, not a member) count against the workspace quota only. Usage is
 * kept in `storage_usage` counter rows that triggers maintain in the same statement as the row
 * holding the bytes (migration 0007): reading it is one primary-key range, where a sum over
 * files and documents grows with the workspace (bench/storage_usage_bench.ts).
 *
 * Exactness: every check runs inside the transaction that makes the bytes count, so two
 * writers cannot both pass on the same free space. An upload streams for a while, so it
 * first reserves its declared size (a `storage_reservations` row, counted like stored bytes),
 * and the transaction that makes the file ready deletes the reservation and checks again;
 * a failed or cut upload deletes its reservation, and a reservation whose instance died (its
 * upload with it) is released by the instances still alive. Concurrent uploads by one member therefore
 * never take the member past the quota. Writes that shrink usage are always allowed, so a
 * member over a lowered quota can still delete and overwrite with less.
 * @module
 */
import type { Deps } from "../deps.ts";
import { type Actor, fullName } from "../auth/actor.ts";
import { type Db, now } from "../db/db.ts";
import { AppError, invalid } from "../errors.ts";
import { requireWorkspaceRole } from "./access.ts";

/** Whose bytes: a workspace member, or `userId` 0 for bytes no member owns (API keys). */
export interface StorageOwner {
  workspaceId: number;
  userId: number;
}

/** Files answer Dust's `file_too_large`, documents Dust's `data_source_quota_error`. */
export type StorageKind = "file" | "document";

export function storageOwnerOf(actor: Actor): StorageOwner {
  return { workspaceId: actor.workspace.id, userId: actor.kind === "user" ? actor.user.id : 0 };
}

/** `1.5 MiB`, `300 B`: sizes in messages and on the admin page. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

interface Held {
  /** Bytes stored (counters) plus bytes reserved by uploads in flight. */
  held: number;
  reserved: number;
}

async function memberHeld(db: Db, o: StorageOwner): Promise<Held> {
  const stored = await db.get(
    `SELECT file_bytes + document_bytes AS n FROM storage_usage
     WHERE workspace_id = ? AND user_id = ?`,
    o.workspaceId,
    o.userId,
  ) as { n: number } | undefined;
  const reserved = (await db.get(
    `SELECT COALESCE(SUM(bytes), 0) AS n FROM storage_reservations
     WHERE workspace_id = ? AND user_id = ?`,
    o.workspaceId,
    o.userId,
  ) as { n: number }).n;
  return { held: (stored?.n ?? 0) + reserved, reserved };
}

async function workspaceHeld(
  db: Db,
  workspaceId: number,
): Promise<Held & { files: number; documents: number }> {
  const s = await db.get(
    `SELECT COALESCE(SUM(file_bytes), 0) AS f, COALESCE(SUM(document_bytes), 0) AS d
     FROM storage_usage WHERE workspace_id = ?`,
    workspaceId,
  ) as { f: number; d: number };
  const reserved = (await db.get(
    "SELECT COALESCE(SUM(bytes), 0) AS n FROM storage_reservations WHERE workspace_id = ?",
    workspaceId,
  ) as { n: number }).n;
  return { held: s.f + s.d + reserved, reserved, files: s.f, documents: s.d };
}

function quotaExceeded(
  kind: StorageKind,
  scope: "member" | "workspace",
  q: { limit: number; held: number; requested: number },
): AppError {
  const left = formatBytes(Math.max(0, q.limit - q.held));
  const whose = scope === "member"
    ? `you have ${left} left of the ${formatBytes(q.limit)} each member may store`
    : `the workspace has ${left} left of its ${formatBytes(q.limit)} quota`;
  return new AppError(
    413,
    kind === "file" ? "file_too_large" : "data_source_quota_error",
    `Storage quota exceeded: this write needs ${formatBytes(q.requested)} but ${whose} ` +
      "(files and documents). Delete files or documents to free space, or ask a workspace admin.",
    { quota: { scope, limitBytes: q.limit, usedBytes: q.held, requestedBytes: q.requested } },
  );
}

/**
 * Refuse (413) a write that adds `memberBytes` to the owner's usage and `workspaceBytes` to
 * the workspace's when either would pass its quota. Call it inside the transaction that
 * writes the rows; a change that does not grow a usage is never refused by it.
 */
export async function assertStorageFits(
  deps: Deps,
  owner: StorageOwner,
  change: { memberBytes: number; workspaceBytes: number },
  kind: StorageKind,
): Promise<void> {
  const { storageQuotaMember: memberLimit, storageQuotaWorkspace: workspaceLimit } = deps.config;
  if (owner.userId !== 0 && memberLimit !== null && change.memberBytes > 0) {
    const { held } = await memberHeld(deps.db, owner);
    if (held + change.memberBytes > memberLimit) {
      throw quotaExceeded(kind, "member", {
        limit: memberLimit,
        held,
        requested: change.memberBytes,
      });
    }
  }
  if (workspaceLimit !== null && change.workspaceBytes > 0) {
    const { held } = await workspaceHeld(deps.db, owner.workspaceId);
    if (held + change.workspaceBytes > workspaceLimit) {
      throw quotaExceeded(kind, "workspace", {
        limit: workspaceLimit,
        held,
        requested: change.workspaceBytes,
      });
    }
  }
}

/**
 * A transaction that checks the quota and adds bytes, one per workspace at a time (an
 * advisory lock on PostgreSQL, with read committed so the check sees what the previous holder
 * committed; SQLite has one writer anyway). Under serializable isolation alone, concurrent
 * upserts each read the workspace's sum the others write: one lost again and again under
 * steady load (20 retries) and answered 500. Inside a caller's transaction: that one.
 */
export async function storageTx<T>(
  deps: Pick<Deps, "db">,
  workspaceId: number,
  fn: () => Promise<T>,
): Promise<T> {
  if (deps.db.inTx()) return await fn();
  return await deps.db.lockedTx(`storage:${workspaceId}`, fn);
}

/** Hold `bytes` for an upload about to stream (413 when they do not fit); returns its id. */
export async function reserveStorage(
  deps: Deps,
  owner: StorageOwner,
  bytes: number,
  kind: StorageKind,
): Promise<number> {
  return await storageTx(deps, owner.workspaceId, async () => {
    await assertStorageFits(deps, owner, { memberBytes: bytes, workspaceBytes: bytes }, kind);
    const r = await deps.db.get(
      `INSERT INTO storage_reservations (workspace_id, user_id, bytes, created_at, instance_id)
       VALUES (?, ?, ?, ?, ?) RETURNING id`,
      owner.workspaceId,
      owner.userId,
      bytes,
      now(),
      deps.instanceId,
    ) as { id: number };
    return r.id;
  });
}

/** Give a reservation back (done, failed or cut upload); a second call is a no-op. */
export async function releaseReservation(db: Db, reservationId: number): Promise<void> {
  await db.run("DELETE FROM storage_reservations WHERE id = ?", reservationId);
}

/**
 * Drop every reservation: on SQLite at start, before the server listens, no upload is in
 * flight (it is the only instance), so any row left is from a process that stopped mid-upload.
 * Several instances release only a dead instance's reservations (`releaseDeadInstanceWork`).
 */
export async function clearReservations(db: Db): Promise<number> {
  return Number((await db.run("DELETE FROM storage_reservations")).changes);
}

export const STORAGE_MEMBERS_DEFAULT = 100;
export const STORAGE_MEMBERS_MAX = 1000;

/** Keyset cursor of the member list: `<held bytes>.<user row id>` of the last row returned. */
function parseCursor(cursor: string): [number, number] {
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(cursor);
  if (!m) throw invalid("cursor: not a cursor returned by this endpoint");
  return [Number(m[1]), Number(m[2])];
}

interface MemberUsageRow {
  user_id: number;
  s_id: string | null;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  file_bytes: number;
  document_bytes: number;
  reserved: number;
  held: number;
}

/**
 * `GET /api/v1/w/{wId}/storage` and the settings page (workspace admins only): the quotas,
 * the workspace's usage, and its members by usage, largest first (`user: null` holds what no
 * member owns: API-key writes, documents from before quotas, files of deleted users).
 */
export async function getStorageUsage(
  deps: Deps,
  actor: Actor,
  input: { limit?: number; cursor?: string } = {},
) {
  requireWorkspaceRole(actor, ["admin"], "Only workspace admins can read storage usage.");
  const limit = input.limit ?? STORAGE_MEMBERS_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > STORAGE_MEMBERS_MAX) {
    throw invalid(`limit: must be an integer between 1 and ${STORAGE_MEMBERS_MAX}`);
  }
  const [held, userId] = input.cursor ? parseCursor(input.cursor) : [Number.MAX_SAFE_INTEGER, -1];
  const workspaceId = actor.workspace.id;
  const ws = await workspaceHeld(deps.db, workspaceId);
  const rows = await deps.db.all(
    `WITH r AS (SELECT user_id, SUM(bytes) AS bytes FROM storage_reservations
                WHERE workspace_id = ? GROUP BY user_id),
     owners AS (SELECT user_id FROM storage_usage WHERE workspace_id = ?
                UNION SELECT user_id FROM r),
     m AS (SELECT o.user_id, COALESCE(s.file_bytes, 0) AS file_bytes,
             COALESCE(s.document_bytes, 0) AS document_bytes, COALESCE(r.bytes, 0) AS reserved,
             COALESCE(s.file_bytes, 0) + COALESCE(s.document_bytes, 0) + COALESCE(r.bytes, 0)
               AS held
           FROM owners o
           LEFT JOIN storage_usage s ON s.workspace_id = ? AND s.user_id = o.user_id
           LEFT JOIN r ON r.user_id = o.user_id)
     SELECT m.*, u.s_id, u.email, u.first_name, u.last_name
     FROM m LEFT JOIN users u ON u.id = m.user_id
     WHERE (m.held < ? OR (m.held = ? AND m.user_id > ?)) AND m.held > 0
     ORDER BY m.held DESC, m.user_id ASC LIMIT ?`,
    workspaceId,
    workspaceId,
    workspaceId,
    held,
    held,
    userId,
    limit + 1,
  ) as unknown as MemberUsageRow[];
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    quota: {
      memberBytes: deps.config.storageQuotaMember,
      workspaceBytes: deps.config.storageQuotaWorkspace,
    },
    workspace: {
      fileBytes: ws.files,
      documentBytes: ws.documents,
      reservedBytes: ws.reserved,
      usedBytes: ws.held,
    },
    members: page.map((r) => ({
      user: r.s_id
        ? {
          sId: r.s_id,
          email: r.email!,
          fullName: fullName({ firstName: r.first_name!, lastName: r.last_name }),
        }
        : null,
      fileBytes: r.file_bytes,
      documentBytes: r.document_bytes,
      reservedBytes: r.reserved,
      usedBytes: r.held,
    })),
    nextCursor: rows.length > limit && last ? `${last.held}.${last.user_id}` : null,
  };
}

/**
 * The usage recomputed from the rows themselves (what the counters must equal): a sum over
 * every ready file and document of the workspace. For verification and the benchmark; the
 * quotas read the counters.
 */
export async function sumStorageFromRows(
  db: Db,
  workspaceId: number,
): Promise<StorageCounter[]> {
  return rowsOf(
    await db.all(
      `SELECT owner AS user_id, SUM(f) AS file_bytes, SUM(d) AS document_bytes FROM (
       SELECT COALESCE(user_id, 0) AS owner, file_size AS f, 0 AS d FROM files
       WHERE workspace_id = ? AND status = 'ready'
       UNION ALL
       SELECT COALESCE(user_id, 0), 0, text_size FROM documents WHERE workspace_id = ?
     ) u GROUP BY owner HAVING SUM(f) != 0 OR SUM(d) != 0 ORDER BY owner`,
      workspaceId,
      workspaceId,
    ),
  );
}

/** The counter rows of a workspace, in the shape of {@link sumStorageFromRows}. */
export async function readStorageCounters(
  db: Db,
  workspaceId: number,
): Promise<StorageCounter[]> {
  return rowsOf(
    await db.all(
      `SELECT user_id, file_bytes, document_bytes
     FROM storage_usage WHERE workspace_id = ? AND (file_bytes != 0 OR document_bytes != 0)
     ORDER BY user_id`,
      workspaceId,
    ),
  );
}

export interface StorageCounter {
  userId: number;
  fileBytes: number;
  documentBytes: number;
}

function rowsOf(rows: Record<string, unknown>[]): StorageCounter[] {
  return rows.map((r) => ({
    userId: Number(r.user_id),
    fileBytes: Number(r.file_bytes),
    documentBytes: Number(r.document_bytes),
  }));
}
