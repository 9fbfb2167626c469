/**
 * The doctor's authorization flow, as the client would run it: register (DCR with the
 * client's own body) or name its CIMD document, check the workspace's OAuth policy for its
 * redirect URIs, send the authorization request with `resource`, without it and with a
 * trailing slash, let the simulated user approve the one the client sends, exchange the code
 * at `/token`, and make the first `tools/list` with the access token.
 * @module
 */
import type { Db } from "../db/db.ts";
import type { ClientProfile } from "./clients.ts";
import {
  call,
  type Exchange,
  type FetchLike,
  jwtClaim,
  pageMessage,
  parseBearerChallenge,
  parseJson,
  pkcePair,
  rpcMessage,
} from "./http.ts";
import { type DoctorStep, initializeMessage, step, type StepStatus } from "./steps.ts";
import type { WorkspaceRow } from "../core/workspaces.ts";
import { matchesRedirectPattern } from "../core/workspace_settings.ts";
import { approveAsDoctor, type DoctorLeftovers } from "../core/doctor_approval.ts";

export interface FlowContext {
  fetcher: FetchLike;
  base: string;
  issuer: string;
  db: Db;
  workspace: WorkspaceRow;
  userId: number;
  client: ClientProfile;
  left: DoctorLeftovers;
  /** Where the console's settings live (for the "what to change" text). */
  settingsPath: string;
}

