/**
 * The durability suite's checks through the REST API after a restart: every acknowledged write
 * is there and intact, and every write in flight at the kill is all there or absent (then the
 * ledger takes its real outcome, so later rounds check it too). Problems are collected as
 * readable lines, not thrown one by one, so a failing round reports all it saw.
 */
import {
  call,
  type ConversationEntry,
  type DocumentEntry,
  type FileEntry,
  type GrantEntry,
  type Ledger,
  mcpStatus,
  type ScopedFileEntry,
  sha256Hex,
} from "./durability_ledger.ts";
import { postForm } from "./oauth_flow.ts";
import { conversationsPath } from "./durability_load.ts";
import type { DurabilitySetup } from "./durability_server.ts";

interface VerifyContext {
  base: string;
  setup: DurabilitySetup;
  dataSourcePath: string;
  ledger: Ledger;
  failures: string[];
}

/** A short description of how two texts differ (lengths and the first differing offset). */
function diff(expected: string, got: unknown): string {
  if (typeof got !== "string") return `expected ${expected.length} chars, got ${typeof got}`;
  let i = 0;
  while (i < expected.length && i < got.length && expected[i] === got[i]) i++;
  return `expected ${expected.length} chars, got ${got.length}, first difference at ${i}`;
}

/** User-message contents of a conversation, in rank order (the last version of each rank). */
// deno-lint-ignore no-explicit-any
function userMessages(conversation: any): string[] {
  // deno-lint-ignore no-explicit-any
  return (conversation.content as any[][]).map((versions) => versions[versions.length - 1])
    .filter((m) => m.type === "user_message").map((m) => m.content as string);
}

/**
 * Problems with a conversation's agent messages: each user message that mentioned `dust` has
 * its agent message (written in the same transaction); after a restart none is left
 * unfinished (the runner fails what a kill interrupted); a finished one never changes again.
 */
