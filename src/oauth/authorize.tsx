/** @jsxImportSource hono/jsx */
/**
 * The authorization endpoint and consent (checklist F1–F10, C5, C7–C9, J1).
 *
 * `GET /authorize` validates client_id and redirect_uri first (an HTML error page, never a
 * redirect, when either is bad), then the rest; a valid request is stored server-side and the
 * browser goes to `/authorize/consent?request=…` (sign in → pick workspace → approve/deny).
 * Errors after the redirect URI is validated go back to the client with `error`, `state` and
 * `iss` — automatically for admin-created static clients, and behind a user click for
 * self-registered clients (DCR, CIMD), so the server is never an open redirector (F9).
 * No CORS here (F8).
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../deps.ts";
import type { Scope } from "../auth/actor.ts";
import { OAuthError } from "../core/oauth_error.ts";
import {
  findClient,
  type OAuthClient,
  redirectUriMatches,
  redirectUriProblem,
} from "../core/oauth_clients.ts";
import {
  type AuthRequestParams,
  completeAuthRequest,
  createAuthRequest,
  findAuthRequest,
} from "../core/oauth_requests.ts";
import { issueCode } from "../core/oauth_codes.ts";
import { mcpResourceUrl } from "../config.ts";
import { findWorkspaceBySId, getRole, listUserWorkspaces } from "../core/workspaces.ts";
import { oauthClientRefusal } from "../core/workspace_settings.ts";
import { securePage } from "../pages/page_security.ts";
import { currentSession, originCheck, pageActor, readCsrfForm } from "../pages/page_auth.ts";
import { listChoosableSpaces, parseAccessForm } from "../core/grant_access.ts";
import { AppError } from "../errors.ts";
import {
  AuthorizeErrorPage,
  ConsentPage,
  displayHost,
  ExpiredRequestPage,
  SignInToContinuePage,
} from "../pages/consent.tsx";
import { MessagePage } from "../pages/layout.tsx";
import type { CimdResolver } from "./cimd.ts";
import { resolveClient } from "./client_auth.ts";
import { remoteIp } from "../auth/rate_limit.ts";
import { parseResourceParam } from "./resource.ts";
import { mapSeries } from "../util/async.ts";
import { traceUri } from "../core/oauth_traces.ts";
import type { OAuthTracer } from "./trace.ts";

/** Narrow requested scopes to ours (F5): unknown ones and offline_access are dropped. */
export function narrowScopes(raw: string | undefined): Scope[] {
  const words = (raw ?? "").split(" ").filter(Boolean);
  const ours = (["read", "write"] as Scope[]).filter((s) => words.includes(s));
  return ours.length ? ours : ["read", "write"];
}

/** The client's redirect with `params` set exactly once each, plus `iss` (F6, F7). */
export function clientRedirect(
  redirectUri: string,
  issuer: string,
  params: Record<string, string | null>,
): string {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== null) u.searchParams.set(k, v);
  u.searchParams.set("iss", issuer);
  return u.href;
}

function errorPage(c: Context<AppEnv>, title: string, message: string, status = 400) {
  return c.html(
    <AuthorizeErrorPage title={title}>
      <p>{message}</p>
      <p class="muted">Start again from your client (the AI application you were connecting).</p>
    </AuthorizeErrorPage>,
    status as 400,
  );
}

/** The page for a client that could not be resolved (a CIMD failure, or its fetch budget). */
function unresolvedClientPage(c: Context<AppEnv>, e: OAuthError) {
  if (e.status !== 429) return errorPage(c, "Unknown application", e.description);
  for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
  return errorPage(c, "Try again later", e.description, 429);
}

/** Send an error back to a validated redirect URI (directly for static clients, F9). */
function redirectError(
  c: Context<AppEnv>,
  client: OAuthClient,
  redirectUri: string,
  state: string | null,
  err: OAuthError,
) {
  const target = clientRedirect(redirectUri, c.get("deps").config.publicUrl, {
    error: err.code,
    error_description: err.description,
    state,
  });
  if (client.kind === "static") return c.redirect(target, 302);
  return c.html(
    <AuthorizeErrorPage title="The application's request was refused">
      <p>{err.description}</p>
      <p>
        <a class="button" href={target}>Return to {displayHost(redirectUri)}</a>
      </p>
    </AuthorizeErrorPage>,
    400,
  );
}

/** Parameters other than the client and redirect URI (F1, F4, F5). */
function checkRequest(c: Context<AppEnv>, q: Record<string, string>): Omit<
  AuthRequestParams,
  "clientId" | "redirectUri" | "redirectUriSent" | "state"
> {
  if (q.response_type !== "code") {
    throw new OAuthError("unsupported_response_type", "response_type must be code.");
  }
  if (!q.code_challenge) {
    throw new OAuthError("invalid_request", "PKCE is required: send code_challenge (S256).");
  }
  if (q.code_challenge_method !== "S256") {
    throw new OAuthError("invalid_request", "code_challenge_method must be S256.");
  }
  if (!/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge)) {
    throw new OAuthError("invalid_request", "code_challenge is not a valid S256 challenge.");
  }
  const config = c.get("deps").config;
  const resource = parseResourceParam(config, q.resource) ?? mcpResourceUrl(config);
  return { codeChallenge: q.code_challenge, scopes: narrowScopes(q.scope), resource };
}

