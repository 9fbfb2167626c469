/**
 * The agent runner (`deps.agents`): starts a run for every agent message the core announces
 * (`onAgentMessageCreated`), at most {@link MAX_CONCURRENT_RUNS} at a time (the rest queue),
 * with one AbortController per message. A user's cancel (the core publishes
 * `agent_generation_cancelled` on the message stream) aborts the run; so does server stop,
 * which also marks the interrupted messages `failed`. At startup, messages left `created` by
 * a crash or `kill -9` are marked `failed` with a reason: no message is ever stuck.
 * @module
 */
import type { Deps } from "../deps.ts";
import { type AgentMessageCreated, onAgentMessageCreated } from "../core/agent_messages.ts";
import { messageStream } from "../core/conversation_events.ts";
import { listUnfinishedAgentMessages } from "../core/agent_runs.ts";
import {
  type AbortReason,
  failAgentMessage,
  INTERRUPTED_MESSAGE,
  runAgentMessage,
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
  #unsubscribe: (() => void) | null = null;
  #deps: Deps | null = null;

  private get deps(): Deps {
    if (!this.#deps) throw new Error("AgentRunner.start() was not called");
    return this.#deps;
  }

  /** Fail what a previous process left running, then follow new agent messages. */
  async start(deps: Deps): Promise<void> {
    this.#deps = deps;
    await this.#recoverInterrupted();
    this.#unsubscribe = onAgentMessageCreated(this.deps, (job) => {
      this.#enqueue(job).catch((e) =>
        this.deps.log.error("agent message not queued", { error: String(e) })
      );
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
      if (left.length === 0) return;
      await this.#failInterrupted(left);
    }
  }

  async #failInterrupted(
    messages: Awaited<ReturnType<typeof listUnfinishedAgentMessages>>,
  ): Promise<void> {
    for (const m of messages) {
      await failAgentMessage(this.deps, {
        workspaceId: m.workspaceId,
        workspaceSId: m.workspaceSId,
        conversationSId: m.conversationSId,
        messageSId: m.messageSId,
        agentSId: m.agentSId,
        userId: null,
      }, { code: "agent_interrupted", message: INTERRUPTED_MESSAGE });
      this.deps.log.warn("agent message interrupted by a restart marked failed", {
        messageId: m.messageSId,
      });
    }
  }

  async #enqueue(job: AgentMessageCreated): Promise<void> {
    if (this.deps.shutdown.aborted) return;
    // A message announced twice (a resume after tool approvals racing its expiry) runs once.
    if (
      this.#running.has(job.messageSId) ||
      this.#queue.some((j) => j.messageSId === job.messageSId)
    ) return;
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
      const type = (e as { data?: { type?: string } }).data?.type;
      if (type === "agent_generation_cancelled") controller.abort("cancelled");
    });
    this.#running.set(job.messageSId, { job, controller, unsubscribe });
    const p = runAgentMessage(this.deps, job, controller.signal).catch((e) =>
      this.deps.log.error("agent run crashed", { messageId: job.messageSId, error: String(e) })
    ).finally(() => {
      unsubscribe();
      this.#running.delete(job.messageSId);
      this.#settled.delete(p);
      this.#drain();
    });
    this.#settled.add(p);
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
        await failAgentMessage(this.deps, job, {
          code: "agent_interrupted",
          message: INTERRUPTED_MESSAGE,
        });
      } catch (e) {
        this.deps.log.error("could not mark an interrupted agent message", { error: String(e) });
      }
    }
  }
}