/** Register by DCR (the client's real body), or use the CIMD client_id. */
export async function registerClient(
  f: FlowContext,
  usesCimd: boolean,
): Promise<{ step: DoctorStep; clientId: string | null; redirectUris: string[] }> {
  const title = usesCimd ? "Client ID Metadata Document" : "Dynamic client registration";
  if (usesCimd) {
    const doc = f.client.cimdDocument!;
    return {
      step: step(
        "register",
        title,
        "pass",
        `client_id ${f.client.cimdUrl} (the server fetches it at /authorize).`,
      ),
      clientId: f.client.cimdUrl,
      redirectUris: doc.redirect_uris as string[],
    };
  }
  let ex: Exchange;
  try {
    ex = await call(f.fetcher, `${f.base}/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(f.client.dcrBody),
    });
  } catch (e) {
    return {
      step: step("register", title, "fail", (e as Error).message),
      clientId: null,
      redirectUris: [],
    };
  }
  const body = parseJson(ex.text);
  if (ex.status !== 201 || typeof body?.client_id !== "string") {
    const why = `POST /register answered ${ex.status}: ${
      body?.error_description ?? ex.text.slice(0, 200)
    }`;
    const fix = ex.status === 429
      ? "Registrations from this address are rate-limited (30 per 15 minutes): wait and retry."
      : "Route POST /register to the server unchanged (JSON body, 201 answer).";
    return {
      step: step("register", title, "fail", why, fix, ex.ms),
      clientId: null,
      redirectUris: [],
    };
  }
  f.left.dcrClientIds.push(body.client_id);
  const uris = (body.redirect_uris as string[]) ?? [];
  return {
    step: step(
      "register",
      title,
      "pass",
      `201, client_id ${body.client_id}, ${uris.length} redirect URI(s).`,
      null,
      ex.ms,
    ),
    clientId: body.client_id,
    redirectUris: uris,
  };
}

/** The workspace's MCP switch and redirect allowlist, for this client's redirect URIs. */
export function checkPolicy(f: FlowContext, redirectUris: string[]): DoctorStep {
  const title = "Workspace OAuth policy";
  const ws = f.workspace;
  if (!ws.mcpEnabled) {
    return step(
      "policy",
      title,
      "fail",
      `MCP is switched off for workspace ${ws.name}: every OAuth client is refused at consent.`,
      `Turn the MCP server on in ${f.settingsPath}.`,
    );
  }
  if (ws.redirectPolicy === "allowlist") {
    const missing = redirectUris.filter((u) =>
      !ws.allowedRedirectUris.some((p) => matchesRedirectPattern(p, u))
    );
    if (missing.length) {
      return step(
        "policy",
        title,
        "fail",
        `The redirect allowlist does not cover ${missing.join(", ")} (every redirect URI ` +
          `${f.client.name} registers must match).`,
        `Add ${missing.map(suggestPattern).join(", ")} to the allowlist in ${f.settingsPath}.`,
      );
    }
  }
  return step(
    "policy",
    title,
    "pass",
    ws.redirectPolicy === "all"
      ? "MCP on; every redirect URI allowed."
      : "MCP on; the allowlist covers every redirect URI.",
  );
}

/** An allowlist entry for a redirect URI: any port on loopback, the exact URI otherwise. */
function suggestPattern(uri: string): string {
  const m = /^(http:\/\/(?:localhost|127\.0\.0\.1|\[::1\]))(?::\d+)?(\/.*)?$/.exec(uri);
  return m ? `${m[1]}:*` : uri;
}

export interface AuthorizeOutcome {
  steps: DoctorStep[];
  /** The pending request the client's own habit created. */
  requestId: string | null;
  verifier: string;
}

/** The authorization request, three ways; the client's own way is the one kept. */
export async function authorizeVariants(
  f: FlowContext,
  clientId: string,
): Promise<AuthorizeOutcome> {
  const { verifier, challenge } = pkcePair();
  const mcp = `${f.issuer}/mcp`;
  const variants: { id: string; label: string; resource: string | null }[] = [
    { id: "authorize-resource", label: "with resource", resource: mcp },
    { id: "authorize-no-resource", label: "without resource", resource: null },
    {
      id: "authorize-trailing-slash",
      label: "resource with a trailing slash",
      resource: `${mcp}/`,
    },
  ];
  const steps: DoctorStep[] = [];
  let requestId: string | null = null;
  for (const v of variants) {
    const q = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: f.client.redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: crypto.randomUUID(),
      scope: "read write",
    });
    if (v.resource) q.set("resource", v.resource);
    const r = await authorizeOnce(f, `${f.base}/authorize?${q}`);
    const title = `Authorization request ${v.label}`;
    if ("error" in r) {
      steps.push(step(v.id, title, "fail", r.error, r.fix, r.ms));
      continue;
    }
    steps.push(step(v.id, title, "pass", "303 to the consent page.", null, r.ms));
    const own = (v.resource !== null) === f.client.sendsResource &&
      v.id !== "authorize-trailing-slash";
    if (own) requestId = r.requestId;
    else f.left.requestIds.push(r.requestId);
  }
  return { steps, requestId, verifier };
}

async function authorizeOnce(
  f: FlowContext,
  url: string,
): Promise<
  { requestId: string; ms: number } | { error: string; fix: string | null; ms: number | null }
> {
  let ex: Exchange;
  try {
    ex = await call(f.fetcher, url);
  } catch (e) {
    return { error: (e as Error).message, fix: null, ms: null };
  }
  const location = ex.headers.get("location") ?? "";
  const m = /\/authorize\/consent\?request=([^&]+)/.exec(location);
  if (ex.status === 303 && m) return { requestId: decodeURIComponent(m[1]), ms: ex.ms };
  const said = ex.status >= 300 && ex.status < 400
    ? `redirected to ${location.replace(/[?#].*$/, "")} (${
      new URL(location, f.base).searchParams.get("error_description") ?? "no reason"
    })`
    : pageMessage(ex.text);
  const fix = /fetch|metadata document|could not/i.test(said)
    ? `Let the server reach ${f.client.cimdUrl} over outbound HTTPS (firewall, egress proxy).`
    : /redirect_uri/i.test(said)
    ? "The client's redirect URI is refused: see the registration and policy steps."
    : null;
  return { error: `GET /authorize answered ${ex.status}: ${said}`, fix, ms: ex.ms };
}

/** The simulated user approves; the code is exchanged at /token the client's way. */
export async function consentAndExchange(
  f: FlowContext,
  clientId: string,
  requestId: string,
  verifier: string,
): Promise<{ steps: DoctorStep[]; accessToken: string | null }> {
  const title = "Consent by a simulated user";
  const approval = await approveAsDoctor(f.db, requestId, {
    workspaceId: f.workspace.id,
    userId: f.userId,
  });
  if (!approval.ok) {
    const fix = `Check the workspace's MCP settings in ${f.settingsPath}.`;
    return {
      steps: [step("consent", title, "fail", `Refused: ${approval.reason}.`, fix)],
      accessToken: null,
    };
  }
  const consent = step("consent", title, "pass", `Approved for workspace ${f.workspace.name}.`);
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: approval.code,
    redirect_uri: approval.redirectUri,
    code_verifier: verifier,
    client_id: clientId,
  });
  if (f.client.sendsResource) form.set("resource", approval.resource);
  const exchanged = await exchangeCode(f, form, approval.resource);
  return { steps: [consent, exchanged.step], accessToken: exchanged.accessToken };
}

