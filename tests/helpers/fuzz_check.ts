/**
 * The fuzzer's bar, checked on every response: no 5xx, no stack trace or runtime internals, no
 * secret of the seeded world, the surface's own error shape, and none of the other workspace's
 * marker. `send()` makes one request with a time bound, reads at most a bounded prefix of the
 * body (SSE streams are cut after their first bytes) and always releases the body.
 */
import assert from "node:assert/strict";
import type { FuzzWorld, Tenant } from "./fuzz_world.ts";

/** Which error shape a response must have. */
export type Surface = "rest" | "oauth_json" | "oauth_page" | "mcp" | "any";

export interface FuzzRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: BodyInit | null;
  /** The tenant whose credential is sent, if any (its peer's marker must not come back). */
  as?: Tenant | null;
  /** SSE: stop reading after this long without a chunk (default 300 ms). */
  sseIdleMs?: number;
  /** Abort the request after this many ms (default 10000). */
  timeoutMs?: number;
}

export interface FuzzResponse {
  status: number;
  headers: Headers;
  text: string;
  /** True when the body was cut (SSE or longer than the read cap). */
  truncated: boolean;
}

// Above the 2 MB body limit, so an answer that echoes a whole request (a huge JSON-RPC id) is
// read whole.
const READ_CAP = 4 * 1024 * 1024;

/** Patterns of runtime internals that must never reach a client. */
const INTERNALS: RegExp[] = [
  /\bat .+\.(ts|tsx|js|mjs):\d+/,
  /file:\/\/\//,
  /node_modules/,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError|SqliteError|AggregateError)\b/,
  /\bSQLITE_[A-Z]+/,
  /^\s*Error: /m,
  /ext:deno|ext:core/,
];

/** Responses by status (for `FUZZ_STATS=1`: how deep the fuzzer reaches). */
export const STATUS_COUNTS = new Map<string, number>();
const STATS = Deno.env.get("FUZZ_STATS") === "1";

function countStatus(req: FuzzRequest, status: number): void {
  const route = req.path.split("?")[0].replace(/\/w\/[^/]+/, "/w/:w").slice(0, 60);
  tally(`${req.method} ${route.split("/").slice(0, 6).join("/")} ${status}`);
}

/** Count one outcome under `key` (only with `FUZZ_STATS=1`). */
export function tally(key: string): void {
  if (STATS) STATUS_COUNTS.set(key, (STATUS_COUNTS.get(key) ?? 0) + 1);
}

/** Print the status counts when `FUZZ_STATS=1`. */
export function printStats(label = ""): void {
  if (!STATS || !STATUS_COUNTS.size) return;
  if (label) console.log(`-- ${label}`);
  const rows = [...STATUS_COUNTS].sort(([a], [b]) => a.localeCompare(b));
  console.log(rows.map(([k, n]) => `${n}\t${k}`).join("\n"));
  STATUS_COUNTS.clear();
}

/** Send one request and read (a bounded prefix of) its body; the body is always released. */
export async function send(world: FuzzWorld, req: FuzzRequest): Promise<FuzzResponse> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), req.timeoutMs ?? 10_000);
  try {
    // Clients refuse URLs far beyond 8 KB (huge values belong in bodies), so cut the path.
    const res = await fetch(`${world.server.url}${req.path.slice(0, 8192)}`, {
      method: req.method,
      headers: req.headers,
      body: req.body ?? undefined,
      redirect: "manual",
      signal: ctl.signal,
    });
    countStatus(req, res.status);
    const sse = (res.headers.get("content-type") ?? "").includes("text/event-stream");
    const { text, truncated } = sse
      ? await readPrefix(res, 64 * 1024, req.sseIdleMs ?? 300)
      : await readPrefix(res, READ_CAP);
    return { status: res.status, headers: res.headers, text, truncated: truncated || sse };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Read up to `cap` bytes, then cancel the rest. With `idleMs`, stop at the first read that
 * takes longer (an open SSE stream that has nothing more to say).
 */
async function readPrefix(
  res: Response,
  cap: number,
  idleMs?: number,
): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: "", truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < cap) {
      const next = await readWithin(reader, idleMs);
      if (next === "idle") break;
      if (next.done) return { text: decode(chunks), truncated: false };
      chunks.push(next.value);
      size += next.value.length;
    }
    await reader.cancel();
    return { text: decode(chunks), truncated: true };
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
}

