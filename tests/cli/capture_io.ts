/**
 * A captured `Io` for `runCli` and a temp data directory, shared by the CLI tests.
 */
import type { Io } from "../../src/cli.ts";

export interface CapturedIo extends Io {
  stdout: string[];
  stderr: string[];
}

/** An `Io` that records output and serves `stdin` as standard input. */
export function captureIo(stdin = ""): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    readStdin: () => Promise.resolve(stdin),
  };
}

/** A temp data directory removed by `await using`. */
export async function tempDataDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "dust-mcp-cli-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
