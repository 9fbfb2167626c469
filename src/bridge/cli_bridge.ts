/**
 * The `bridge` command line: `dust-mcp bridge --url <server> --workspace <wId> --token <token>
 * [--names a,b] [--ask writes|all|none] -- <command> [args…] [-- <command> [args…]]…`.
 * Each `--` starts one local server's command (a command that needs a literal `--` of its own
 * goes through `sh -c`). `--token -` reads the token from the first line of standard input,
 * so that it does not show in the process list. SIGINT / SIGTERM stop the bridge cleanly.
 * @module
 */
import { runBridge } from "./bridge.ts";
import { ASK_POLICIES, type AskPolicy } from "./stakes.ts";

type Flags = Record<string, string | boolean | undefined>;

/** The command line is wrong: the caller prints it and exits 2. */
export class BridgeUsageError extends Error {
  override name = "BridgeUsageError";
}

/** `a b -- c d` → `[["a","b"],["c","d"]]`; an empty group is an error. */
export function commandGroups(passthrough: string[]): string[][] {
  const groups: string[][] = [[]];
  for (const word of passthrough) {
    if (word === "--") groups.push([]);
    else groups[groups.length - 1].push(word);
  }
  if (groups.some((g) => g.length === 0)) {
    throw new BridgeUsageError(
      "bridge needs a command after each --: -- <command that starts a stdio MCP server> [args…]",
    );
  }
  return groups;
}

/** The server's base URL; the MCP URL (`…/mcp`), often pasted instead, names the same server. */
export function serverUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BridgeUsageError(`--url: "${value}" is not a URL (e.g. https://dust.example.com)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new BridgeUsageError(`--url: "${value}" is not an http(s) URL`);
  }
  return url.origin + url.pathname.replace(/\/+$/, "").replace(/\/mcp$/, "");
}

/** Parse the flags and run the bridge until a signal; returns the exit code. */
export async function runBridgeCommand(
  flags: Flags,
  passthrough: string[],
  io: { err(line: string): void; readStdin(): Promise<string>; readStdinLine?(): Promise<string> },
): Promise<number> {
  const groups = commandGroups(passthrough);
  const ask = String(flags.ask ?? "writes");
  if (!(ASK_POLICIES as readonly string[]).includes(ask)) {
    throw new BridgeUsageError(`--ask: "${ask}" is not one of ${ASK_POLICIES.join(", ")}`);
  }
  const names = flags.names === undefined
    ? []
    : String(flags.names).split(",").map((n) => n.trim());
  if (names.length > groups.length) {
    throw new BridgeUsageError(`--names: ${names.length} names for ${groups.length} command(s)`);
  }
  let token = String(flags.token);
  if (token === "-") {
    if (Deno.stdin.isTerminal()) io.err("Personal access token (then Enter):");
    token = (await (io.readStdinLine?.() ?? io.readStdin())).split(/\r?\n/)[0].trim();
  }
  if (!token) throw new BridgeUsageError("--token: empty");
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    return await runBridge(
      {
        url: serverUrl(String(flags.url)),
        workspaceId: String(flags.workspace),
        token,
        servers: groups.map((command, i) => ({ command, name: names[i] || undefined })),
        ask: ask as AskPolicy,
      },
      io.err,
      controller.signal,
    );
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
  }
}
