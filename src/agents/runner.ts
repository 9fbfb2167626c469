/**
 * The agent runner (`deps.agents`): starts a run for every agent message the core announces
 * (`onAgentMessageCreated`, this instance's posts only), at most {@link MAX_CONCURRENT_RUNS} at
 * a time (the rest queue), with one AbortController per message. A user's cancel (the core
 * publishes `agent_generation_cancelled` on the message stream, from any instance) aborts the
 * run; so does server stop, which also marks the interrupted messages `failed`.
 *
 * Each unfinished message has a lease (`agent_runs`, src/core/agent_runs.ts): the instance that
 * created it runs it and renews the leases of its runs on every cluster tick. An instance that
 * dies (SIGKILL, OOM, a lost machine) stops renewing; once a lease passed (at most
 * `--work-lease-seconds` after the last renewal) another instance claims it and ends the
 * message `failed` (`agent_interrupted`) — never re-runs it: the first attempt may already
 * have streamed tokens and run tools (files written, a client-side tool called on the user's
 * machine), which Dust's event protocol cannot take back and a second attempt would repeat;
 * the user retries, as after a restart. A run whose lease another instance took (this instance
 * stalled past its lease) is aborted and writes nothing more.
 *
 * One instance alone (SQLite): at startup every message left `created` by a crash or `kill -9`
 * is marked `failed` with a reason at once, as no other instance can be running it.
 * @module
 */
import type { Deps } from "../deps.ts";
import { type AgentMessageCreated, onAgentMessageCreated } from "../core/agent_messages.ts";
import { messageStream } from "../core/conversation_events.ts";
import {
  claimExpiredAgentRuns,
  endAgentRun,
  forgetAllAgentRuns,
  leaseAgentRunHere,
  listUnfinishedAgentMessages,
  renewAgentRuns,
  type UnfinishedAgentMessage,
} from "../core/agent_runs.ts";
import { isResync } from "../events/bus.ts";
import {
  type AbortReason,
  failAgentMessage,
  INTERRUPTED_MESSAGE,
  runAgentMessage,
  TAKEN_OVER_MESSAGE,
} from "./loop.ts";

/** Runs in flight at once; more wait in a queue (the model endpoint is the bottleneck). */
export const MAX_CONCURRENT_RUNS = 8;
/** Queue bound: beyond it, new messages fail at once instead of waiting unboundedly. */
export const MAX_QUEUED_RUNS = 1000;

interface Run {
  job: AgentMessageCreated;
  controller: AbortController;
  unsubscribe: () => void;
}

export class AgentRunner {
  readonly #running = new Map<string, Run>();
  readonly #queue: AgentMessageCreated[] = [];
  readonly #settled = new Set<Promise<void>>();
  readonly #resumeAfter = new Map<string, AgentMessageCreated>();
  #unsubscribe: (() => void) | null = null;
  #deps: Deps | null = null;

