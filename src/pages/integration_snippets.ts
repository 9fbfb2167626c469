/**
 * Ready-to-paste setup for each MCP client (seed 002's Integrations page): with OAuth (the
 * default; nothing to copy but the URL) and with an MCP API token (header form; URL form
 * `?token=` only when the workspace allows tokens in URLs).
 * @module
 */

export interface ClientSetup {
  id: string;
  name: string;
  /** Steps or a snippet for OAuth. */
  oauth: string;
  /** Steps or a snippet with a token, or null when the client cannot use one. */
  token: string | null;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

/** Every client's setup for this MCP URL; `token` is a real token or a placeholder. */
export function clientSetups(mcpUrl: string, token: string, allowTokenInUrl: boolean) {
  const bearer = `Bearer ${token}`;
  const urlWithToken = allowTokenInUrl ? `${mcpUrl}?token=${token}` : null;
  const viaUrl = (steps: string) =>
    urlWithToken
      ? `${steps}\n${urlWithToken}`
      : "Tokens in URLs are turned off for this workspace; use OAuth or a client that sends headers.";
  const remote = (extra: string[]) => ({
    command: "npx",
    args: ["-y", "mcp-remote", mcpUrl, ...extra],
  });
  const setups: ClientSetup[] = [
    {
      id: "claude",
      name: "Claude (web, Desktop, mobile: custom connector)",
      oauth:
        `Settings → Connectors → Add custom connector.\nName: dust-mcp\nRemote MCP server URL: ${mcpUrl}\nThen Connect, sign in and click Allow.`,
      token: null,
    },
    {
      id: "claude-code",
      name: "Claude Code",
      oauth:
        `claude mcp add --transport http dust ${mcpUrl}\n# then run /mcp in Claude Code to sign in`,
      token: `claude mcp add --transport http dust ${mcpUrl} --header "Authorization: ${bearer}"`,
    },
    {
      id: "cursor",
      name: "Cursor (~/.cursor/mcp.json, via mcp-remote)",
      oauth: json({ mcpServers: { dust: remote([]) } }),
      token: json({
        mcpServers: {
          dust: {
            ...remote(["--header", "Authorization:${AUTH_HEADER}"]),
            env: { AUTH_HEADER: bearer },
          },
        },
      }),
    },
    {
      id: "vscode",
      name: "VS Code (.vscode/mcp.json)",
      oauth: json({ servers: { dust: { type: "http", url: mcpUrl } } }),
      token: json({
        servers: { dust: { type: "http", url: mcpUrl, headers: { Authorization: bearer } } },
      }),
    },
    {
      id: "windsurf",
      name: "Windsurf (~/.codeium/windsurf/mcp_config.json)",
      oauth: json({ mcpServers: { dust: { serverUrl: mcpUrl } } }),
      token: json({
        mcpServers: { dust: { serverUrl: mcpUrl, headers: { Authorization: bearer } } },
      }),
    },
    {
      id: "chatgpt",
      name: "ChatGPT (connector / developer mode)",
      oauth: `Settings → Connectors → Create.\nMCP Server URL: ${mcpUrl}\nAuthentication: OAuth`,
      token: viaUrl("Authentication: No authentication. MCP Server URL:"),
    },
    {
      id: "raycast",
      name: "Raycast (Manage MCP Servers → Cmd+N, paste)",
      oauth: json({ mcpServers: { dust: remote([]) } }),
      token: json({ mcpServers: { dust: remote(["--header", `Authorization: ${bearer}`]) } }),
    },
    {
      id: "claude-desktop",
      name: "Claude Desktop config file (claude_desktop_config.json)",
      oauth: json({ mcpServers: { dust: remote([]) } }),
      token: json({
        mcpServers: {
          dust: {
            ...remote(["--header", "Authorization:${AUTH_HEADER}"]),
            env: { AUTH_HEADER: bearer },
          },
        },
      }),
    },
    {
      id: "generic",
      name: "Other MCP clients",
      oauth: `MCP URL (Streamable HTTP, OAuth discovery): ${mcpUrl}`,
      token: `Header: Authorization: ${bearer}` +
        (urlWithToken ? `\nSingle URL field: ${urlWithToken}` : ""),
    },
  ];
  return setups;
}
