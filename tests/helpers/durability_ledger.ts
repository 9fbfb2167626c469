/**
 * The durability suite's bookkeeping: a seeded PRNG, an HTTP call that always consumes its
 * body, and the ledger of writes — each either ACKNOWLEDGED (a 2xx arrived, so it must survive
 * any crash) or IN FLIGHT when the server was killed (it must be all there or absent).
 */
import { createHash } from "node:crypto";

/** mulberry32: a small seeded PRNG, so a failing run is replayed with its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max]. */
export function randomInt(rng: () => number, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

const WORDS = [
  "alpha",
  "bravo",
  "crash",
  "delta",
  "fsync",
  "grant",
  "kilo",
  "ledger",
  "rename",
  "wal",
];

/** Text of about `size` characters (words, newlines and a little unicode). */
export function randomText(rng: () => number, size: number, tag: string): string {
  const parts: string[] = [`${tag} `];
  let n = tag.length + 1;
  while (n < size) {
    const w = rng() < 0.02 ? "é✓漢" : WORDS[Math.floor(rng() * WORDS.length)];
    const sep = rng() < 0.05 ? "\n" : " ";
    parts.push(w + sep);
    n += w.length + 1;
  }
  return parts.join("");
}

/** Bytes from the PRNG (binary, every value 0..255). */
export function randomBytes(rng: () => number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(rng() * 256);
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** One JSON-RPC request to `/mcp` as a 2025-06-18 client sends it; the body is consumed. */
export async function mcpRequest(
  base: string,
  token: string,
  method: string,
  params: Record<string, unknown>,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Whether `/mcp` accepts a bearer token: 200 to `initialize`, 401 when it is not valid. */
export async function mcpStatus(base: string, token: string): Promise<number> {
  const r = await mcpRequest(base, token, "initialize", {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "durability", version: "1.0.0" },
  });
  return r.status;
}

/** A response read whole. */
export interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  bytes: Uint8Array;
}

/** One request; the body is always read to its end (JSON-decoded when it parses). */
export async function call(
  base: string,
  path: string,
  init: { method?: string; token?: string; json?: unknown; form?: FormData } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: BodyInit | undefined = init.form;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(`${base}${path}`, { method: init.method ?? "GET", headers, body });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    // Not JSON (file bytes): `bytes` has them.
  }
  return { status: res.status, body: parsed, bytes };
}

/** A conversation written by one writer: the user messages in rank order. */
export interface ConversationEntry {
  title: string;
  token: string;
  /** Its messages mention the `dust` agent: each must have its agent message, finished. */
  mentions: boolean;
  /** Null while its creation was in flight at the kill (then found by title). */
  sId: string | null;
  /** Contents of the acknowledged user messages, in the order they were acknowledged. */
  acked: string[];
  /** A message (or the create with its first message) sent but not answered. */
  pending: string | null;
}

export interface FileEntry {
  sId: string;
  token: string;
  size: number;
  sha256: string;
  /** True once the upload was acknowledged; false while the upload was in flight. */
  uploaded: boolean;
}

export interface DocumentEntry {
  id: string;
  /** Text of the last acknowledged upsert (null: none acknowledged yet). */
  acked: string | null;
  /** Text of an upsert in flight at the kill. */
  pending: string | null;
}

export interface GrantEntry {
  clientId: string;
  /** The newest refresh token the client received. */
  refreshToken: string;
  /** A refresh with `refreshToken` was in flight at the kill (its rotation may have landed). */
  pending: boolean;
}

/** A text file at a scoped path, written with the `files_create` tool (create or overwrite). */
export interface ScopedFileEntry {
  path: string;
  /** Content of the last acknowledged write (null: none acknowledged yet). */
  acked: string | null;
  /** Content of a write in flight at the kill. */
  pending: string | null;
  /** The file's id, read from the database after a kill. */
  sId?: string;
}

/** The admin's MCP token: one active per user and workspace, each new one replacing the last. */
export interface McpTokenEntry {
  /** The newest token acknowledged (null once a replacement landed without its answer). */
  current: string | null;
  /** Tokens it replaced (newest last): their revocation was acknowledged with it. */
  replaced: string[];
  /** A replacement was in flight at the kill. */
  pending: boolean;
}

/** Every write of the run, across rounds (verification is cumulative). */
export class Ledger {
  conversations: ConversationEntry[] = [];
  files: FileEntry[] = [];
  documents = new Map<string, DocumentEntry>();
  grants: GrantEntry[] = [];
  /** `files_create` files of the member's "scoped files" conversation, by relative path. */
  scopedFiles = new Map<string, ScopedFileEntry>();
  scopedConversationSId = "";
  mcpToken: McpTokenEntry = { current: null, replaced: [], pending: false };
  /** Finished agent messages seen after a restart (sId → status + content): they must not change. */
  readonly finishedAgentMessages = new Map<string, string>();
  /** Tool-call probes (`get_pod` with a unique podId) → their round and when the answer came. */
  readonly auditProbes = new Map<string, { round: number; at: number }>();
  /** Probes whose audit entry was on disk at some kill: it must stay there. */
  readonly audited = new Set<string>();
  /** The oldest answer (ms before its kill) whose audit entry was not on disk at the kill. */
  unauditedMaxAgeMs = Number.NEGATIVE_INFINITY;
  /** Agent runs a kill interrupted (found failed with `agent_interrupted` after a restart). */
  interruptedRuns = 0;
  /** Outcomes of in-flight writes checked after restarts: kind → present / absent counts. */
  readonly inFlight = new Map<string, { present: number; absent: number }>();
  /**
   * Uploads and `files_create` writes in flight at the last kill: each may leave one orphan
   * blob (the restart after it sweeps them, so earlier kills' orphans are gone).
   */
  blobWritesInFlightAtKill = 0;

  /** Count an in-flight write's outcome once it was checked. */
  settle(kind: string, present: boolean): void {
    const c = this.inFlight.get(kind) ?? { present: 0, absent: 0 };
    if (present) c.present++;
    else c.absent++;
    this.inFlight.set(kind, c);
  }

  /** Acknowledged writes in the ledger, by kind. */
  counts(): Record<string, number> {
    return {
      conversations: this.conversations.filter((c) => c.sId).length,
      messages: this.conversations.reduce((n, c) => n + c.acked.length, 0),
      files: this.files.filter((f) => f.uploaded).length,
      documents: [...this.documents.values()].filter((d) => d.acked !== null).length,
      grants: this.grants.length,
      mcpTokens: this.mcpToken.replaced.length + (this.mcpToken.current ? 1 : 0),
      agentMessages: this.finishedAgentMessages.size,
      scopedFiles: [...this.scopedFiles.values()].filter((f) => f.acked !== null).length,
    };
  }
}