  private get deps(): Deps {
    if (!this.#deps) throw new Error("AgentRunner.start() was not called");
    return this.#deps;
  }

  /**
   * Alone on the database: fail what a previous process left running. Then follow new agent
   * messages, and on every cluster tick renew this instance's leases and take over expired ones.
   */
  async start(deps: Deps): Promise<void> {
    this.#deps = deps;
    if (!deps.events.shared) await this.#recoverInterrupted();
    this.#unsubscribe = onAgentMessageCreated(this.deps, (job) => {
      if (typeof job?.messageSId !== "string") return;
      this.#enqueue(job).catch((e) =>
        this.deps.log.error("agent message not queued", { error: String(e) })
      );
    });
    deps.cluster.onTick(async () => {
      await this.renewLeases();
      await this.takeOver();
    });
    this.deps.shutdown.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /** Number of runs in flight (tests, metrics). */
  get active(): number {
    return this.#running.size;
  }

  /** Abort a message's run (no-op when it is not running); the core records the status. */
  cancel(messageSId: string, reason: AbortReason = "cancelled"): boolean {
    const run = this.#running.get(messageSId);
    if (run) {
      run.controller.abort(reason);
      return true;
    }
    const i = this.#queue.findIndex((j) => j.messageSId === messageSId);
    if (i >= 0) this.#queue.splice(i, 1);
    return i >= 0;
  }

  /** Resolves when every run started so far has ended (bounded by the runs' own limits). */
  async idle(): Promise<void> {
    while (this.#settled.size > 0) await Promise.allSettled([...this.#settled]);
  }

  async #recoverInterrupted(): Promise<void> {
    // Batches of 1,000, bounded: each failed message leaves the `created` set.
    for (let batch = 0; batch < 100; batch++) {
      const left = await listUnfinishedAgentMessages(this.deps);
      if (left.length === 0) break;
      for (const m of left) {
        await failAgentMessage(this.deps, jobOf(m), {
          code: "agent_interrupted",
          message: INTERRUPTED_MESSAGE,
        });
        this.deps.log.warn("agent message interrupted by a restart marked failed", {
          messageId: m.messageSId,
        });
      }
    }
    await forgetAllAgentRuns(this.deps);
  }

  /**
   * Renew the leases of this instance's runs (queued ones too); a running message whose lease
   * another instance took meanwhile is aborted without writing anything more.
   */
  async renewLeases(): Promise<void> {
    const held = await renewAgentRuns(
      this.deps,
      this.deps.instanceId,
      this.deps.cluster.leaseUntil(),
    );
    for (const [sId, run] of this.#running) {
      if (!held.has(sId)) {
        this.deps.log.warn("agent run taken over by another instance; stopping it here", {
          messageId: sId,
        });
        run.controller.abort("lease_lost");
      }
    }
  }

  /** Claim runs of dead instances (bounded per tick) and end their messages. */
  async takeOver(): Promise<void> {
    if (this.deps.shutdown.aborted) return;
    const runs = await claimExpiredAgentRuns(this.deps, {
      instanceId: this.deps.instanceId,
      at: Date.now(),
      leaseUntil: this.deps.cluster.leaseUntil(),
      limit: 100,
    });
    for (const run of runs) {
      if (run.status === "created") {
        await failAgentMessage(this.deps, jobOf(run), {
          code: "agent_interrupted",
          message: TAKEN_OVER_MESSAGE,
        });
        this.deps.log.warn("agent message of a dead instance marked failed", {
          messageId: run.messageSId,
        });
      }
      await endAgentRun(this.deps, run.messageSId, this.deps.instanceId);
    }
  }

  async #enqueue(job: AgentMessageCreated): Promise<void> {
    if (this.deps.shutdown.aborted) return;
    // A message announced twice (a resume after tool approvals racing its expiry) runs once.
    if (this.#running.has(job.messageSId)) {
      // A resume announced while the run that parked is still finishing: it runs right after
      // (its lease is already taken for it).
      if (job.resume) this.#resumeAfter.set(job.messageSId, job);
      return;
    }
    if (this.#queue.some((j) => j.messageSId === job.messageSId)) return;
    if (this.#queue.length >= MAX_QUEUED_RUNS) {
      await failAgentMessage(this.deps, job, {
        code: "agent_overloaded",
        message: "Too many agent messages are waiting on this instance; retry later.",
      });
      return;
    }
    this.#queue.push(job);
    this.#drain();
  }

  #drain(): void {
    while (this.#running.size < MAX_CONCURRENT_RUNS && this.#queue.length > 0) {
      this.#launch(this.#queue.shift()!);
    }
  }

  #launch(job: AgentMessageCreated): void {
    const controller = new AbortController();
    const unsubscribe = this.deps.events.subscribe(messageStream(job.messageSId), (e) => {
      // The full event here, its note `{eventId, type}` from another instance, or a resync.
      const ev = e as { type?: string; data?: { type?: string } };
      const type = ev.data?.type ?? ev.type;
      if (type === "agent_generation_cancelled") controller.abort("cancelled");
      else if (isResync(e)) void this.#abortIfCancelled(job.messageSId, controller);
    });
    this.#running.set(job.messageSId, { job, controller, unsubscribe });
    const p = runAgentMessage(this.deps, job, controller.signal).catch((e) =>
      this.deps.log.error("agent run crashed", { messageId: job.messageSId, error: String(e) })
    ).finally(async () => {
      unsubscribe();
      const sId = job.messageSId;
      if (!this.#resumeAfter.has(sId) && controller.signal.reason !== "lease_lost") {
        await endAgentRun(this.deps, sId, this.deps.instanceId).catch((e) =>
          this.deps.log.warn("agent run lease not released", { error: String(e) })
        );
      }
      // A resume announced meanwhile (even during the release above) runs next, on a lease
      // taken again in case the release removed it.
      const resume = this.#resumeAfter.get(sId);
      this.#resumeAfter.delete(sId);
      if (resume && await leaseAgentRunHere(this.deps, sId).catch(() => false)) {
        this.#queue.push(resume);
      }
      this.#running.delete(sId);
      this.#settled.delete(p);
      this.#drain();
    });
    this.#settled.add(p);
  }

  /** After a gap on the bus: a cancel may have been missed; the status says. */
  async #abortIfCancelled(messageSId: string, controller: AbortController): Promise<void> {
    const left = await listUnfinishedAgentMessages(this.deps, 1, messageSId).catch(() => null);
    if (left !== null && left.length === 0) controller.abort("cancelled");
  }

  #stopping: Promise<void> | null = null;

  /**
   * Server stop (the server awaits it before closing the database): abort the runs so they
   * write nothing more, then mark every running and queued message failed.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    this.#unsubscribe?.();
    const interrupted = [...this.#running.values()].map((r) => r.job).concat(this.#queue);
    this.#queue.length = 0;
    for (const r of this.#running.values()) r.controller.abort("shutdown");
    for (const job of interrupted) {
      try {
        // A run that parked on tool approvals just before the stop is not interrupted: its
        // checkpoint waits in the database and resumes after the restart.
        const unfinished = await listUnfinishedAgentMessages(this.deps, 1, job.messageSId);
        if (unfinished.length === 0) {
          await endAgentRun(this.deps, job.messageSId, this.deps.instanceId);
          continue;
        }
        await failAgentMessage(this.deps, job, {
          code: "agent_interrupted",
          message: INTERRUPTED_MESSAGE,
        });
        await endAgentRun(this.deps, job.messageSId, this.deps.instanceId);
      } catch (e) {
        this.deps.log.error("could not mark an interrupted agent message", { error: String(e) });
      }
    }
  }
}

/** The runner's job for a message it did not receive from a post (restart, takeover). */
function jobOf(m: UnfinishedAgentMessage): AgentMessageCreated {
  return {
    workspaceId: m.workspaceId,
    workspaceSId: m.workspaceSId,
    conversationSId: m.conversationSId,
    messageSId: m.messageSId,
    agentSId: m.agentSId,
    userId: null,
  };
}
