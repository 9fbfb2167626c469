/**
 * One local stdio MCP server, started and spoken to with the official MCP SDK
 * (`StdioClientTransport`: the process, its stdin/stdout framing; `Client`: the handshake).
 *
 * {@link startLocalServer} spawns the command and probes it with an SDK `Client`
 * (`initialize`, then `tools/list`), so that a command that does not start, or starts
 * something that is not an MCP server, fails at once with a clear reason, and so that the
 * bridge knows the server's name and tools. The transport is then taken over for relaying:
 * JSON-RPC messages from the relay go to the process unchanged; what the process answers comes
 * back through `onmessage`. The probe's `Client` is left behind (it has nothing pending).
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client";
// The SDK's "./*" export maps `x.js` to types `x.js.d.ts`, which do not exist: name them.
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";
import { VERSION } from "../version.ts";

/** A tool as `tools/list` describes it (what the bridge reports and declares stakes from). */
export interface LocalTool {
  name: string;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean };
}

export interface LocalServer {
  /** The server's own name and version (`serverInfo` of its `initialize` answer). */
  info: { name: string; version: string };
  tools: LocalTool[];
  /** Messages from the process (answers, its notifications and requests). */
  onmessage: (message: JSONRPCMessage) => void;
  /** The process ended (by itself or after {@link LocalServer.close}). */
  onclose: () => void;
  send(message: JSONRPCMessage): Promise<void>;
  close(): Promise<void>;
}

/** Why a local server could not be started or probed: one line for the user. */
export class LocalServerError extends Error {
  override name = "LocalServerError";
}

/** Lines of the process's standard error kept for an error message. */
const KEPT_STDERR_LINES = 5;

/** Start `command` (`[program, ...args]`) and probe it within `timeoutMs`. */
export async function startLocalServer(
  command: string[],
  options: { timeoutMs: number; onStderr?: (line: string) => void },
): Promise<LocalServer> {
  const [program, ...args] = command;
  const shown = command.join(" ");
  const permission = await Deno.permissions.query({ name: "run", command: program });
  if (permission.state !== "granted") {
    throw new LocalServerError(
      `cannot run "${program}": this dust-mcp may not start programs ` +
        "(run the bridge with `deno task bridge` or `deno run --allow-run …`)",
    );
  }
  // The bridge's own environment, as if the command were run from the same shell (the SDK
  // alone would pass only HOME, PATH and a few others: a server's API key would be lost).
  const env = Deno.env.toObject();
  const transport = new StdioClientTransport({ command: program, args, env, stderr: "pipe" });
  const lastWords: string[] = [];
  const stderr = transport.stderr;
  let partial = "";
  stderr?.on("data", (chunk: Uint8Array | string) => {
    const lines = (partial + chunk.toString()).split(/\r?\n/);
    partial = lines.pop() ?? "";
    if (partial.length > 4096) partial = partial.slice(0, 4096);
    for (const line of lines) {
      if (!line.trim()) continue;
      lastWords.push(line.slice(0, 500));
      if (lastWords.length > KEPT_STDERR_LINES) lastWords.shift();
      options.onStderr?.(line.slice(0, 2000));
    }
  });
  const client = new Client({ name: "dust-mcp-bridge", version: VERSION });
  const failure = (what: string, e: unknown) => {
    const said = lastWords.length ? ` (it said: ${lastWords.join(" | ")})` : "";
    return new LocalServerError(`${shown}: ${what}: ${(e as Error)?.message ?? e}${said}`);
  };
  try {
    await client.connect(transport, { timeout: options.timeoutMs });
  } catch (e) {
    await transport.close().catch(() => {});
    const code = (e as { code?: unknown })?.code;
    throw failure(
      code === "ENOENT" ? "command not found" : "did not start an MCP server on standard I/O",
      e,
    );
  }
  let tools: LocalTool[];
  try {
    tools = await listTools(client, options.timeoutMs);
  } catch (e) {
    await transport.close().catch(() => {});
    throw failure("tools/list failed", e);
  }
  const info = client.getServerVersion() ?? { name: "", version: "" };
  const server: LocalServer = {
    info: { name: String(info.name ?? ""), version: String(info.version ?? "") },
    tools,
    onmessage: () => {},
    onclose: () => {},
    send: async (message) => await transport.send(message),
    close: async () => await transport.close(),
  };
  // Take the transport over from the probe's client.
  transport.onmessage = (message) => server.onmessage(message);
  transport.onclose = () => server.onclose();
  transport.onerror = () => {};
  return server;
}

/** Every page of `tools/list` (at most 20 pages). */
async function listTools(client: Client, timeoutMs: number): Promise<LocalTool[]> {
  const out: LocalTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await client.listTools(cursor ? { cursor } : {}, { timeout: timeoutMs });
    out.push(...res.tools.map((t) => ({ name: t.name, annotations: t.annotations })));
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return out;
}