export function authorizeRoutes(cimd: CimdResolver, tracer: OAuthTracer): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/authorize", securePage);
  app.use("/authorize/*", securePage);
  app.use("/authorize/consent", originCheck);

  app.get("/authorize", (c) =>
    tracer.run("authorize", async (note) => {
      const deps = c.get("deps");
      const url = new URL(c.req.url);
      const refuse = (title: string, message: string) => {
        note.reason = message;
        return errorPage(c, title, message);
      };
      const q: Record<string, string> = {};
      for (const [k, v] of url.searchParams) {
        if (k in q) return refuse("Invalid request", `The parameter ${k} is repeated.`);
        q[k] = v;
      }
      if (!q.client_id) return refuse("Invalid request", "client_id is missing.");
      note.clientId = q.client_id.slice(0, 300);
      note.detail = `redirect_uri=${traceUri(q.redirect_uri) ?? "(none)"} resource=${
        q.resource === undefined ? "(none)" : q.resource.slice(0, 200)
      }`;
      let client: OAuthClient | null;
      try {
        client = await resolveClient(deps.db, cimd, q.client_id, remoteIp(c.env));
      } catch (e) {
        if (!(e instanceof OAuthError)) throw e;
        note.reason = e.description;
        return unresolvedClientPage(c, e);
      }
      if (!client) return refuse("Unknown application", "This client_id is not registered here.");
      note.clientKind = client.kind;
      note.clientName = client.name;
      let redirectUri = q.redirect_uri;
      const sent = redirectUri !== undefined;
      if (!sent) {
        if (client.redirectUris.length !== 1) {
          return refuse("Invalid request", "redirect_uri is required for this client.");
        }
        redirectUri = client.redirectUris[0];
      }
      if (!redirectUriMatches(client.redirectUris, redirectUri!)) {
        return refuse("Invalid redirect URI", "redirect_uri is not registered for this client.");
      }
      // Today's scheme policy also holds for clients registered before it was tightened.
      const problem = redirectUriProblem(redirectUri!);
      if (problem) return refuse("Invalid redirect URI", `redirect_uri: ${problem}.`);
      const state = q.state ?? null;
      let checked;
      try {
        checked = checkRequest(c, q);
      } catch (e) {
        if (!(e instanceof OAuthError)) throw e;
        note.reason = `${e.code}: ${e.description}`;
        return redirectError(c, client, redirectUri!, state, e);
      }
      const id = await createAuthRequest(deps.db, {
        clientId: client.clientId,
        redirectUri: redirectUri!,
        redirectUriSent: sent,
        state,
        ...checked,
      });
      return c.redirect(`/authorize/consent?request=${encodeURIComponent(id)}`, 303);
    }, c.req.header("user-agent")));

  app.get("/authorize/consent", async (c) => await renderConsent(c, c.req.query("request") ?? ""));

  app.post("/authorize/consent", async (c) => {
    const started = performance.now();
    const deps = c.get("deps");
    const session = await currentSession(c);
    if (!session) return errorPage(c, "Sign in to continue", "Your session has ended.", 401);
    const form = await readCsrfForm(c, session);
    if (!form) {
      return errorPage(c, "Form expired", "The form's security token is missing or wrong.", 403);
    }
    const lookup = await findAuthRequest(deps.db, form.request ?? "");
    if (lookup.status === "expired") return c.html(<ExpiredRequestPage />, 410);
    if (lookup.status !== "ok") {
      return errorPage(c, "Request already answered", "This request is no longer pending.");
    }
    const p = lookup.params;
    let client: OAuthClient | null;
    try {
      client = await resolveClient(deps.db, cimd, p.clientId, remoteIp(c.env));
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      return unresolvedClientPage(c, e);
    }
    if (!client) return errorPage(c, "Unknown application", "The client is no longer valid.");
    if (form.decision !== "approve") {
      await tracer.record({
        step: "consent",
        clientId: client.clientId,
        clientKind: client.kind,
        clientName: client.name,
        ok: false,
        status: 303,
        reason: "The user denied the request.",
        durationMs: performance.now() - started,
      });
      await completeAuthRequest(deps.db, form.request, {
        userId: session.user.id,
        workspaceId: null,
      });
      const denied = new OAuthError("access_denied", "The user denied the request.");
      return c.redirect(
        clientRedirect(p.redirectUri, deps.config.publicUrl, {
          error: denied.code,
          error_description: denied.description,
          state: p.state,
        }),
        303,
      );
    }
    const ws = await findWorkspaceBySId(deps.db, form.workspace ?? "");
    if (!ws || !await getRole(deps.db, ws.id, session.user.id)) {
      return await renderConsent(c, form.request, "Pick one of your workspaces.");
    }
    if (client.workspaceId !== null && client.workspaceId !== ws.id) {
      return await renderConsent(
        c,
        form.request,
        "This application is registered for another workspace.",
      );
    }
    // The workspace's OAuth settings govern every resource, /mcp and /api/v1 alike.
    const refusal = await oauthClientRefusal(deps.db, ws.id, client.clientId);
    const traced = (ok: boolean, status: number, reason: string | null) =>
      tracer.record({
        step: "consent",
        clientId: client.clientId,
        clientKind: client.kind,
        clientName: client.name,
        workspaceId: ws.id,
        ok,
        status,
        reason,
        detail: `redirect_uri=${traceUri(p.redirectUri)} resource=${p.resource}`,
        durationMs: performance.now() - started,
      });
    if (refusal) {
      await traced(false, 403, refusal);
      return errorPage(c, "Not allowed", `${refusal}.`, 403);
    }
    // The user's choice: read-only, chosen spaces, conversations (core/grant_access.ts). A
    // space they cannot read is refused with the form again, never dropped silently.
    const actor = await pageActor(c, session, ws.sId);
    if (!actor) return await renderConsent(c, form.request, "Pick one of your workspaces.");
    let access;
    try {
      access = await parseAccessForm(deps.db, actor, form);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      return await renderConsent(c, form.request, e.message);
    }
    if (
      !await completeAuthRequest(deps.db, form.request, {
        userId: session.user.id,
        workspaceId: ws.id,
      })
    ) {
      return errorPage(c, "Request already answered", "This request is no longer pending.");
    }
    const code = await issueCode(deps.db, {
      clientId: client.clientId,
      userId: session.user.id,
      workspaceId: ws.id,
      redirectUri: p.redirectUri,
      redirectUriSent: p.redirectUriSent,
      codeChallenge: p.codeChallenge,
      scopes: p.scopes,
      resource: p.resource,
      access,
    });
    await traced(true, 303, null);
    // 303 so the browser turns the POST into a GET (RFC 9700 §4.12).
    return c.redirect(
      clientRedirect(p.redirectUri, deps.config.publicUrl, { code, state: p.state }),
      303,
    );
  });
  return app;
}

