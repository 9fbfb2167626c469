/**
 * First start: with no user in the database the server prints a one-time setup link. The
 * setup page creates the first admin and workspace, then the link stops working.
 *
 * A link works while the instance that printed it runs: a restart prints a new one and the old
 * one stops working (it may sit in old logs). Several instances starting on an empty database
 * each print a link of their own, and each works while its instance lives (the stored hashes
 * name their instance, added under a lock so none is lost); the first setup completed on any
 * instance ends them all.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { newSecret } from "../util/ids.ts";
import { hashSecret } from "../auth/hash.ts";
import { safeEqual } from "../auth/passwords.ts";
import { countUsers, createUser, type UserRow } from "./users.ts";
import { createWorkspace, type WorkspaceRow } from "./workspaces.ts";

const KEY = "setup_token_hash";
/** Setup links kept at once (one per live instance, bounded). */
export const MAX_SETUP_TOKENS = 16;

interface StoredLink {
  /** The token's hash. */
  h: string;
  /** The instance that printed it. */
  i: string;
}

/** The stored links of live instances (a lone hash stored by an older version counts as none). */
async function liveLinks(db: Db): Promise<StoredLink[]> {
  const row = await db.get("SELECT value FROM instance_settings WHERE key = ?", KEY) as
    | { value: string }
    | undefined;
  if (!row) return [];
  const v = JSON.parse(row.value) as unknown;
  if (!Array.isArray(v)) return [];
  const live = new Set(
    (await db.all("SELECT id FROM instances WHERE lease_until > ?", now())).map((r) =>
      String(r.id)
    ),
  );
  return v.filter((l): l is StoredLink =>
    typeof l?.h === "string" && typeof l?.i === "string" && live.has(l.i)
  );
}

/**
 * When no user exists, issue a setup token for `instanceId` (which must have its `instances`
 * row: the cluster's first heartbeat) and return it; otherwise null.
 */
export async function issueSetupToken(db: Db, instanceId: string): Promise<string | null> {
  if (await countUsers(db) > 0) return null;
  const token = newSecret();
  await db.lockedTx("dust-mcp:setup-token", async () => {
    const links = (await liveLinks(db)).filter((l) => l.i !== instanceId);
    links.push({ h: hashSecret(token), i: instanceId });
    await db.run(
      `INSERT INTO instance_settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      KEY,
      JSON.stringify(links.slice(-MAX_SETUP_TOKENS)),
      now(),
    );
  });
  return token;
}

export async function isSetupTokenValid(db: Db, token: string): Promise<boolean> {
  if (await countUsers(db) > 0) return false;
  const hash = hashSecret(token);
  let valid = false;
  // Every link compared (the same work whichever one matches).
  for (const l of await liveLinks(db)) valid = safeEqual(l.h, hash) || valid;
  return valid;
}

export interface SetupInput {
  token: string;
  email: string;
  name: string;
  password: string;
  workspaceName: string;
}

/** Create the first admin and workspace; the token is consumed in the same transaction. */
export async function completeSetup(
  db: Db,
  input: SetupInput,
): Promise<{ user: UserRow; workspace: WorkspaceRow }> {
  if (!await isSetupTokenValid(db, input.token)) {
    throw new AppError(
      403,
      "invalid_request_error",
      "This setup link has already been used or is not valid.",
    );
  }
  // Hash the password first (async), then do every write in one transaction.
  const user = await createUser(db, {
    email: input.email,
    name: input.name,
    password: input.password,
    isInstanceAdmin: true,
  }).catch((e) => {
    throw e;
  });
  try {
    const workspace = await db.tx(async () => {
      // Consuming the token here, not at the check above, makes two simultaneous submissions
      // (both past the check while hashing) end with one admin: the second finds it gone.
      const consumed = await db.run("DELETE FROM instance_settings WHERE key = ?", KEY);
      if (consumed.changes !== 1) {
        throw new AppError(409, "conflict", "This setup link has already been used.");
      }
      return await createWorkspace(db, { name: input.workspaceName, adminUserId: user.id });
    });
    return { user, workspace };
  } catch (e) {
    await db.run("DELETE FROM users WHERE id = ?", user.id);
    throw e;
  }
}
