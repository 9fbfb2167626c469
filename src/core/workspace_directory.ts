/**
 * Facts about a workspace that Dust serves to its system key (`@dust-tt/client`
 * `getActiveMemberEmailsInWorkspace`, `getWorkspaceVerifiedDomains`,
 * `getWorkspaceFeatureFlags`), read here by workspace admins and API keys
 * (`canReadWorkspaceDirectory`). Anyone else gets Dust's answer to a non-system key: 404
 * `workspace_not_found`.
 *
 * This server verifies no email domains (people join by invitation or setup link) and has no
 * Dust feature flags: both lists are empty, in Dust's shapes.
 * @module
 */
import type { Deps } from "../deps.ts";
import type { Actor } from "../auth/actor.ts";
import { AppError } from "../errors.ts";
import { canReadWorkspaceDirectory } from "./access.ts";

/** Most emails one answer lists (the SDK does not page). */
export const MEMBER_EMAILS_MAX = 10_000;

function requireDirectoryReader(actor: Actor): void {
  if (!canReadWorkspaceDirectory(actor)) {
    throw new AppError(404, "workspace_not_found", "The workspace was not found.");
  }
}

/** `GET members/emails` → `{ emails }`: every member's email (all memberships are active). */
export async function listActiveMemberEmails(
  deps: Deps,
  actor: Actor,
): Promise<{ emails: string[] }> {
  requireDirectoryReader(actor);
  const rows = await deps.db.all(
    `SELECT u.email AS email FROM memberships m JOIN users u ON u.id = m.user_id
     WHERE m.workspace_id = ? ORDER BY m.id LIMIT ?`,
    actor.workspace.id,
    MEMBER_EMAILS_MAX,
  ) as { email: string }[];
  return { emails: rows.map((r) => r.email) };
}

/** `GET verified_domains` → `{ verified_domains: [] }` (no domain verification here). */
export function listVerifiedDomains(
  _deps: Deps,
  actor: Actor,
): { verified_domains: { domain: string; domainAutoJoinEnabled: boolean }[] } {
  requireDirectoryReader(actor);
  return { verified_domains: [] };
}

/** `GET feature_flags` → `{ feature_flags: [] }` (Dust's flags name Dust's features). */
export function listFeatureFlags(_deps: Deps, actor: Actor): { feature_flags: string[] } {
  requireDirectoryReader(actor);
  return { feature_flags: [] };
}
