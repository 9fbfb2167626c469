/**
 * The connection doctor's simulated user (issue 16): it answers the consent step of a pending
 * authorization request on behalf of a workspace admin — the same checks the consent page makes
 * (client still valid, the workspace's MCP switch and redirect allowlist) — and issues the code
 * the doctor then exchanges at `/token` over HTTP. Afterwards {@link cleanUpDoctorRun} revokes
 * the grant (and its refresh tokens: the access token dies with it, `/mcp` re-checks the grant
 * on every request), deletes the clients the doctor registered and closes its other pending
 * requests, so no usable credential is left behind.
 * @module
 */
import type { Db } from "../db/db.ts";
import { now } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { completeAuthRequest, findAuthRequest } from "./oauth_requests.ts";
import { findClient } from "./oauth_clients.ts";
import { issueCode } from "./oauth_codes.ts";
import { oauthClientRefusal } from "./workspace_settings.ts";
import { findWorkspaceBySId, type WorkspaceRow } from "./workspaces.ts";
import { recordTrace } from "./oauth_traces.ts";
import type { Actor, UserActor } from "../auth/actor.ts";
import { requireWorkspaceRole } from "./access.ts";

export type DoctorApproval =
  | { ok: true; code: string; redirectUri: string; resource: string }
  | { ok: false; reason: string };

/** The workspace and admin a doctor run acts for (CLI: `--workspace`, or the only one). */
export async function doctorSubject(
  db: Db,
  workspaceSId: string | null,
): Promise<{ workspace: WorkspaceRow; userId: number }> {
  let ws: WorkspaceRow | null = null;
  if (workspaceSId) {
    ws = await findWorkspaceBySId(db, workspaceSId);
  } else {
    const all = await db.all("SELECT s_id FROM workspaces ORDER BY id LIMIT 2") as {
      s_id: string;
    }[];
    if (all.length > 1) {
      throw new AppError(400, "invalid_request_error", "Several workspaces: name one.");
    }
    if (all.length === 1) ws = await findWorkspaceBySId(db, all[0].s_id);
  }
  if (!ws) throw new AppError(404, "workspace_not_found", "The workspace was not found.");
  const admin = await db.get(
    "SELECT user_id FROM memberships WHERE workspace_id = ? AND role = 'admin' ORDER BY user_id LIMIT 1",
    ws.id,
  ) as { user_id: number | string } | undefined;
  if (!admin) throw new AppError(400, "invalid_request_error", "The workspace has no admin.");
  return { workspace: ws, userId: Number(admin.user_id) };
}

/** Approve a pending request as the simulated user, with the consent page's checks. */
export async function approveAsDoctor(
  db: Db,
  requestId: string,
  subject: { workspaceId: number; userId: number },
): Promise<DoctorApproval> {
  const started = performance.now();
  const lookup = await findAuthRequest(db, requestId);
  if (lookup.status !== "ok") return { ok: false, reason: `the request is ${lookup.status}` };
  const p = lookup.params;
  const client = await findClient(db, p.clientId);
  if (!client) return { ok: false, reason: "the client is no longer registered" };
  if (client.workspaceId !== null && client.workspaceId !== subject.workspaceId) {
    return { ok: false, reason: "the client is registered for another workspace" };
  }
  const refusal = await oauthClientRefusal(db, subject.workspaceId, client.clientId);
  const trace = (ok: boolean, reason: string | null) =>
    recordTrace(db, {
      step: "consent",
      clientId: client.clientId,
      clientKind: client.kind,
      clientName: client.name,
      workspaceId: subject.workspaceId,
      ok,
      status: ok ? 303 : 403,
      reason,
      detail: "doctor run; simulated user",
      durationMs: performance.now() - started,
    });
  if (refusal) {
    await trace(false, refusal);
    await completeAuthRequest(db, requestId, { userId: subject.userId, workspaceId: null });
    return { ok: false, reason: refusal };
  }
  if (!await completeAuthRequest(db, requestId, subject)) {
    return { ok: false, reason: "the request was already answered" };
  }
  const code = await issueCode(db, {
    clientId: client.clientId,
    userId: subject.userId,
    workspaceId: subject.workspaceId,
    redirectUri: p.redirectUri,
    redirectUriSent: p.redirectUriSent,
    codeChallenge: p.codeChallenge,
    scopes: p.scopes,
    resource: p.resource,
  });
  await trace(true, null);
  return { ok: true, code, redirectUri: p.redirectUri, resource: p.resource };
}

/** What a doctor run leaves to clean up. */
export interface DoctorLeftovers {
  /** Dynamically registered clients (the doctor's own registrations). */
  dcrClientIds: string[];
  grantSIds: string[];
  /** Pending requests it opened and did not approve. */
  requestIds: string[];
  userId: number;
}

/** Revoke the run's grants, delete its registrations, close its pending requests. */
export async function cleanUpDoctorRun(db: Db, left: DoctorLeftovers, at = now()): Promise<void> {
  for (const id of left.requestIds) {
    await completeAuthRequest(db, id, { userId: left.userId, workspaceId: null }, at);
  }
  await db.tx(async () => {
    for (const sId of left.grantSIds) {
      await db.run(
        `UPDATE oauth_refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL
           AND grant_id IN (SELECT id FROM oauth_grants WHERE s_id = ?)`,
        at,
        sId,
      );
      await db.run(
        `UPDATE oauth_grants SET revoked_at = ?, revoked_reason = 'doctor_cleanup'
         WHERE s_id = ? AND revoked_at IS NULL`,
        at,
        sId,
      );
    }
    for (const clientId of left.dcrClientIds) {
      await db.run("DELETE FROM oauth_codes WHERE client_id = ?", clientId);
      await db.run("DELETE FROM oauth_clients WHERE client_id = ? AND kind = 'dcr'", clientId);
    }
  });
}

/** Rule: the connection doctor (it approves as the viewer) is for workspace admins. */
export function requireDoctorRunner(actor: Actor): UserActor {
  return requireWorkspaceRole(actor, ["admin"], "Only workspace admins can run the doctor.");
}
