/**
 * `dust-mcp bridge`: puts local stdio MCP servers behind a dust-mcp server's client-side MCP
 * relay, so that the user's agents can call their tools. Every local command is started and
 * probed first (a command that fails is reported and the bridge exits 1 before registering
 * anything); then each server is registered under its name and relayed (bridged_server.ts)
 * until a signal, when every registration is removed and every local process stopped.
 *
 * Status lines go to standard error, one per event and server:
 * `dust-mcp bridge: [name] connected as mcp-client-side:… (14 tools: 10 run without asking; …)`.
 * @module
 */
import { type LocalServer, LocalServerError, startLocalServer } from "./local_server.ts";
import { RelayClient } from "./relay_client.ts";
import {
  BridgedServer,
  BridgeFatal,
  type BridgeTimings,
  DEFAULT_TIMINGS,
} from "./bridged_server.ts";
import type { AskPolicy } from "./stakes.ts";

export interface BridgeOptions {
  url: string;
  workspaceId: string;
  token: string;
  /** Each local server: the command that starts it, and the name to register (or its own). */
  servers: { command: string[]; name?: string }[];
  ask: AskPolicy;
  timings?: Partial<BridgeTimings>;
  /** How long a local server may take to start and answer `initialize` and `tools/list`. */
  startTimeoutMs?: number;
}

/** The relay's limits on a server name (core/relay_registry.ts). */
const NAME_MIN = 5;
const NAME_MAX = 30;

/** A registrable name: the one given, else the local server's own, else the program's. */
export function serverNameFor(given: string | undefined, own: string, program: string): string {
  const base = (given ?? own).trim() || program.split(/[\\/]/).pop() || "local server";
  let name = base.slice(0, NAME_MAX).trim();
  if (name.length < NAME_MIN) name = `${name} (local)`.trimStart();
  return name.slice(0, NAME_MAX);
}

/** Run until `signal` aborts (exit 0) or the bridge cannot go on (exit 1). */
export async function runBridge(
  options: BridgeOptions,
  err: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  const timings = { ...DEFAULT_TIMINGS, ...options.timings };
  const say = (name: string) => (line: string) => err(`dust-mcp bridge: [${name}] ${line}`);
  const relay = new RelayClient(options);
  const locals: LocalServer[] = [];
  const bridged: BridgedServer[] = [];
  try {
    for (const s of options.servers) {
      const local = await startLocalServer(s.command, {
        timeoutMs: options.startTimeoutMs ?? 30_000,
        onStderr: (line) => err(`  ${s.command[0].split(/[\\/]/).pop()}: ${line}`),
      });
      locals.push(local);
      const name = serverNameFor(s.name, local.info.name, s.command[0]);
      bridged.push(new BridgedServer(name, local, relay, options.ask, timings, say(name)));
    }
  } catch (e) {
    await Promise.all(locals.map((l) => l.close().catch(() => {})));
    if (e instanceof LocalServerError) {
      err(`dust-mcp: bridge: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const stop = new AbortController();
  const all = AbortSignal.any([signal, stop.signal]);
  let fatal: string | null = null;
  await Promise.all(bridged.map(async (b, i) => {
    locals[i].onclose = () => {
      if (all.aborted) return;
      say(b.name)("the local server exited; its tools are no longer available");
      b.markStopped();
    };
    try {
      await b.run(all);
    } catch (e) {
      if (!(e instanceof BridgeFatal)) throw e;
      fatal ??= e.message;
      stop.abort();
    } finally {
      await b.stop();
    }
  }));
  if (fatal !== null) {
    err(`dust-mcp: bridge: ${fatal}`);
    return 1;
  }
  if (!signal.aborted) {
    err("dust-mcp: bridge: every local server exited");
    return 1;
  }
  return 0;
}
