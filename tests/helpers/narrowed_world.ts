/**
 * The world of the narrowed-consent tests (tests/security/narrowed_consent_test.ts): the
 * security suite's world (alice's restricted "vault", her Pod, her private conversation, the
 * global space) plus an OPEN regular space "Moose" (its documents share the open spaces'
 * search partition with the global space) and two agents, one whose knowledge is the global
 * space and one whose knowledge is the vault. Tokens come from the real consent page: a
 * browser session posts the consent form with the access choice, the client exchanges the
 * code at `/token` for the resource it names (`/mcp` or `/api/v1`).
 */
import assert from "node:assert/strict";
import type { TestServer } from "./server.ts";
import { apiJson } from "./fixtures.ts";
import { BrowserHttp, formValue, startSessionFor } from "./browser_http.ts";
import { pkcePair } from "./oauth_client.ts";
import { authorizeUrl, postForm, registerPublicClient } from "./oauth_flow.ts";
import { buildSecurityWorld, type SecurityUser, type SecurityWorld } from "./security_world.ts";
import { userActor } from "./conversations.ts";
import { createAgent } from "../../src/core/agent_editing.ts";
import { spaceField } from "../../src/core/grant_access.ts";

/** Words of content a token narrowed to the global space must never see. */
export const OUTSIDE_MARKERS = [
  "zebrasecret", // the restricted vault's document
  "lynxpod", // the Pod, its task and file
  "owlprivate plans", // the private conversation's title
  "owlprivate hello", // its message
  "owlprivate notes", // its file
  "mooseopen", // the open space outside the choice
  "walrus_vault_agent", // the agent whose knowledge is the vault
] as const;

export interface NarrowedWorld extends SecurityWorld {
  moose: string;
  mooseDs: string;
  globalAgent: string;
  vaultAgent: string;
}

export async function buildNarrowedWorld(server: TestServer): Promise<NarrowedWorld> {
  const w = await buildSecurityWorld(server);
  const base = `/api/v1/w/${w.alice.workspace.sId}`;
  const post = async (path: string, body: unknown) => {
    const r = await apiJson(server, w.alice.token, `${base}${path}`, { method: "POST", body });
    assert.ok(r.status < 300, `${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const moose = (await post("/spaces", { kind: "regular", name: "Moose", restricted: false }))
    .space.sId as string;
  const mooseDs = (await post(`/spaces/${moose}/data_sources`, { name: "antlers" }))
    .data_source.sId as string;
  await post(`/spaces/${moose}/data_sources/${mooseDs}/documents/moose_doc`, {
    text: "mooseopen heronpublic antlers",
    title: "mooseopen antlers",
  });
  const actor = userActor(w.alice, "admin");
  const globalAgent = (await createAgent(server.deps, actor, {
    name: "heron_global_agent",
    description: "knows the handbook",
    instructions: "Answer from the handbook.",
    spaceIds: [w.globalA],
  })).sId;
  const vaultAgent = (await createAgent(server.deps, actor, {
    name: "walrus_vault_agent",
    description: "knows the vault",
    instructions: "Answer from the vault.",
    spaceIds: [w.vault],
  })).sId;
  return { ...w, moose, mooseDs, globalAgent, vaultAgent };
}

/** The consent page's access fields for a choice (`spaces`: sIds; null: every space). */
export function accessFields(
  wId: string,
  choice: { spaces: string[] | null; conversations?: boolean; readOnly?: boolean },
): Record<string, string> {
  const out: Record<string, string> = { access: choice.spaces === null ? "all" : "chosen" };
  for (const s of choice.spaces ?? []) out[spaceField(wId, s)] = "1";
  if (choice.conversations) out.conversations = "1";
  if (choice.readOnly) out.read_only = "1";
  return out;
}

export interface ConsentResult {
  status: number;
  text: string;
  token?: string;
  refreshToken?: string;
  scope?: string;
  clientId: string;
  browser: BrowserHttp;
}

/**
 * Go through `/authorize` and the consent page as `user` (a browser session), post `fields`
 * with the form's request and CSRF token, and exchange the code for `resource`.
 */
export async function consentWith(
  server: TestServer,
  user: SecurityUser,
  fields: Record<string, string>,
  resource: "mcp" | "api" = "mcp",
  browser = new BrowserHttp(server.url),
): Promise<ConsentResult> {
  if (browser.cookies.size === 0) await startSessionFor(server, browser, user.user.id);
  const redirectUri = "http://127.0.0.1:53682/callback";
  const clientId = await registerPublicClient(server.url, [redirectUri]);
  const { verifier, challenge } = pkcePair();
  const resourceUrl = `${server.config.publicUrl}/${resource === "mcp" ? "mcp" : "api/v1"}`;
  const { page } = await browser.openConsent(
    authorizeUrl(server.url, { clientId, redirectUri, challenge, resource: resourceUrl }),
  );
  assert.equal(page.status, 200, page.text.slice(0, 300));
  const res = await browser.post("/authorize/consent", {
    request: formValue(page.text, "request")!,
    csrf: formValue(page.text, "csrf")!,
    workspace: user.workspace.sId,
    decision: "approve",
    ...fields,
  });
  if (res.status !== 303) return { status: res.status, text: res.text, clientId, browser };
  const code = new URL(res.location!).searchParams.get("code");
  assert.ok(code, res.location!);
  const t = await postForm(`${server.url}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: clientId,
    resource: resourceUrl,
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return {
    status: res.status,
    text: res.text,
    token: t.body.access_token,
    refreshToken: t.body.refresh_token,
    scope: t.body.scope,
    clientId,
    browser,
  };
}

/** The grant sId behind a consented token (the newest grant of the user and client). */
export async function grantOf(server: TestServer, clientId: string): Promise<string> {
  const r = await server.deps.db.get(
    "SELECT s_id FROM oauth_grants WHERE client_id = ? ORDER BY id DESC LIMIT 1",
    clientId,
  ) as { s_id: string };
  return r.s_id;
}