// deno-lint-ignore no-explicit-any
function agentProblems(v: VerifyContext, conversation: any, mentions: boolean): string[] {
  // deno-lint-ignore no-explicit-any
  const last = (conversation.content as any[][]).map((versions) => versions[versions.length - 1]);
  const users = last.filter((m) => m.type === "user_message");
  const agents = last.filter((m) => m.type === "agent_message");
  const problems: string[] = [];
  if (mentions) {
    const answered = new Set(agents.map((a) => a.parentMessageId));
    const orphans = users.filter((u) => !answered.has(u.sId)).length;
    if (orphans) problems.push(`${orphans} user messages mention dust but have no agent message`);
  } else if (agents.length) problems.push(`${agents.length} agent messages without a mention`);
  for (const a of agents) {
    if (!["succeeded", "failed", "cancelled"].includes(a.status)) {
      problems.push(`agent message ${a.sId} left ${a.status} after a restart`);
      continue;
    }
    const state = JSON.stringify({ status: a.status, content: a.content });
    const before = v.ledger.finishedAgentMessages.get(a.sId);
    if (before !== undefined && before !== state) {
      problems.push(`finished agent message ${a.sId} changed: ${before} → ${state}`);
    }
    if (before === undefined && a.error?.code === "agent_interrupted") v.ledger.interruptedRuns++;
    v.ledger.finishedAgentMessages.set(a.sId, state);
  }
  return problems;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Titles → sIds of a token's conversations (for creates whose answer never arrived). */
async function conversationsByTitle(v: VerifyContext, token: string): Promise<Map<string, string>> {
  const r = await call(v.base, `${conversationsPath(v.setup)}?limit=1000`, { token });
  if (r.status !== 200) {
    v.failures.push(`list conversations: ${r.status}`);
    return new Map();
  }
  return new Map(
    (r.body.conversations as { title: string; sId: string }[]).map((c) => [c.title, c.sId]),
  );
}

/** Returns false when the entry turned out never written (it leaves the ledger). */
async function verifyConversation(
  v: VerifyContext,
  c: ConversationEntry,
  listed: (token: string) => Promise<Map<string, string>>,
): Promise<boolean> {
  if (c.sId === null) {
    const found = (await listed(c.token)).get(c.title);
    v.ledger.settle("conversation create", found !== undefined);
    if (!found) return false;
    c.sId = found;
  }
  const r = await call(v.base, `${conversationsPath(v.setup)}/${c.sId}`, { token: c.token });
  if (r.status !== 200) {
    v.failures.push(`conversation ${c.title} (${c.sId}): ${r.status}, acknowledged`);
    return true;
  }
  const got = userMessages(r.body.conversation);
  for (const p of agentProblems(v, r.body.conversation, c.mentions)) {
    v.failures.push(`conversation ${c.title} (${c.sId}): ${p}`);
  }
  if (c.pending !== null) {
    const landed = sameList(got, [...c.acked, c.pending]);
    if (landed || sameList(got, c.acked)) {
      v.ledger.settle(c.acked.length ? "message post" : "conversation create", landed);
      if (landed) c.acked.push(c.pending);
      c.pending = null;
      return true;
    }
  } else if (sameList(got, c.acked)) return true;
  const firstBad = c.acked.findIndex((m, i) => got[i] !== m);
  v.failures.push(
    `conversation ${c.title}: ${got.length} user messages, ${c.acked.length} acknowledged` +
      (c.pending !== null ? " + 1 in flight" : "") +
      (firstBad >= 0 ? `; message ${firstBad}: ${diff(c.acked[firstBad], got[firstBad])}` : ""),
  );
  return true;
}

async function verifyFile(v: VerifyContext, f: FileEntry): Promise<boolean> {
  const r = await call(v.base, `/api/v1/w/${v.setup.workspaceSId}/files/${f.sId}?action=download`, {
    token: f.token,
  });
  if (!f.uploaded) {
    // In flight at the kill: ready with exactly the bytes sent, or still awaiting its bytes.
    if (r.status === 400) {
      v.ledger.settle("file upload", false);
      return false;
    }
    if (r.status === 200 && sha256Hex(r.bytes) === f.sha256) {
      v.ledger.settle("file upload", true);
      f.uploaded = true;
      return true;
    }
  } else if (r.status === 200 && sha256Hex(r.bytes) === f.sha256) return true;
  v.failures.push(
    `file ${f.sId} (${f.uploaded ? "acknowledged" : "in flight"}): ${r.status}, ` +
      `${r.bytes.length} bytes (sent ${f.size})`,
  );
  return true;
}

async function verifyDocument(v: VerifyContext, d: DocumentEntry): Promise<boolean> {
  const r = await call(v.base, `${v.dataSourcePath}/documents/${d.id}`, { token: v.setup.apiKey });
  const text: unknown = r.status === 200 ? r.body.document.text : undefined;
  if (d.pending !== null) {
    if (text === d.pending) {
      v.ledger.settle("document upsert", true);
      d.acked = d.pending;
      d.pending = null;
      return true;
    }
    if ((d.acked === null && r.status === 404) || (d.acked !== null && text === d.acked)) {
      v.ledger.settle("document upsert", false);
      d.pending = null;
      return d.acked !== null;
    }
  } else if (text === d.acked) return true;
  v.failures.push(
    `document ${d.id}: ${r.status}; ` +
      (d.acked !== null ? `acknowledged: ${diff(d.acked, text)}` : "") +
      (d.pending !== null ? ` in flight: ${diff(d.pending, text)}` : ""),
  );
  return true;
}

/**
 * Refresh with the newest refresh token the client holds (rotating it again) and use the new
 * access token. A refresh in flight at the kill may have rotated already: then this one is a
 * reuse, refused with `invalid_grant` (and the grant revoked, by design) — that grant leaves.
 */
async function verifyGrant(v: VerifyContext, g: GrantEntry): Promise<boolean> {
  const r = await postForm(`${v.base}/token`, {
    grant_type: "refresh_token",
    refresh_token: g.refreshToken,
    client_id: g.clientId,
  });
  if (g.pending) {
    v.ledger.settle("refresh rotation", r.status !== 200);
    g.pending = false;
    if (r.status === 400 && r.body?.error === "invalid_grant") return false;
  }
  if (r.status !== 200) {
    v.failures.push(`grant of ${g.clientId}: refresh answered ${r.status} ${r.body?.error}`);
    return true;
  }
  g.refreshToken = r.body.refresh_token;
  const me = await call(v.base, "/api/v1/me", { token: r.body.access_token });
  if (me.status !== 200) v.failures.push(`grant of ${g.clientId}: /me answered ${me.status}`);
  return true;
}

/**
 * The newest acknowledged MCP token works and the ones it replaced stay refused (a revocation
 * is a write too). A replacement in flight at the kill: the old token works (it did not land)
 * or is refused (it did: the new token is lost with its answer; the disk check counts exactly
 * one active token either way).
 */
async function verifyMcpTokens(v: VerifyContext): Promise<void> {
  const t = v.ledger.mcpToken;
  if (t.current) {
    const status = await mcpStatus(v.base, t.current);
    if (t.pending) {
      v.ledger.settle("mcp token replacement", status === 401);
      if (status === 401) {
        t.replaced.push(t.current);
        t.current = null;
      }
    }
    if (t.current && status !== 200) v.failures.push(`current MCP token: /mcp answered ${status}`);
  }
  t.pending = false;
  for (const old of t.replaced.slice(-5)) {
    const status = await mcpStatus(v.base, old);
    if (status !== 401) v.failures.push(`replaced MCP token: /mcp answered ${status}, not 401`);
  }
}

/**
 * The `files_create` files on disk after a kill (the server is down): each acknowledged write
 * is the content at its path; a write in flight left the old content or the new one, whole.
 */
export function verifyScopedFilesOnDisk(
  ledger: Ledger,
  onDisk: Map<string, { sId: string; text: string }>,
): string[] {
  const failures: string[] = [];
  for (const f of [...ledger.scopedFiles.values()]) {
    const found = onDisk.get(f.path);
    if (f.pending !== null) {
      const landed = found?.text === f.pending;
      const before = f.acked === null ? found === undefined : found?.text === f.acked;
      if (landed || before) {
        ledger.settle("files_create", landed);
        if (landed) f.acked = f.pending;
        f.pending = null;
        if (f.acked === null) ledger.scopedFiles.delete(f.path);
      } else {
        failures.push(`scoped file ${f.path} in flight: ${diff(f.pending, found?.text)}`);
      }
    } else if (found?.text !== f.acked) {
      failures.push(`scoped file ${f.path}: ${diff(f.acked ?? "", found?.text)}`);
    }
    if (found) f.sId = found.sId;
  }
  return failures;
}

/** The acknowledged `files_create` files, downloaded over REST by the member. */
async function verifyScopedFile(v: VerifyContext, f: ScopedFileEntry): Promise<boolean> {
  if (!f.sId) {
    v.failures.push(`scoped file ${f.path}: no file id found on disk`);
    return true;
  }
  const r = await call(v.base, `/api/v1/w/${v.setup.workspaceSId}/files/${f.sId}?action=download`, {
    token: v.setup.memberToken,
  });
  const text = new TextDecoder().decode(r.bytes);
  if (r.status !== 200 || text !== f.acked) {
    v.failures.push(`scoped file ${f.path} over REST: ${r.status}, ${diff(f.acked ?? "", text)}`);
  }
  return true;
}

/** Run `check` on every item, a few at a time; keep the items it says still exist. */
async function eachKept<T>(items: T[], check: (item: T) => Promise<boolean>): Promise<T[]> {
  const kept: T[] = [];
  for (let i = 0; i < items.length; i += 8) {
    const batch = items.slice(i, i + 8);
    const keep = await Promise.all(batch.map(check));
    batch.forEach((item, j) => keep[j] && kept.push(item));
  }
  return kept;
}

/** Check the whole ledger against the restarted server; returns the failures. */
export async function verifyLedger(
  base: string,
  setup: DurabilitySetup,
  dataSourcePath: string,
  ledger: Ledger,
): Promise<string[]> {
  const v: VerifyContext = { base, setup, dataSourcePath, ledger, failures: [] };
  const lists = new Map<string, Promise<Map<string, string>>>();
  const listed = (token: string) => {
    if (!lists.has(token)) lists.set(token, conversationsByTitle(v, token));
    return lists.get(token)!;
  };
  ledger.conversations = await eachKept(
    ledger.conversations,
    (c) => verifyConversation(v, c, listed),
  );
  ledger.files = await eachKept(ledger.files, (f) => verifyFile(v, f));
  const docs = await eachKept([...ledger.documents.values()], (d) => verifyDocument(v, d));
  ledger.documents = new Map(docs.map((d) => [d.id, d]));
  // Each grant rotates once more here; the client keeps the new token for the next round.
  ledger.grants = await eachKept(ledger.grants, (g) => verifyGrant(v, g));
  await verifyMcpTokens(v);
  await eachKept([...ledger.scopedFiles.values()], (f) => verifyScopedFile(v, f));
  return v.failures;
}