/** The spaces the consent page offers in one workspace (name, sId, kind). */
async function spacesToChoose(
  c: Context<AppEnv>,
  session: NonNullable<Awaited<ReturnType<typeof currentSession>>>,
  wId: string,
) {
  const actor = await pageActor(c, session, wId);
  if (!actor) return [];
  return (await listChoosableSpaces(c.get("deps").db, actor)).map((s) => ({
    sId: s.sId,
    name: s.name,
    kind: s.kind,
    isRestricted: s.isRestricted,
  }));
}

async function renderConsent(c: Context<AppEnv>, requestId: string, error?: string) {
  const deps = c.get("deps");
  const lookup = await findAuthRequest(deps.db, requestId);
  if (lookup.status === "expired") return c.html(<ExpiredRequestPage />, 410);
  if (lookup.status !== "ok") {
    return errorPage(c, "Request not found", "This authorization request is not pending.");
  }
  const session = await currentSession(c);
  if (!session) {
    const back = `/authorize/consent?request=${encodeURIComponent(requestId)}`;
    return c.html(
      <SignInToContinuePage loginUrl={`/login?next=${encodeURIComponent(back)}`} />,
      401,
    );
  }
  const p = lookup.params;
  const client = await findClient(deps.db, p.clientId);
  if (!client) return errorPage(c, "Unknown application", "The client is no longer registered.");
  const memberships = (await listUserWorkspaces(deps.db, session.user.id))
    .filter((m) => client.workspaceId === null || m.workspace.id === client.workspaceId);
  const workspaces = await mapSeries(memberships, async (m) => ({
    sId: m.workspace.sId,
    name: m.workspace.name,
    refusal: await oauthClientRefusal(deps.db, m.workspace.id, client.clientId),
    spaces: await spacesToChoose(c, session, m.workspace.sId),
  }));
  if (workspaces.length === 0) {
    return c.html(
      <MessagePage title="No workspace">
        <p>Your account is not a member of a workspace this application can use.</p>
      </MessagePage>,
      403,
    );
  }
  if (workspaces.every((w) => w.refusal !== null)) {
    const reasons = [...new Set(workspaces.map((w) => w.refusal))];
    return c.html(
      <MessagePage title="Not allowed">
        <p>
          {workspaces.length === 1
            ? "Your workspace does not allow this application."
            : "None of your workspaces allows this application."} {reasons.join(". ")}.
        </p>
        <p class="muted">A workspace admin controls OAuth applications on the MCP settings page.</p>
      </MessagePage>,
      403,
    );
  }
  return c.html(
    <ConsentPage
      requestId={requestId}
      csrf={session.session.csrf}
      clientName={client.name}
      clientId={p.clientId}
      clientKind={client.kind}
      redirectUri={p.redirectUri}
      scopes={p.scopes}
      resource={p.resource}
      workspaces={workspaces}
      userEmail={session.user.email}
      error={error}
    />,
    error ? 400 : 200,
  );
}
