/**
 * The MCP server SDK, loaded on first use. Importing it costs ~90–160 ms and ~22 MB of RSS at
 * start-up, and the requests most clients send once connected (a plain `tools/call`, answered
 * by the fast path, src/mcp/fast_path.ts) never need it: it loads with the first request that
 * does (`initialize`, `tools/list`, …). The few values the rest of `/mcp` needs synchronously
 * are repeated here; tests/mcp/lazy_sdk_test.ts checks they equal the SDK's.
 * @module
 */
type Sdk = typeof import("@modelcontextprotocol/server");

let sdk: Promise<Sdk> | null = null;

/** The SDK module (imported once). */
export function loadMcpSdk(): Promise<Sdk> {
  return sdk ??= import("@modelcontextprotocol/server");
}

/** `_meta` key of a request's protocol revision (2026-07-28 envelope). */
export const PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion";
/** `_meta` key of the log level a 2026-07-28 request asks for. */
export const LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel";

/** Hostnames the SDK's localhost DNS-rebinding allowlist names. */
export function localhostAllowedHostnames(): string[] {
  return ["localhost", "127.0.0.1", "[::1]"];
}

/** The SDK's test for a tool result that asks the client for input (2026-07-28). */
export function isInputRequiredResult(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    (value as { resultType?: unknown }).resultType === "input_required";
}
