/**
 * The durability suite's write load: concurrent writers (conversations with messages, some
 * mentioning the agent; file uploads; document upserts; OAuth grants with refresh-token
 * rotation; MCP token replacements; audited MCP tool calls; `files_create` writes) that put
 * each write in the {@link Ledger} as in flight before sending it and as acknowledged once a
 * 2xx arrives.
 * Every loop is bounded in count and by the round's deadline; writers stop at the kill.
 */
import { BrowserHttp, formValue } from "./browser_http.ts";
import { authorizeUrl, exchange, postForm, registerPublicClient } from "./oauth_flow.ts";
import { pkcePair } from "./oauth_client.ts";
import { messageBody } from "./conversations.ts";
import type { DurabilitySetup } from "./durability_server.ts";
import {
  call,
  type ConversationEntry,
  type DocumentEntry,
  type FileEntry,
  type GrantEntry,
  type Ledger,
  mcpRequest,
  randomBytes,
  randomInt,
  randomText,
  type Reply,
  seededRandom,
  sha256Hex,
} from "./durability_ledger.ts";

/** What one round of load needs. */
export interface LoadContext {
  base: string;
  setup: DurabilitySetup;
  /** `/api/v1/w/<w>/spaces/<space>/data_sources/<ds>` */
  dataSourcePath: string;
  ledger: Ledger;
  seed: number;
  round: number;
  /** Set just before the SIGKILL: network errors from then on are expected. */
  killed: boolean;
  deadline: number;
  /** Unexpected outcomes (non-2xx answers, network errors before the kill). */
  errors: string[];
}

/** Bound on the operations of one writer in one round (the deadline usually stops it first). */
const MAX_OPS = 60;
const REDIRECT = "http://127.0.0.1:53682/callback";

/** A 2xx, or an error that is never excused (a live server answered something else). */
class UnexpectedReply extends Error {
  override name = "UnexpectedReply";
}

function expectOk(r: Reply, what: string): void {
  if (r.status < 200 || r.status > 299) {
    throw new UnexpectedReply(`${what}: ${r.status} ${JSON.stringify(r.body)?.slice(0, 300)}`);
  }
}

function live(ctx: LoadContext): boolean {
  return !ctx.killed && Date.now() < ctx.deadline;
}

/** The conversations path of the workspace. */
export function conversationsPath(setup: DurabilitySetup): string {
  return `/api/v1/w/${setup.workspaceSId}/assistant/conversations`;
}

async function writeConversations(ctx: LoadContext, w: number, rng: () => number) {
  const path = conversationsPath(ctx.setup);
  for (let i = 0; live(ctx) && i < MAX_OPS; i++) {
    const title = `r${ctx.round}-w${w}-c${i}`;
    const token = w % 2 ? ctx.setup.memberToken : ctx.setup.adminToken;
    const first = randomText(rng, randomInt(rng, 100, 30_000), `${title} m0`);
    // The member's messages mention `dust`: the agent message is written with the user
    // message, and (no model configured) its run fails fast; a kill may interrupt it.
    const mentions = w % 2 === 1;
    const entry: ConversationEntry = {
      title,
      token,
      mentions,
      sId: null,
      acked: [],
      pending: first,
    };
    ctx.ledger.conversations.push(entry);
    const r = await call(ctx.base, path, {
      method: "POST",
      token,
      json: {
        title,
        visibility: "unlisted",
        message: messageBody(first, mentions ? ["dust"] : []),
      },
    });
    expectOk(r, "create conversation");
    entry.sId = r.body.conversation.sId;
    entry.acked.push(first);
    entry.pending = null;
    const more = randomInt(rng, 1, 3);
    for (let m = 1; live(ctx) && m <= more; m++) {
      const content = randomText(rng, randomInt(rng, 10, 30_000), `${title} m${m}`);
      entry.pending = content;
      const p = await call(ctx.base, `${path}/${entry.sId}/messages`, {
        method: "POST",
        token,
        json: messageBody(content, mentions ? ["dust"] : []),
      });
      expectOk(p, "post message");
      entry.acked.push(content);
      entry.pending = null;
    }
  }
}