async function exchangeCode(
  f: FlowContext,
  form: URLSearchParams,
  resource: string,
): Promise<{ step: DoctorStep; accessToken: string | null }> {
  const title = "Token exchange";
  let ex: Exchange;
  try {
    ex = await call(f.fetcher, `${f.base}/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
  } catch (e) {
    return { step: step("token", title, "fail", (e as Error).message), accessToken: null };
  }
  const body = parseJson(ex.text);
  if (ex.status !== 200 || typeof body?.access_token !== "string") {
    const said = body?.error_description ?? ex.text.slice(0, 200);
    const fix = "Route POST /token to the server with its form body unchanged.";
    return {
      step: step("token", title, "fail", `POST /token answered ${ex.status}: ${said}`, fix, ex.ms),
      accessToken: null,
    };
  }
  const grant = jwtClaim(body.access_token, "gid");
  if (grant) f.left.grantSIds.push(grant);
  if (!(ex.headers.get("cache-control") ?? "").includes("no-store")) {
    const why = "200, but Cache-Control: no-store was removed on the way.";
    const fix = "Make the proxy keep the token endpoint's Cache-Control header.";
    return { step: step("token", title, "warn", why, fix, ex.ms), accessToken: body.access_token };
  }
  const why = `200, Bearer token for ${resource}.`;
  return { step: step("token", title, "pass", why, null, ex.ms), accessToken: body.access_token };
}

/** `initialize` then the first `tools/list` with the access token. */
export async function firstToolsList(f: FlowContext, token: string): Promise<DoctorStep> {
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    Authorization: `Bearer ${token}`,
  };
  let ex: Exchange;
  try {
    ex = await call(f.fetcher, `${f.base}/mcp`, {
      method: "POST",
      headers,
      body: JSON.stringify(initializeMessage(1)),
    });
    if (ex.status === 200) {
      ex = await call(f.fetcher, `${f.base}/mcp`, {
        method: "POST",
        headers: { ...headers, "MCP-Protocol-Version": "2025-06-18" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} }),
      });
    }
  } catch (e) {
    return toolsStep("fail", (e as Error).message, null, null);
  }
  return diagnoseToolsList(f, ex);
}

function toolsStep(
  status: StepStatus,
  why: string,
  fix: string | null,
  ms: number | null,
): DoctorStep {
  return step("tools-list", "First tools/list", status, why, fix, ms);
}

/** What the authenticated MCP answer says (a missing Authorization is told apart). */
function diagnoseToolsList(f: FlowContext, ex: Exchange): DoctorStep {
  if (ex.status === 401) {
    const challenge = parseBearerChallenge(ex.headers.get("www-authenticate"));
    if (challenge && !challenge.error) {
      return toolsStep(
        "fail",
        "The server received no Authorization header although the doctor sent one: a proxy " +
          "in front of the server strips it.",
        "Forward the Authorization header to the server (Apache: CGIPassAuth On or " +
          "RequestHeader set Authorization; some CDNs and WAFs drop it by default).",
        ex.ms,
      );
    }
    const why = `401: ${challenge?.error_description ?? ex.text.slice(0, 200)}.`;
    return toolsStep("fail", why, "Set --public-url to the URL clients use.", ex.ms);
  }
  if (ex.status !== 200) {
    const body = parseJson(ex.text);
    const said = body?.error_description ?? (body?.error as { message?: string })?.message ??
      ex.text.slice(0, 200);
    const fix = ex.status === 403
      ? `Check the workspace's MCP settings in ${f.settingsPath}.`
      : null;
    return toolsStep("fail", `${ex.status}: ${said}`, fix, ex.ms);
  }
  const tools = (rpcMessage(ex, 2)?.result as { tools?: unknown[] } | undefined)?.tools;
  if (!Array.isArray(tools)) {
    const fix = "Make the proxy pass event streams unbuffered (nginx: proxy_buffering off).";
    return toolsStep("fail", "The answer holds no tools/list result.", fix, ex.ms);
  }
  return toolsStep("pass", `${tools.length} tools listed.`, null, ex.ms);
}
