/** @jsxImportSource hono/jsx */
/**
 * The consent page and the pages of the browser authorization flow: sign in to continue,
 * expired request, authorization errors (never an automatic redirect to an unverified client).
 * @module
 */
import type { Child } from "hono/jsx";
import { Layout, MessagePage } from "./layout.tsx";
import type { Scope } from "../auth/actor.ts";
import {
  AccessChoiceFields,
  type ChoosableSpace,
  DEFAULT_CHOICE,
  SpaceBoxes,
} from "./access_choice.tsx";

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  read:
    "Read: see your workspace as you do — agents, conversations, Pods and their tasks, files and search results.",
  write:
    "Write: act as you — start conversations, post messages to agents, mark conversations read and create files.",
};

/** The host part of a URI for display (private-use schemes show the whole scheme://host). */
export function displayHost(uri: string): string {
  try {
    const u = new URL(uri);
    return u.host
      ? (u.protocol === "https:" || u.protocol === "http:" ? u.host : `${u.protocol}//${u.host}`)
      : u.protocol;
  } catch {
    return uri.slice(0, 80);
  }
}

export interface ConsentProps {
  requestId: string;
  csrf: string;
  clientName: string;
  clientId: string;
  clientKind: string;
  redirectUri: string;
  scopes: Scope[];
  resource: string;
  /** The user's workspaces; `refusal` says why one's OAuth settings refuse this client. */
  workspaces: { sId: string; name: string; refusal: string | null; spaces: ChoosableSpace[] }[];
  userEmail: string;
  error?: string;
}

/** After the redirect host, with its leading space (a JSX text would lose it). */
const LOOPBACK_NOTE = " (an application on this computer)";

function isLoopbackOnly(uri: string): boolean {
  return /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?\//.test(uri);
}

function scopeItem(s: Scope) {
  return <li data-scope={s}>{SCOPE_DESCRIPTIONS[s]}</li>;
}

function workspaceOption(w: { sId: string; name: string; refusal: string | null }) {
  return (
    <option value={w.sId} disabled={w.refusal !== null}>
      {w.name} ({w.sId}){w.refusal ? ` — not allowed: ${w.refusal}` : ""}
    </option>
  );
}

export function ConsentPage(p: ConsentProps) {
  const clientHost = p.clientKind === "cimd" ? displayHost(p.clientId) : null;
  return (
    <Layout title="Authorize application" narrow>
      <div class="card">
        <h1>Allow “{p.clientName}” to access your workspace?</h1>
        {p.error ? <p class="error" role="alert">{p.error}</p> : null}
        <table>
          <tr>
            <th scope="row">Application</th>
            <td>
              {p.clientName}{" "}
              <span class="muted">
                ({clientHost ? `client hosted at ${clientHost}` : `${p.clientKind} client`})
              </span>
            </td>
          </tr>
          <tr>
            <th scope="row">Sends you back to</th>
            <td>
              <strong>{displayHost(p.redirectUri)}</strong>
              {isLoopbackOnly(p.redirectUri) ? <span class="muted">{LOOPBACK_NOTE}</span> : null}
            </td>
          </tr>
          <tr>
            <th scope="row">Resource</th>
            <td>
              <code>{p.resource}</code>
            </td>
          </tr>
          <tr>
            <th scope="row">Signed in as</th>
            <td>{p.userEmail}</td>
          </tr>
        </table>
        <h2>It will be able to</h2>
        <ul>
          {p.scopes.map(scopeItem)}
        </ul>
        <form method="post" action="/authorize/consent">
          <input type="hidden" name="request" value={p.requestId} />
          <input type="hidden" name="csrf" value={p.csrf} />
          <label for="workspace">Workspace</label>
          <select id="workspace" name="workspace">
            {p.workspaces.map(workspaceOption)}
          </select>
          <AccessChoiceFields state={DEFAULT_CHOICE} canWrite={p.scopes.includes("write")}>
            {p.workspaces.filter((w) => w.refusal === null).map((w) => (
              <SpaceBoxes
                workspace={w}
                spaces={w.spaces}
                state={DEFAULT_CHOICE}
                legend={p.workspaces.length === 1 ? "Spaces and Pods" : undefined}
              />
            ))}
          </AccessChoiceFields>
          <div class="actions">
            <button type="submit" name="decision" value="approve">Allow</button>
            <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
          </div>
        </form>
        <p class="muted">
          Only allow applications you trust. You can revoke access at any time from the connected
          access page.
        </p>
      </div>
    </Layout>
  );
}

export function SignInToContinuePage(props: { loginUrl: string }) {
  return (
    <MessagePage title="Sign in to continue">
      <p>You need to be signed in to dust-mcp to authorize this application.</p>
      <p>
        <a class="button" href={props.loginUrl}>Open dust-mcp sign-in</a>
      </p>
      <p class="muted">After signing in you come back here to continue.</p>
    </MessagePage>
  );
}

export function ExpiredRequestPage() {
  return (
    <MessagePage title="Authorization session expired">
      <p>
        This authorization request is older than 10 minutes. Start again from your client (the AI
        application you were connecting).
      </p>
    </MessagePage>
  );
}

export function AuthorizeErrorPage(props: { title: string; children: Child }) {
  return <MessagePage title={props.title}>{props.children}</MessagePage>;
}
