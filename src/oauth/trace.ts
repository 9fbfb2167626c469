/**
 * Hooks that feed the OAuth trace (src/core/oauth_traces.ts) from the OAuth endpoints: each
 * traced handler fills a {@link TraceNote} (client, workspace, grant, a refusal reason when it
 * renders one itself) and {@link OAuthTracer.run} times it and writes one row. A thrown
 * OAuthError's description is the reason. Writing never fails the request (a failed write is
 * logged), and refusals are written within a per-process budget, so a flood of bad requests
 * cannot grow the table faster than the prune job empties it.
 * @module
 */
import type { Deps } from "../deps.ts";
import { OAuthError } from "../core/oauth_error.ts";
import { AppError } from "../errors.ts";
import { recordTrace, type TraceEntry, type TraceStep } from "../core/oauth_traces.ts";

/** Refusal rows written per process per window (successes are bounded by the flows). */
export const REFUSAL_TRACE_BUDGET = { count: 300, windowMs: 10 * 60_000 };

export interface TraceNote {
  clientId?: string;
  clientKind?: string | null;
  clientName?: string | null;
  workspaceId?: number | null;
  workspaceSId?: string | null;
  grantSId?: string | null;
  /** Set by a handler that renders a refusal itself (an error page, a denial redirect). */
  reason?: string;
  detail?: string | null;
}

export class OAuthTracer {
  #windowStart = 0;
  #refusals = 0;
  constructor(readonly deps: Deps) {}

  /** Write one row (refusals within the budget); never throws. */
  async record(entry: TraceEntry): Promise<void> {
    if (!entry.ok) {
      const t = Date.now();
      if (t - this.#windowStart >= REFUSAL_TRACE_BUDGET.windowMs) {
        this.#windowStart = t;
        this.#refusals = 0;
      }
      if (++this.#refusals > REFUSAL_TRACE_BUDGET.count) return;
    }
    try {
      await recordTrace(this.deps.db, entry);
    } catch (e) {
      this.deps.log.warn("oauth trace write failed", { error: (e as Error).message });
    }
  }

  /** Run a handler, then trace its step from the note it filled and how it ended. */
  async run(
    step: TraceStep,
    handler: (note: TraceNote) => Promise<Response>,
    userAgent?: string,
  ): Promise<Response> {
    const started = performance.now();
    const note: TraceNote = {};
    const doctor = isDoctor(userAgent);
    let res: Response;
    try {
      res = await handler(note);
    } catch (e) {
      const status = e instanceof OAuthError || e instanceof AppError ? e.status : 500;
      const reason = e instanceof OAuthError
        ? `${e.code}: ${e.description}`
        : e instanceof AppError
        ? e.message
        : "internal error";
      await this.record(entryOf(step, note, false, status, reason, started, doctor));
      throw e;
    }
    const ok = res.status < 400 && note.reason === undefined;
    await this.record(entryOf(step, note, ok, res.status, note.reason ?? null, started, doctor));
    return res;
  }
}

function entryOf(
  step: TraceStep,
  note: TraceNote,
  ok: boolean,
  status: number,
  reason: string | null,
  started: number,
  doctor: boolean,
): TraceEntry {
  return {
    step,
    clientId: note.clientId ?? "",
    clientKind: note.clientKind ?? null,
    clientName: note.clientName ?? null,
    workspaceId: note.workspaceId ?? null,
    workspaceSId: note.workspaceSId ?? null,
    grantSId: note.grantSId ?? null,
    ok,
    status,
    reason,
    detail: doctor ? `doctor run; ${note.detail ?? ""}` : note.detail ?? null,
    durationMs: performance.now() - started,
  };
}

/** Requests the connection doctor makes are marked in the trace (src/doctor/http.ts). */
export function isDoctor(userAgent: string | null | undefined): boolean {
  return !!userAgent && userAgent.startsWith("dust-mcp-doctor/");
}
