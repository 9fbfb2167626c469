/**
 * What each popular MCP client sends on its way in (shared/reference/mcp-auth.md §4): where it
 * connects from, how it registers (CIMD document or DCR body), the redirect URI it then uses,
 * whether it sends `resource`, and which protected-resource metadata URL it reads. The doctor
 * replays exactly these.
 * @module
 */

export const CLIENT_IDS = [
  "claude",
  "chatgpt",
  "cursor",
  "vscode",
  "claude-code",
  "codex",
] as const;
export type ClientIdName = typeof CLIENT_IDS[number];

export interface ClientProfile {
  id: ClientIdName;
  name: string;
  /** Connects from the vendor's servers (needs a public https URL on port 443). */
  hosted: boolean;
  /** Its Client ID Metadata Document URL, when it prefers CIMD (else DCR only). */
  cimdUrl: string | null;
  /** The document served at `cimdUrl` (its published shape). */
  cimdDocument: Record<string, unknown> | null;
  /** Its Dynamic Client Registration body (used when CIMD is not advertised). */
  dcrBody: Record<string, unknown>;
  /** The redirect URI it sends to `/authorize` (a loopback port it picked, for local apps). */
  redirectUri: string;
  /** Sends RFC 8707 `resource` on authorize and token. */
  sendsResource: boolean;
  /** Protected-resource metadata it reads besides the challenge's `resource_metadata`. */
  prmPaths: string[];
  note: string;
}

const CODE_GRANTS = ["authorization_code", "refresh_token"];

export const CLIENT_PROFILES: Record<ClientIdName, ClientProfile> = {
  claude: {
    id: "claude",
    name: "Claude (claude.ai, Desktop, mobile)",
    hosted: true,
    cimdUrl: "https://claude.ai/oauth/mcp-oauth-client-metadata",
    cimdDocument: {
      client_id: "https://claude.ai/oauth/mcp-oauth-client-metadata",
      client_name: "Claude",
      client_uri: "https://claude.ai",
      redirect_uris: [
        "https://claude.ai/api/mcp/auth_callback",
        "https://claude.com/api/mcp/auth_callback",
      ],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    dcrBody: {
      client_name: "Claude",
      redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    redirectUri: "https://claude.ai/api/mcp/auth_callback",
    sendsResource: true,
    prmPaths: [
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-protected-resource",
    ],
    note: "Connects from Anthropic's servers; CIMD when advertised with `none`, else DCR.",
  },
  chatgpt: {
    id: "chatgpt",
    name: "ChatGPT (connectors, apps)",
    hosted: true,
    // ChatGPT's CIMD URL carries a per-app id the doctor cannot know: its DCR fallback is replayed.
    cimdUrl: null,
    cimdDocument: null,
    dcrBody: {
      client_name: "ChatGPT",
      redirect_uris: ["https://chatgpt.com/connector_platform_oauth_redirect"],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    redirectUri: "https://chatgpt.com/connector_platform_oauth_redirect",
    sendsResource: true,
    prmPaths: ["/.well-known/oauth-protected-resource/mcp"],
    note: "Connects from OpenAI's servers; reads only the path-inserted metadata.",
  },
  cursor: {
    id: "cursor",
    name: "Cursor",
    hosted: false,
    cimdUrl: null,
    cimdDocument: null,
    dcrBody: {
      client_name: "Cursor",
      redirect_uris: [
        "cursor://anysphere.cursor-mcp/oauth/callback",
        "https://www.cursor.com/agents/mcp/oauth/callback",
        "http://localhost:8787/callback",
      ],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    redirectUri: "cursor://anysphere.cursor-mcp/oauth/callback",
    sendsResource: false,
    prmPaths: ["/.well-known/oauth-protected-resource/mcp"],
    note: "DCR only, three redirect URIs in one registration.",
  },
  vscode: {
    id: "vscode",
    name: "VS Code (GitHub Copilot)",
    hosted: false,
    cimdUrl: "https://vscode.dev/oauth/client-metadata.json",
    cimdDocument: {
      client_id: "https://vscode.dev/oauth/client-metadata.json",
      client_name: "Visual Studio Code",
      client_uri: "https://code.visualstudio.com",
      redirect_uris: [
        "https://insiders.vscode.dev/redirect",
        "https://vscode.dev/redirect",
        "http://127.0.0.1/",
        "http://127.0.0.1:33418/",
      ],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
    },
    dcrBody: {
      client_name: "Visual Studio Code",
      redirect_uris: [
        "https://insiders.vscode.dev/redirect",
        "https://vscode.dev/redirect",
        "http://127.0.0.1/",
        "http://127.0.0.1:33418/",
      ],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
    },
    // Port 33418 was busy: VS Code falls back to a random loopback port.
    redirectUri: "http://127.0.0.1:51847/",
    sendsResource: true,
    prmPaths: ["/.well-known/oauth-protected-resource/mcp"],
    note: "CIMD when advertised, else DCR; random loopback port when 33418 is busy.",
  },
  "claude-code": {
    id: "claude-code",
    name: "Claude Code",
    hosted: false,
    cimdUrl: "https://claude.ai/oauth/claude-code-client-metadata",
    cimdDocument: {
      client_id: "https://claude.ai/oauth/claude-code-client-metadata",
      client_name: "Claude Code",
      redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
    },
    dcrBody: {
      client_name: "Claude Code",
      redirect_uris: ["http://localhost:53211/callback"],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    redirectUri: "http://localhost:53211/callback",
    sendsResource: true,
    // `claude mcp login` reads the root metadata without a 401 first.
    prmPaths: ["/.well-known/oauth-protected-resource"],
    note: "CIMD with port-less loopback redirect URIs; random callback port.",
  },
  codex: {
    id: "codex",
    name: "Codex CLI",
    hosted: false,
    cimdUrl: null,
    cimdDocument: null,
    dcrBody: {
      client_name: "Codex",
      redirect_uris: ["http://127.0.0.1:49321/callback"],
      grant_types: CODE_GRANTS,
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
    redirectUri: "http://127.0.0.1:49321/callback",
    sendsResource: false,
    prmPaths: ["/.well-known/oauth-protected-resource/mcp"],
    note: "DCR from a random loopback port; some versions omit `resource`.",
  },
};

/** `--client` value → the profiles to run (`all` runs every one). */
export function pickClients(value: string | undefined): ClientProfile[] | null {
  const v = (value ?? "all").toLowerCase();
  if (v === "all") return CLIENT_IDS.map((id) => CLIENT_PROFILES[id]);
  const p = (CLIENT_PROFILES as Record<string, ClientProfile>)[v];
  return p ? [p] : null;
}

/** The `doctor` command's flags (kept here: the CLI lists them without loading the doctor). */
export const DOCTOR_FLAGS = {
  client: `${CLIENT_IDS.join(", ")} or all (default all)`,
  url: "The public URL to test (default: --public-url)",
  workspace: "Workspace id the simulated user acts in (default: the only workspace)",
};