async function writeFiles(ctx: LoadContext, w: number, rng: () => number) {
  const path = `/api/v1/w/${ctx.setup.workspaceSId}/files`;
  const token = w % 2 ? ctx.setup.memberToken : ctx.setup.adminToken;
  for (let i = 0; live(ctx) && i < MAX_OPS; i++) {
    const size = randomInt(rng, 1, 768 * 1024);
    const bytes = randomBytes(rng, size);
    const fileName = `r${ctx.round}-w${w}-f${i}.bin`;
    const created = await call(ctx.base, path, {
      method: "POST",
      token,
      json: {
        contentType: "application/octet-stream",
        fileName,
        fileSize: size,
        useCase: "conversation",
      },
    });
    expectOk(created, "create file");
    const entry: FileEntry = {
      sId: created.body.file.sId,
      token,
      size,
      sha256: sha256Hex(bytes),
      uploaded: false,
    };
    ctx.ledger.files.push(entry);
    const form = new FormData();
    form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), fileName);
    const up = await call(ctx.base, `${path}/${entry.sId}`, { method: "POST", token, form });
    expectOk(up, "upload file");
    entry.uploaded = true;
  }
}

async function writeDocuments(ctx: LoadContext, w: number, rng: () => number) {
  for (let i = 0; live(ctx) && i < MAX_OPS; i++) {
    // A third of the upserts replace one of this writer's earlier documents (any round).
    const own = [...ctx.ledger.documents.values()].filter((d) =>
      d.id.startsWith(`w${w}-`) && d.pending === null
    );
    const entry: DocumentEntry = own.length && rng() < 0.33
      ? own[Math.floor(rng() * own.length)]
      : { id: `w${w}-r${ctx.round}-d${i}`, acked: null, pending: null };
    ctx.ledger.documents.set(entry.id, entry);
    const text = randomText(rng, randomInt(rng, 50, 200_000), `${entry.id} v${i}`);
    entry.pending = text;
    const r = await call(ctx.base, `${ctx.dataSourcePath}/documents/${entry.id}`, {
      method: "POST",
      token: ctx.setup.apiKey,
      json: { text, title: entry.id, tags: [`round-${ctx.round}`] },
    });
    expectOk(r, "upsert document");
    entry.acked = text;
    entry.pending = null;
  }
}

/** `resource` of the grants: the REST API, so a refreshed access token can be tried on `/me`. */
export function apiResource(base: string): string {
  return `${base}/api/v1`;
}

/**
 * The admin's browser, signed in once per server URL (sessions live in the database, so they
 * survive the kills): a sign-in costs a deliberately slow password hash, and on a loaded
 * machine a round could end before it did, leaving the grants kind with no write at all.
 */
const signedIn = new WeakMap<object, { base: string; browser: BrowserHttp }>();

async function adminBrowser(ctx: LoadContext): Promise<BrowserHttp> {
  const known = signedIn.get(ctx.setup);
  if (known && known.base === ctx.base) return known.browser;
  const browser = new BrowserHttp(ctx.base);
  await browser.signIn(ctx.setup.adminEmail, ctx.setup.adminPassword);
  signedIn.set(ctx.setup, { base: ctx.base, browser });
  return browser;
}

async function writeGrants(ctx: LoadContext) {
  const clientId = await registerPublicClient(ctx.base, [REDIRECT]);
  const browser = await adminBrowser(ctx);
  const resource = apiResource(ctx.base);
  for (let i = 0; live(ctx) && i < MAX_OPS; i++) {
    const { verifier, challenge } = pkcePair();
    const callback = await browser.approve(
      authorizeUrl(ctx.base, { clientId, redirectUri: REDIRECT, challenge, resource }),
      { workspace: ctx.setup.workspaceSId },
    );
    const code = callback.searchParams.get("code") ?? "";
    const r = await exchange(
      ctx.base,
      { clientId, code, verifier, redirectUri: REDIRECT, callback },
      { resource },
    );
    if (r.status !== 200) throw new UnexpectedReply(`token exchange: ${r.status}`);
    const grant: GrantEntry = { clientId, refreshToken: r.body.refresh_token, pending: false };
    ctx.ledger.grants.push(grant);
    for (let k = 0; live(ctx) && k < 2; k++) {
      grant.pending = true;
      const rr = await postForm(`${ctx.base}/token`, {
        grant_type: "refresh_token",
        refresh_token: grant.refreshToken,
        client_id: clientId,
      });
      if (rr.status !== 200) throw new UnexpectedReply(`refresh: ${rr.status} ${rr.body?.error}`);
      grant.refreshToken = rr.body.refresh_token;
      grant.pending = false;
    }
  }
}