async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  idleMs: number | undefined,
): Promise<ReadableStreamReadResult<Uint8Array> | "idle"> {
  if (idleMs === undefined) return await reader.read();
  let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
  const idle = new Promise<"idle">((r) => timer = setTimeout(() => r("idle"), idleMs));
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

function decode(chunks: Uint8Array[]): string {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** What the request carried, as text: internals echoed from the request itself are not leaks. */
function requestText(req: FuzzRequest, withCredentials = true): string {
  const body = typeof req.body === "string" ? req.body : "";
  const headers = Object.fromEntries(
    Object.entries(req.headers ?? {}).filter(([k]) =>
      withCredentials || !/^(authorization|cookie)$/i.test(k)
    ),
  );
  let path = req.path;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    // Keep the raw path when it holds invalid escapes.
  }
  return `${req.path}\n${path}\n${JSON.stringify(headers)}\n${body}`;
}

/** Assert the bar on one response; `surface` picks the expected error shape. */
export function checkResponse(
  world: FuzzWorld,
  req: FuzzRequest,
  res: FuzzResponse,
  surface: Surface,
): void {
  const where = `${req.method} ${req.path.slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`;
  assert.ok(res.status < 500, `5xx: ${where}`);
  const headerText = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  const seen = `${headerText}\n${res.text}`;
  const sent = requestText(req);
  for (const p of INTERNALS) {
    assert.ok(!p.test(seen) || p.test(sent), `internals (${p}) in response: ${where}`);
  }
  // The caller's own credential is no excuse: a response never echoes the bearer token.
  const sentInBody = requestText(req, false);
  for (const s of world.secrets) {
    assert.ok(!seen.includes(s) || sentInBody.includes(s), `a secret in the response: ${where}`);
  }
  for (const t of [world.a, world.b]) {
    if (req.as === t) continue;
    const leaked = seen.includes(t.marker) && !sent.includes(t.marker);
    assert.ok(!leaked, `workspace ${t.label}'s marker leaked: ${where}`);
  }
  if (res.status >= 400) checkErrorShape(res, surface, where);
  // An error names the bad field; it does not echo a huge value back (JSON-RPC must echo ids).
  if (res.status >= 400 && surface !== "mcp" && surface !== "any") {
    assert.ok(res.text.length <= 16 * 1024, `a ${res.text.length}-byte error body: ${where}`);
  }
}

// deno-lint-ignore no-explicit-any
function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRestError(b: unknown): boolean {
  // deno-lint-ignore no-explicit-any
  const e = (b as any)?.error;
  return typeof e?.type === "string" && typeof e?.message === "string";
}

function isOAuthError(b: unknown): boolean {
  // deno-lint-ignore no-explicit-any
  const o = b as any;
  return typeof o?.error === "string" &&
    (o.error_description === undefined || typeof o.error_description === "string");
}

function isRpcError(b: unknown): boolean {
  // deno-lint-ignore no-explicit-any
  const o = b as any;
  return o?.jsonrpc === "2.0" && typeof o?.error?.code === "number" &&
    typeof o?.error?.message === "string";
}

function isHtml(res: FuzzResponse): boolean {
  return (res.headers.get("content-type") ?? "").startsWith("text/html");
}

function checkErrorShape(res: FuzzResponse, surface: Surface, where: string): void {
  if (surface === "any") return;
  const body = parseJson(res.text);
  const ok = surface === "rest"
    ? isRestError(body)
    : surface === "oauth_json"
    ? isOAuthError(body) || (res.status === 404 && isRestError(body))
    : surface === "oauth_page"
    ? isHtml(res) || isOAuthError(body) || isRestError(body)
    : isRpcError(body) || isOAuthError(body) || (res.status === 405 && res.text === "") ||
      (Array.isArray(body) && body.every(isRpcError));
  assert.ok(ok, `error body not in the ${surface} shape: ${where}`);
}

/** The log lines at level error (bugs: unhandled errors, failed tool calls, crashed runs). */
export function errorLogs(world: FuzzWorld, from = 0): string[] {
  return world.server.logs.slice(from).filter((l) => {
    const e = parseJson(l);
    return e?.level === "error";
  });
}

/** After a property: the server answers /healthz and logged no error. */
export async function assertServerHealthy(world: FuzzWorld, logFrom: number): Promise<void> {
  const res = await fetch(`${world.server.url}/healthz`);
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.equal(body.status, "ok");
  const errors = errorLogs(world, logFrom);
  assert.deepEqual(errors, [], `error log lines:\n${errors.slice(0, 5).join("\n")}`);
  const logged = world.server.logs.slice(logFrom).join("\n");
  for (const secret of world.secrets) {
    assert.ok(!logged.includes(secret), "a token or password of the fuzz world in the server log");
  }
}
