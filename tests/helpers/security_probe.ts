/**
 * Probes for the security suite: every operation of `GET /api/v1/openapi.json` turned into
 * concrete requests whose ids (path, query and body) come from a map of real ids, plus a
 * "fabricated" twin of each request whose ids have the same shape but name nothing. A request
 * with another tenant's real id must be answered exactly as its fabricated twin is: same
 * status, same error type, nothing more.
 */
import type { TestServer } from "./server.ts";
import { bearer } from "./fixtures.ts";
import { withBranch } from "./openapi_contract.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

export interface Operation {
  method: string;
  /** OpenAPI template, e.g. `/api/v1/w/{wId}/spaces/{spaceId}`. */
  template: string;
  pathParams: string[];
  requiredQuery: string[];
  /** Optional query parameters that name resources (filled as well). */
  idQuery: string[];
  bodySchema: Json | null;
  /** The document gives the operation no 2xx answer (it always refuses, e.g. Dust Apps). */
  alwaysRefuses: boolean;
}

/** Optional query parameters that name resources → the id list they take values from. */
const QUERY_IDS: Record<string, string> = {
  spaceIds: "spaceId",
  nodeIds: "documentId",
  parents_in: "documentId",
  dataSourceId: "dsId",
  assigneeId: "userId",
  user: "userId",
};

/** Every operation of the OpenAPI document. */
export async function listOperations(server: TestServer): Promise<Operation[]> {
  const res = await fetch(`${server.url}/api/v1/openapi.json`);
  const doc = await res.json();
  const ops: Operation[] = [];
  for (const [template, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean }[];
      ops.push({
        method: method.toUpperCase(),
        template,
        pathParams: params.filter((p) => p.in === "path" && p.name !== "wId").map((p) => p.name),
        requiredQuery: params.filter((p) => p.in === "query" && p.required).map((p) => p.name),
        idQuery: params.filter((p) => p.in === "query" && !p.required && p.name in QUERY_IDS)
          .map((p) => p.name),
        bodySchema: op.requestBody?.content?.["application/json"]?.schema ?? null,
        alwaysRefuses: !Object.keys(op.responses ?? {}).some((status) => status.startsWith("2")),
      });
    }
  }
  return ops;
}

/** A value of the JSON schema's type (required properties only, first enum value). */
export function sampleOf(schema: Json, overrides: Record<string, unknown>, depth = 0): unknown {
  if (!schema || depth > 6) return null;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt) {
    const branch = alt.find((s: Json) => s.type !== "null") ?? alt[0];
    return sampleOf(withBranch(schema, branch), overrides, depth);
  }
  const type = Array.isArray(schema.type)
    ? schema.type.find((t: string) => t !== "null")
    : schema.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, sub] of Object.entries(schema.properties ?? {})) {
        if (k in overrides) out[k] = overrides[k];
        else if ((schema.required ?? []).includes(k)) out[k] = sampleOf(sub, overrides, depth + 1);
      }
      return out;
    }
    case "array":
      return schema.minItems ? [sampleOf(schema.items, overrides, depth + 1)] : [];
    case "string":
      return "x".repeat(Math.max(1, schema.minLength ?? 1));
    case "integer":
    case "number":
      return Math.max(1, schema.minimum ?? 1);
    case "boolean":
      return true;
    default:
      return {};
  }
}

/** Same shape, names nothing: the tail of the id is replaced by other characters. */
export function fabricate(id: string): string {
  const hex = /[0-9a-f]{16}$/.exec(id);
  if (hex) return id.slice(0, -16) + "0123456789abcdef".split("").reverse().join("");
  const tail = Math.min(6, id.length);
  const head = id.slice(0, id.length - tail);
  const swapped = id.slice(-tail).split("").map((ch) =>
    /[0-9]/.test(ch)
      ? String((Number(ch) + 5) % 10)
      : /[a-z]/.test(ch)
      ? String.fromCharCode(97 + (ch.charCodeAt(0) - 97 + 13) % 26)
      : /[A-Z]/.test(ch)
      ? String.fromCharCode(65 + (ch.charCodeAt(0) - 65 + 13) % 26)
      : ch
  ).join("");
  return head + swapped;
}

export interface Probe {
  method: string;
  template: string;
  /** Path with query string, wId filled. */
  path: string;
  body: unknown;
  /** The real ids this probe carries (empty: an id-less route). */
  ids: string[];
}

/** Valid plain values, so that requests get past validation to the lookups. */
const PLAIN_FIELDS = {
  timezone: "UTC",
  contentType: "text/plain",
  text: "probe text",
  useCase: "conversation",
  serverName: "Probe tools",
};

/** Query / body values that name resources, by field name, filled from the id map. */
function idFields(ids: Record<string, string[]>, i: number): Record<string, unknown> {
  const pick = (k: string) => ids[k]?.[Math.min(i, ids[k].length - 1)];
  return {
    serverId: pick("serverId"),
    messageIds: [pick("mId")],
    fileId: pick("fileId"),
    groupId: pick("groupId"),
    userId: pick("userId"),
    conversationId: pick("cId"),
    spaceId: pick("spaceId"),
    useCaseMetadata: { conversationId: pick("cId"), spaceId: pick("spaceId") },
    id: pick("documentId"),
    dataSourceId: pick("dsId"),
    members: [pick("userId")],
    nodeIds: [pick("documentId")],
    mentions: [{ configurationId: pick("sId") }],
  };
}

