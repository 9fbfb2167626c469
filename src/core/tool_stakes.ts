/**
 * Tool stakes, as Dust names them: how much a tool call needs the user's approval before it
 * runs (dust.md §3.8, §4.4).
 *
 * - `never_ask`: runs without asking (this server's read-only internal tools: search, files
 *   list / cat / grep).
 * - `low`: asks the user who posted the message; "always allow" (`always_approved`) is then
 *   remembered for that user and tool, and it asks no more. Dust's default for client-side
 *   (local) tools that declare no stake ({@link DECLARED_STAKE_KEY}); this server's internal
 *   write tool (`files_create`) too.
 * - `high`: asks every time; "always allow" approves this call only. A client-side tool that
 *   declares `destructiveHint: true` is `high`.
 * - `medium` exists in Dust's schemas (per-argument approval); no tool of this server has it,
 *   and it is treated as `high`.
 * @module
 */

export type Stake = "never_ask" | "low" | "medium" | "high";

/**
 * Where a client-side tool may declare its own stake: an MCP `_meta` key of the tool in
 * `tools/list` (`dust-mcp bridge` sets it from its `--ask` policy). The user's own local tool,
 * the user's own choice: it overrides the client-side default below.
 */
export const DECLARED_STAKE_KEY = "dust-mcp/stake";

/** Who a tool is, for approvals and for what the user is shown. */
export interface ToolIdentity {
  /**
   * Key of "always allow": the internal server's name, or a client-side server's id without
   * its per-registration suffix (`mcp-client-side:<slug>`), so that a remembered approval
   * survives the local server registering again (a new tab, a restart).
   */
  serverKey: string;
  /** The server's name as shown (`mcpServerName` in Dust's events). */
  serverName: string;
  /** The tool's own name on its server (`toolName`). */
  toolName: string;
  stake: Stake;
}

/** `mcp-client-side:<slug>.<hex>` → `mcp-client-side:<slug>` (Dust's "base id"). */
export function clientSideServerKey(serverId: string): string {
  const dot = serverId.lastIndexOf(".");
  return dot > 0 ? serverId.slice(0, dot) : serverId;
}
