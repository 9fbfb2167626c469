/**
 * Narrowed `/mcp` endpoints (what GitHub's remote server offers, for clients whose context
 * fills up with tool lists): a toolset selection and a read-only form, both in the URL.
 *
 * - `/mcp/x/<toolsets>` or `/mcp?toolsets=<toolsets>`: only the tools, resources and prompts
 *   of those toolsets (comma-separated; `identity` is always served).
 * - `/mcp/readonly`, `/mcp/x/<toolsets>/readonly` or `?readonly=true`: only read tools, whatever
 *   the token's scopes; prompts that would post a message and agent-answer tasks are gone too.
 *
 * Every form is the same OAuth resource (`/mcp`): a token for `/mcp` works on all of them.
 * @module
 */

/** Tool groups as named in URLs, in Dust's registration order. */
export const TOOLSETS = ["identity", "agents", "conversations", "pods", "search", "files"] as const;
export type Toolset = (typeof TOOLSETS)[number];

/** What one request's URL selected. */
export interface Endpoint {
  /** Selected toolsets, or null for all of them. */
  toolsets: ReadonlySet<Toolset> | null;
  readOnly: boolean;
}

export const FULL_ENDPOINT: Endpoint = { toolsets: null, readOnly: false };

const PATH = /^\/mcp(?:\/x\/([^/]+))?(\/readonly)?\/?$/;

function isToolset(name: string): name is Toolset {
  return (TOOLSETS as readonly string[]).includes(name);
}

function parseToolsets(raw: string): ReadonlySet<Toolset> | { error: string } {
  const names = raw.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
  const unknown = names.filter((n) => !isToolset(n));
  if (names.length === 0 || unknown.length > 0) {
    const what = unknown.length > 0 ? `Unknown toolset: ${unknown[0].slice(0, 40)}` : "No toolset";
    return { error: `${what}. Toolsets: ${TOOLSETS.join(", ")}.` };
  }
  return new Set<Toolset>(["identity", ...(names as Toolset[])]);
}

function truthy(v: string | null): boolean {
  return v !== null && ["", "1", "true", "yes"].includes(v.toLowerCase());
}

/** The endpoint a `/mcp…` URL names, or why it names none. */
export function parseEndpoint(url: URL): Endpoint | { error: string } {
  const m = PATH.exec(url.pathname);
  if (!m) return { error: "Unknown MCP endpoint" };
  const fromPath = m[1] === undefined ? null : decodeURIComponent(m[1]);
  const fromQuery = url.searchParams.get("toolsets");
  if (fromPath !== null && fromQuery !== null) {
    return { error: "Give the toolsets once: in the path (/mcp/x/…) or in ?toolsets=" };
  }
  const raw = fromPath ?? fromQuery;
  const toolsets = raw === null ? null : parseToolsets(raw);
  if (toolsets !== null && "error" in toolsets) return toolsets;
  const readOnly = m[2] !== undefined || truthy(url.searchParams.get("readonly")) ||
    truthy(url.searchParams.get("read_only"));
  return { toolsets: toolsets as ReadonlySet<Toolset> | null, readOnly };
}

/** Whether the endpoint serves a toolset at all. */
export function servesToolset(e: Endpoint, toolset: Toolset): boolean {
  return e.toolsets === null || e.toolsets.has(toolset);
}

/** Whether the endpoint serves a tool of `toolset` that writes (`write`) or only reads. */
export function servesTool(e: Endpoint, tool: { toolset: Toolset; write: boolean }): boolean {
  return servesToolset(e, tool.toolset) && !(e.readOnly && tool.write);
}

/** The URL path of an endpoint (for the Integrations page). */
export function endpointPath(toolsets: readonly Toolset[] | null, readOnly: boolean): string {
  const x = toolsets && toolsets.length > 0 ? `/x/${toolsets.join(",")}` : "";
  return `/mcp${x}${readOnly ? "/readonly" : ""}`;
}
