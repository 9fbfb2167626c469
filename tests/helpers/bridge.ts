/**
 * `dust-mcp bridge` as a separate process for tests (`deno run main.ts bridge …`), its
 * standard error read line by line; and the official filesystem MCP server from the node
 * tools cache (tests/helpers/node_tools.json) as the local server it bridges.
 *
 * ```ts
 * await using bridge = startBridge(["--url", server.url, …, "--", ...filesystemServer(dir)]);
 * const [, serverId] = await bridge.waitForLine(/connected as (\S+)/);
 * ```
 */
import { join } from "node:path";
import { nodeToolsDir } from "./s3_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** `node <server-filesystem> <dir>`: the command line of the official filesystem server. */
export function filesystemServer(dir: string): string[] {
  const entry = join(nodeToolsDir(), "@modelcontextprotocol/server-filesystem/dist/index.js");
  try {
    Deno.statSync(entry);
  } catch {
    throw new Error(
      `@modelcontextprotocol/server-filesystem is not installed at ${entry}: install ` +
        "tests/helpers/node_tools.json (see scripts/test.ts)",
    );
  }
  return ["node", entry, dir];
}

export interface BridgeProcess extends AsyncDisposable {
  /** Every standard-error line so far. */
  lines: string[];
  /** The first line (from `from` on) matching `re`, waiting at most `ms`. */
  waitForLine(re: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  /** The exit code, waiting at most `ms` (then the process is killed and this throws). */
  exited(ms?: number): Promise<number>;
  /** SIGTERM, then the exit code (SIGKILL after 10 s). */
  stop(): Promise<number>;
}

/** Start `dust-mcp bridge <args>`; `stdin` is written then closed (for `--token -`). */
export function startBridge(args: string[], options: { stdin?: string } = {}): BridgeProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "bridge", ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    void w.write(new TextEncoder().encode(options.stdin)).then(() => w.close());
  }
  const lines: string[] = [];
  const changed = new Set<() => void>();
  const reading = (async () => {
    let partial = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts);
      for (const f of changed) f();
    }
    if (partial) lines.push(partial);
    for (const f of changed) f();
  })();
  const status = child.status;
  let done = false;
  void status.then(() => (done = true));

  const waitForLine = async (re: RegExp, ms = 20_000, from = 0) => {
    const deadline = Date.now() + ms;
    for (;;) {
      for (let i = from; i < lines.length; i++) {
        const m = lines[i].match(re);
        if (m) return m;
      }
      const left = deadline - Date.now();
      if (left <= 0 || done) {
        if (done) await reading;
        const again = lines.slice(from).map((l) => l.match(re)).find((m) => m);
        if (again) return again;
        throw new Error(`no stderr line matching ${re} within ${ms} ms:\n${lines.join("\n")}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(wake, Math.min(left, 250));
        function wake() {
          clearTimeout(t);
          changed.delete(wake);
          resolve();
        }
        changed.add(wake);
      });
    }
  };
  const exited = async (ms = 20_000) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
    const r = await Promise.race([status, timeout]);
    clearTimeout(timer);
    if (r === "timeout") {
      kill("SIGKILL");
      await status;
      await reading;
      throw new Error(`the bridge did not exit within ${ms} ms:\n${lines.join("\n")}`);
    }
    await reading;
    return r.code;
  };
  const kill = (s: Deno.Signal) => {
    try {
      child.kill(s);
    } catch { /* already gone */ }
  };
  const stop = async () => {
    if (!done) kill("SIGTERM");
    return await exited(10_000);
  };
  return {
    lines,
    waitForLine,
    exited,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop().catch(() => {});
    },
  };
}
