/**
 * Tool stakes the bridge declares for the local servers' tools (core/tool_stakes.ts): each tool
 * in a `tools/list` answer going back to the server gets `_meta["dust-mcp/stake"]`, chosen by
 * the bridge's `--ask` policy from the tool's own MCP annotations. The stake the local server
 * may have put there itself is overwritten: the policy is the user's, not the local server's.
 *
 * - `writes` (default): a tool annotated `readOnlyHint: true` runs without asking
 *   (`never_ask`); a tool annotated `destructiveHint: true` asks every time (`high`); any other
 *   tool asks, and "always allow" is remembered (`low`, Dust's default for local tools).
 * - `all`: every tool asks (`high` when destructive, `low` otherwise): Dust's own behaviour.
 * - `none`: no tool asks (`never_ask`), for local servers the user fully trusts.
 * @module
 */
import { DECLARED_STAKE_KEY, type Stake } from "../core/tool_stakes.ts";

export const ASK_POLICIES = ["writes", "all", "none"] as const;
export type AskPolicy = (typeof ASK_POLICIES)[number];

type Annotated = { annotations?: { readOnlyHint?: unknown; destructiveHint?: unknown } };

/** The stake `policy` gives a tool with these annotations. */
export function stakeFor(policy: AskPolicy, tool: Annotated): Stake {
  if (policy === "none") return "never_ask";
  if (tool.annotations?.destructiveHint === true) return "high";
  if (policy === "writes" && tool.annotations?.readOnlyHint === true) return "never_ask";
  return "low";
}

/**
 * A `tools/list` result with every tool's stake declared (a copy; anything that is not a tool
 * list is returned unchanged).
 */
export function declareStakes(policy: AskPolicy, result: unknown): unknown {
  const tools = (result as { tools?: unknown } | null)?.tools;
  if (!Array.isArray(tools)) return result;
  return {
    ...(result as Record<string, unknown>),
    tools: tools.map((t) => {
      if (t === null || typeof t !== "object") return t;
      const meta = (t as { _meta?: unknown })._meta;
      const base = meta !== null && typeof meta === "object" ? meta : {};
      return { ...t, _meta: { ...base, [DECLARED_STAKE_KEY]: stakeFor(policy, t as Annotated) } };
    }),
  };
}