/**
 * The probes of one operation for workspace `wId`: one per index into the id lists (path
 * parameters zipped, shorter lists repeat their last entry), each carrying ids in the path,
 * and ids of `refIds` (default: the same) in query parameters and body fields that name
 * resources.
 */
export function probesOf(
  op: Operation,
  wId: string,
  ids: Record<string, string[]>,
  refIds: Record<string, string[]> = ids,
): Probe[] {
  const n = Math.max(1, ...op.pathParams.map((p) => ids[p]?.length ?? 1));
  const out: Probe[] = [];
  for (let i = 0; i < n; i++) {
    const used: string[] = [];
    let path = op.template.replace("{wId}", wId);
    for (const p of op.pathParams) {
      const v = ids[p]?.[Math.min(i, ids[p].length - 1)];
      if (!v) throw new Error(`no id for ${p} in ${op.template}`);
      used.push(v);
      path = path.replace(`{${p}}`, encodeURIComponent(v));
    }
    const fields = idFields(refIds, i);
    const q = new URLSearchParams();
    for (const name of op.requiredQuery) {
      const v = fields[name];
      q.set(name, typeof v === "string" ? v : "zebrasecret");
      if (typeof v === "string") used.push(v);
    }
    for (const name of op.idQuery) {
      const list = refIds[QUERY_IDS[name]];
      const v = list[Math.min(i, list.length - 1)];
      q.set(name, v);
      used.push(v);
    }
    let body: unknown = undefined;
    if (op.bodySchema) {
      body = sampleOf(op.bodySchema, { ...PLAIN_FIELDS, ...fields });
      collectIds(body, fields, used);
    }
    const qs = q.size ? `?${q}` : "";
    out.push({ method: op.method, template: op.template, path: path + qs, body, ids: used });
  }
  return out;
}

function collectIds(body: unknown, fields: Record<string, unknown>, used: string[]): void {
  const known = new Set(
    Object.values(fields).flatMap((v) =>
      typeof v === "string" ? [v] : Array.isArray(v) ? v : Object.values(v as object)
    ),
  );
  JSON.stringify(body, (_k, v) => {
    if (typeof v === "string" && known.has(v) && !used.includes(v)) used.push(v);
    return v;
  });
}

/** The fabricated twin of a probe: its real ids (or those in `only`) swapped for fakes. */
export function twinOf(p: Probe, only?: Set<string>): Probe {
  const swapped = only ? p.ids.filter((id) => only.has(id)) : p.ids;
  const swap = (s: string) =>
    swapped.reduce(
      (acc, id) =>
        acc.split(id).join(fabricate(id))
          .split(encodeURIComponent(id)).join(encodeURIComponent(fabricate(id))),
      s,
    );
  return {
    ...p,
    path: swap(p.path),
    body: p.body === undefined ? undefined : JSON.parse(swap(JSON.stringify(p.body))),
    ids: p.ids.map((id) => swapped.includes(id) ? fabricate(id) : id),
  };
}

export interface ProbeResult {
  status: number;
  type: string | null;
  text: string;
}

/** Send a probe; SSE answers are read for at most `sseMs` and cancelled. */
export async function sendProbe(
  server: TestServer,
  token: string,
  p: Probe,
  sseMs = 300,
): Promise<ProbeResult> {
  const headers: Record<string, string> = bearer(token);
  let body: BodyInit | undefined;
  if (p.method === "POST" && p.template.endsWith("/files/{fileId}")) {
    body = new FormData();
    body.append("file", new File([new TextEncoder().encode("probe")], "probe.txt"));
  } else if (p.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(p.body);
  }
  const res = await fetch(`${server.url}${p.path}`, { method: p.method, headers, body });
  let text = "";
  if (res.headers.get("content-type")?.startsWith("text/event-stream") && res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const deadline = Date.now() + sseMs;
    try {
      while (Date.now() < deadline) {
        let timer: Awaited<ReturnType<typeof setTimeout>> | undefined;
        const r = await Promise.race([
          reader.read(),
          new Promise<null>((ok) => timer = setTimeout(() => ok(null), deadline - Date.now())),
        ]);
        clearTimeout(timer);
        if (!r || r.done) break;
        text += r.value;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  } else {
    text = await res.text();
  }
  let type: string | null = null;
  try {
    type = JSON.parse(text)?.error?.type ?? null;
  } catch {
    // Not JSON (file bytes, SSE).
  }
  return { status: res.status, type, text };
}

/** `text` with every value the caller sent removed (an echo of one's own input leaks nothing). */
export function withoutEchoes(text: string, sent: string[]): string {
  let out = text;
  for (const s of sent) {
    if (s.length < 3) continue;
    out = out.split(s).join("<sent>").split(encodeURIComponent(s)).join("<sent>");
  }
  return out;
}