/** New MCP tokens from the Integrations page (each replaces the previous one). */
async function writeMcpTokens(ctx: LoadContext) {
  const browser = new BrowserHttp(ctx.base);
  await browser.signIn(ctx.setup.adminEmail, ctx.setup.adminPassword);
  const path = `/w/${ctx.setup.workspaceSId}/integrations`;
  const page = await browser.get(path);
  if (page.status !== 200) throw new UnexpectedReply(`integrations page: ${page.status}`);
  let csrf = formValue(page.text, "csrf") ?? "";
  const entry = ctx.ledger.mcpToken;
  for (let i = 0; live(ctx) && i < MAX_OPS; i++) {
    entry.pending = true;
    const r = await browser.post(`${path}/token`, { csrf });
    const token = /<pre id="new-token">([^<]+)<\/pre>/.exec(r.text)?.[1];
    if (r.status !== 200 || !token) throw new UnexpectedReply(`new MCP token: ${r.status}`);
    if (entry.current) entry.replaced.push(entry.current);
    entry.current = token;
    entry.pending = false;
    csrf = formValue(r.text, "csrf") ?? csrf;
  }
}

/**
 * MCP tool calls (each audited): `get_pod` of a unique id, answered with an `isError` result
 * and written to the audit log with its arguments. Paced, and capped so that with the
 * `files_create` writer the member stays below 120 tool calls a minute (the limiter restarts
 * with the process).
 */
async function callTools(ctx: LoadContext) {
  for (let i = 0; live(ctx) && i < 60; i++) {
    const podId = `probe-r${ctx.round}-${i}`;
    const r = await mcpRequest(ctx.base, ctx.setup.memberMcpToken, "tools/call", {
      name: "get_pod",
      arguments: { podId },
    });
    if (r.status !== 200) throw new UnexpectedReply(`tools/call get_pod: ${r.status}`);
    ctx.ledger.auditProbes.set(podId, { round: ctx.round, at: Date.now() });
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * `files_create` through MCP into the member's conversation: new paths, and overwrites of
 * earlier ones (new bytes under a fresh key, the row switched in one transaction).
 */
async function writeScopedFiles(ctx: LoadContext, rng: () => number) {
  const scope = { type: "conversation", conversation_id: ctx.ledger.scopedConversationSId };
  for (let i = 0; live(ctx) && i < 30; i++) {
    const settled = [...ctx.ledger.scopedFiles.values()].filter((f) => f.pending === null);
    const entry = settled.length && rng() < 0.4
      ? settled[Math.floor(rng() * settled.length)]
      : { path: `notes/r${ctx.round}-n${i}.md`, acked: null, pending: null };
    ctx.ledger.scopedFiles.set(entry.path, entry);
    const content = randomText(rng, randomInt(rng, 1, 30_000), `${entry.path} v${i}`);
    entry.pending = content;
    const r = await mcpRequest(ctx.base, ctx.setup.memberMcpToken, "tools/call", {
      name: "files_create",
      arguments: {
        scope,
        path: `conversation-${scope.conversation_id}/${entry.path}`,
        content,
        content_type: "text/markdown",
      },
    });
    if (r.status !== 200 || !r.body?.result || r.body.result.isError) {
      throw new UnexpectedReply(
        `files_create: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`,
      );
    }
    entry.acked = content;
    entry.pending = null;
  }
}

/** Run a writer; network errors after the kill are the point, anything else is an error. */
async function guarded(ctx: LoadContext, name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (e instanceof UnexpectedReply || !ctx.killed) ctx.errors.push(`${name}: ${e}`);
  }
}

/** Start the round's writers; resolves when every one has stopped (deadline or kill). */
export function runWriters(ctx: LoadContext): Promise<void> {
  const rng = (w: number) => seededRandom(ctx.seed + ctx.round * 1000 + w);
  return Promise.all([
    guarded(ctx, "conversations#0", () => writeConversations(ctx, 0, rng(0))),
    guarded(ctx, "conversations#1", () => writeConversations(ctx, 1, rng(1))),
    guarded(ctx, "files#2", () => writeFiles(ctx, 2, rng(2))),
    guarded(ctx, "files#3", () => writeFiles(ctx, 3, rng(3))),
    guarded(ctx, "documents#4", () => writeDocuments(ctx, 4, rng(4))),
    guarded(ctx, "documents#5", () => writeDocuments(ctx, 5, rng(5))),
    guarded(ctx, "grants#6", () => writeGrants(ctx)),
    guarded(ctx, "mcp-tokens#7", () => writeMcpTokens(ctx)),
    guarded(ctx, "tool-calls#8", () => callTools(ctx)),
    guarded(ctx, "files_create#9", () => writeScopedFiles(ctx, rng(9))),
  ]).then(() => {});
}
