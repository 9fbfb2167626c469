/**
 * A real client-side MCP server for tests: an MCP SDK `McpServer` with a `get_secret` tool
 * (and a `slow` tool that never answers in time), connected to the test server through
 * `DustMcpServerTransport` from `@dust-tt/client` — Dust's own relay client, unchanged.
 *
 * ```ts
 * await using local = await startLocalMcpServer(server, alice, { secret: "s3cr3t" });
 * local.serverId; // mcp-client-side:local_tools.<hex>
 * ```
 */
import { DustAPI, DustMcpServerTransport } from "@dust-tt/client";
// The SDK's "./*" export maps `x.js` to types `x.js.d.ts`, which do not exist: name them.
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ServerHandle } from "../../src/server.ts";
import { requestChannel } from "../../src/core/relay_requests.ts";

export interface LocalMcpServer extends AsyncDisposable {
  serverId: string;
  /** Arguments of every `get_secret` call received. */
  calls: { label: string }[];
  close(): Promise<void>;
}

export interface LocalMcpOptions {
  /** Text the `get_secret` tool answers (prefixed with the label it was asked for). */
  secret: string;
  serverName?: string;
  /** Also offer `slow_tool`, which answers only after this many milliseconds. */
  slowMs?: number;
}

/** A quiet logger for `DustAPI` (its errors are expected in failure tests). */
export const quietLogger = { error() {}, info() {}, warn() {}, trace() {} };

/** Wait until `check()` is true, polling every 10 ms, for at most `ms`. */
export async function waitFor(check: () => boolean, ms = 5_000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A `DustAPI` client pointed at the test server for one token and workspace. */
export function dustApiFor(
  server: Pick<ServerHandle, "url">,
  token: string,
  workspaceSId: string,
): DustAPI {
  return new DustAPI(
    { url: server.url },
    { apiKey: token, workspaceId: workspaceSId },
    quietLogger,
  );
}

/** Start the local MCP server and wait until its request stream is open on the server. */
export async function startLocalMcpServer(
  /** Without `deps` (another process), only the registration is waited for: requests sent
   * before its stream opens are replayed from the log. */
  server: Pick<ServerHandle, "url"> & Partial<Pick<ServerHandle, "deps">>,
  who: { token: string; workspace: { sId: string } },
  options: LocalMcpOptions,
): Promise<LocalMcpServer> {
  const calls: { label: string }[] = [];
  const mcp = new McpServer({ name: "local-tools", version: "1.0.0" });
  mcp.registerTool("get_secret", {
    description: "Returns the local secret for a label.",
    inputSchema: { label: z.string() },
  }, ({ label }) => {
    calls.push({ label });
    return { content: [{ type: "text", text: `${label}: ${options.secret}` }] };
  });
  const pending = new Set<Awaited<ReturnType<typeof setTimeout>>>();
  if (options.slowMs !== undefined) {
    const ms = options.slowMs;
    mcp.registerTool(
      "slow_tool",
      { description: "Takes its time." },
      () =>
        new Promise((resolve) => {
          const t = setTimeout(() => {
            pending.delete(t);
            resolve({ content: [{ type: "text", text: "slow answer" }] });
          }, ms);
          pending.add(t);
        }),
    );
  }
  mcp.registerTool("progress_tool", { description: "Reports progress, then answers." }, async (
    extra,
  ) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({
        method: "notifications/progress",
        params: { progressToken: token, progress: 1, total: 2, message: "half way" },
      });
    }
    return { content: [{ type: "text", text: "progress done" }] };
  });
  let serverId = "";
  const transport = new DustMcpServerTransport(
    dustApiFor(server, who.token, who.workspace.sId),
    (id) => (serverId = id),
    options.serverName ?? "Local Tools",
  );
  await mcp.connect(transport);
  await waitFor(
    () =>
      serverId !== "" &&
      (!server.deps || server.deps.events.listenerCount(requestChannel(serverId)) > 0),
    5_000,
    "the local MCP server's request stream",
  );
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const t of pending) clearTimeout(t);
    await mcp.close();
  };
  return { serverId, calls, close, [Symbol.asyncDispose]: close };
}
