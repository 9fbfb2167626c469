/**
 * The approval sweeper: expires pending tool approvals past `--tool-approval-timeout-seconds`
 * (the run resumes and tells the model the call timed out) and announces again any parked
 * message whose approvals were all decided but that no run took (a crash or a lost
 * announcement). It runs at start and then every quarter of the timeout (between 200 ms and
 * 30 s). Every instance sweeps; the expiry UPDATE and the checkpoint claim are atomic, so each
 * approval expires once and each message resumes once.
 * @module
 */
import type { Deps } from "../deps.ts";
import { expireDueApprovals, resumeDecidedRuns } from "../core/tool_approvals.ts";

export interface Sweeper {
  stop(): Promise<void>;
}

/** The sweep period for a timeout: a quarter of it, within [200 ms, 30 s]. */
export function sweepPeriodMs(timeoutSeconds: number): number {
  return Math.min(30_000, Math.max(200, Math.floor(timeoutSeconds * 250)));
}

/** Start sweeping (the first sweep now); stop() waits for a sweep in progress. */
export function startApprovalSweeper(deps: Deps): Sweeper {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = () => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        const expired = await expireDueApprovals(deps);
        const resumed = await resumeDecidedRuns(deps);
        if (expired + resumed > 0) deps.log.info("tool approvals swept", { expired, resumed });
      } catch (e) {
        if (!stopped) deps.log.warn("tool approval sweep failed", { error: String(e) });
      }
    });
  };
  sweep();
  const timer = setInterval(sweep, sweepPeriodMs(deps.config.toolApprovalTimeoutSeconds));
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
