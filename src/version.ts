/** The version of dust-mcp, reported by `version`, `/healthz` and the MCP server info. */
export const VERSION = "0.1.0";
