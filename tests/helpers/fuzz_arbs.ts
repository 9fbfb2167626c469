/**
 * fast-check arbitraries of the hostile-input fuzzer: nasty strings (unicode edge cases, NUL,
 * path traversal, SQL and FTS5 syntax, huge values), hostile JSON values, path parameters
 * drawn from real ids / the other workspace's ids / garbage, credentials, and values built from
 * a JSON Schema (the OpenAPI document's or a tool's input schema) with mutations.
 */
import fc from "fast-check";
import { fileName, type FuzzWorld, type Tenant } from "./fuzz_world.ts";
import { withBranch } from "./openapi_contract.ts";

/** Fixed nasty strings that random generation rarely finds. */
export const NASTY_STRINGS: string[] = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uD83D",
  "\uDE00y",
  "\u202Eevil\u202C",
  "\u200F\u05D0\u05D1",
  "\uFEFF",
  "🙂👩‍👩‍👧",
  "ｆｕｌｌ",
  "e\u0301",
  "../../../../etc/passwd",
  "..\\..\\..\\windows\\win.ini",
  "/etc/passwd",
  "./../x",
  "a/../../b",
  "....//....//x",
  "%2e%2e%2f%2e%2e%2f",
  "..%2F..%2F",
  "%00",
  "con",
  "x/",
  "/",
  ".",
  "..",
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  "1) UNION SELECT * FROM api_keys --",
  "%' ESCAPE '\\",
  '"a" NEAR(',
  "*",
  "OR OR",
  "NEAR(a b",
  "a AND",
  "NOT",
  '"',
  "(",
  ")",
  "^",
  "title:secret",
  "-x",
  "a*b*c*",
  "{}",
  "[]",
  "null",
  "true",
  "-1",
  "0",
  "1e309",
  "NaN",
  "9".repeat(400),
  "%s%n%x",
  "${jndi:ldap://127.0.0.1/x}",
  "<script>alert(1)</script>",
  "\r\nX-Injected: 1",
  "__proto__",
  "constructor",
  "a".repeat(5000),
  "🙂".repeat(3000),
];

/** One huge string (beyond most field limits, below the body limit). */
export const HUGE = "h".repeat(300_000);

/** Strings: nasty constants, random unicode (incl. lone surrogates), ASCII, huge. */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.constant(HUGE) },
  );
}

/** Numbers that break naive code: huge, negative, fractional, non-safe integers. */
export function hostileNumber(): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(0, -1, 1.5, -0, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, Number.MAX_SAFE_INTEGER),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  );
}

/** Any JSON value, biased towards hostile leaves and prototype-pollution keys. */
export function hostileJson(depth = 2): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(hostileString(), hostileNumber(), fc.boolean(), fc.constant(null));
  if (depth <= 0) return leaf;
  const key = fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", ""), fc.string());
  return fc.oneof(
    { weight: 4, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(hostileJson(depth - 1), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(key, hostileJson(depth - 1), { maxKeys: 4 }) },
  );
}

/** `arb` with probability `p`, else null. */
export function sometimes<T>(arb: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | null> {
  const w = Math.round(p * 100);
  return fc.oneof(
    { weight: w, arbitrary: arb },
    { weight: 100 - w, arbitrary: fc.constant(null) },
  );
}

/** Real ids of `t` for a path/field name (several names share a kind). */
export function idsFor(t: Tenant, name: string): string[] {
  const i = t.ids;
  const n = name.toLowerCase();
  if (n === "wid" || n.includes("workspace")) return [i.wId];
  if (n === "cid" || n.includes("conversation")) return [i.cId];
  if (n === "mid" || n.includes("message")) return [i.mId];
  if (n.includes("file")) return [i.fileId, i.podFileId];
  if (n.includes("pod") || n.includes("project")) return [i.podId];
  if (n.includes("space")) return i.spaceId;
  if (n === "dsid" || n.includes("datasource") || n.includes("data_source")) return [i.dsId];
  if (n.includes("document") || n === "id" || n.includes("node")) return [i.documentId];
  if (n.includes("task")) return [i.taskId];
  if (n.includes("user") || n.includes("assignee")) return [i.userId];
  if (n.includes("key")) return [i.keyId];
  if (n === "sid" || n.includes("agent") || n.includes("configuration")) return [i.agentId];
  if (n.includes("server")) return [i.serverId];
  return [i.cId, i.podId, i.fileId, i.documentId];
}

/** An id-like value for `name`: A's real id, B's real id, a malformed sibling, or garbage. */
export function idValue(world: FuzzWorld, name: string): fc.Arbitrary<string> {
  const a = idsFor(world.a, name);
  const b = idsFor(world.b, name);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...a) },
    { weight: 3, arbitrary: fc.constantFrom(...b) },
    { weight: 1, arbitrary: fc.constantFrom(...a).map((s) => s.slice(0, -1) + "_") },
    { weight: 1, arbitrary: fc.constantFrom(...a).map((s) => `${s}/../${b[0]}`) },
    { weight: 3, arbitrary: hostileString() },
  );
}

/** Percent-encode a path segment; lone surrogates become U+FFFD (URLs carry UTF-8 only). */
export function encodeSegment(s: string, raw: boolean): string {
  const wellFormed = s.toWellFormed();
  return raw ? wellFormed.replace(/[?#]/g, encodeURIComponent) : encodeURIComponent(wellFormed);
}

export type CredentialKind =
  | "a_token"
  | "a_key"
  | "a_oauth"
  | "a_mcp"
  | "b_token"
  | "b_mcp"
  | "none"
  | "garbage";

/** A credential to send and whose tenant it is. */
export interface Credential {
  kind: CredentialKind;
  header: Record<string, string>;
  as: Tenant | null;
}

/** A credential to send and whose tenant it is. */
export function credential(world: FuzzWorld, kinds: CredentialKind[]): fc.Arbitrary<Credential> {
  const garbage = fc.constantFrom(
    "Bearer",
    "Bearer ",
    "Basic Zm9vOmJhcg==",
    "bearer sk-123",
    "Bearer sk-" + "0".repeat(64),
    "Bearer dmcp_" + "x".repeat(40),
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA",
    "Bearer " + "a".repeat(9000),
    "Bearer a b c",
    "Token abc",
  );
  return fc.constantFrom(...kinds).chain((kind): fc.Arbitrary<Credential> => {
    const as = kind.startsWith("a_") ? world.a : kind.startsWith("b_") ? world.b : null;
    const pick = (auth: string) =>
      fc.constant<Credential>({ kind, header: { Authorization: auth }, as });
    switch (kind) {
      case "a_token":
        return pick(`Bearer ${world.a.token}`);
      case "a_key":
        return pick(`Bearer ${world.a.apiKey}`);
      case "a_oauth":
        return pick(`Bearer ${world.a.oauth.access}`);
      case "a_mcp":
        return pick(`Bearer ${world.a.mcpToken}`);
      case "b_token":
        return pick(`Bearer ${world.b.token}`);
      case "b_mcp":
        return pick(`Bearer ${world.b.mcpToken}`);
      case "none":
        return fc.constant<Credential>({ kind, header: {}, as: null });
      default:
        return garbage.map((g) => ({ kind, header: { Authorization: g }, as: null }));
    }
  });
}

// deno-lint-ignore no-explicit-any
type Schema = Record<string, any>;

/** Resolve a local `$ref` (`#/components/schemas/X`) against `root`. */
function deref(schema: Schema, root: Schema): Schema {
  let s = schema;
  for (let i = 0; i < 8 && typeof s?.$ref === "string"; i++) {
    const parts = s.$ref.replace(/^#\//, "").split("/");
    // deno-lint-ignore no-explicit-any
    s = parts.reduce((o: any, k: string) => o?.[k], root) ?? {};
  }
  return s ?? {};
}

/** How `fromSchema` builds values: `valid` keeps them valid-looking (A's real ids, in-range
 * values) with rare mutations; `hostile` mutates often. */
export interface SchemaMode {
  world: FuzzWorld;
  root: Schema;
  hostile: boolean;
}

/**
 * A value shaped by a JSON Schema, with hostile mutations: wrong types, hostile strings in
 * string fields, ids (real, the other workspace's) in id-named fields, dropped required fields
 * and unknown extra fields.
 */
export function fromSchema(
  mode: SchemaMode,
  schema: Schema,
  name = "",
  depth = 5,
): fc.Arbitrary<unknown> {
  const s = deref(schema, mode.root);
  const mutate = (valid: fc.Arbitrary<unknown>) =>
    fc.oneof(
      { weight: mode.hostile ? 4 : 30, arbitrary: valid },
      { weight: 1, arbitrary: hostileJson(1) },
    );
  if (depth <= 0) return hostileJson(0);
  const variants = s.oneOf ?? s.anyOf;
  if (Array.isArray(variants) && variants.length) {
    return fc.oneof(
      ...variants.map((v: Schema) => fromSchema(mode, withBranch(s, v), name, depth)),
    );
  }
  if (s.const !== undefined) return mutate(fc.constant(s.const));
  if (Array.isArray(s.enum) && s.enum.length) return mutate(fc.constantFrom(...s.enum));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case "string":
      return mutate(stringFor(mode, s, name));
    case "integer":
      return mutate(
        fc.integer({
          min: Math.max(s.minimum ?? 0, -1e6),
          max: Math.max(Math.min(s.maximum ?? 100, 100), Math.max(s.minimum ?? 0, -1e6)),
        }),
      );
    case "number":
      return mutate(hostileNumber());
    case "boolean":
      return mutate(fc.boolean());
    case "null":
      return fc.constant(null);
    case "array":
      return mutate(fc.array(fromSchema(mode, s.items ?? {}, name, depth - 1), { maxLength: 4 }));
    case "object":
      return mutate(objectFromSchema(mode, s, depth));
    default:
      return hostileJson(1);
  }
}

/**
 * Scoped file paths (`pod-<id>/…`, `conversation-<id>/…`): A's real files and new names, and
 * with `hostile` traversal out of A's scope into B's, absolute paths and encoded dots.
 */
export function scopedPath(world: FuzzWorld, hostile: boolean): fc.Arbitrary<string> {
  const pod = `pod-${world.a.ids.podId}`;
  const conv = `conversation-${world.a.ids.cId}`;
  const valid = fc.constantFrom(
    `${pod}/${fileName("A")}`,
    `${conv}/${fileName("A")}`,
    `${pod}/new.md`,
    `${pod}/dir/sub/new.txt`,
  );
  if (!hostile) return valid;
  const b = world.b.ids;
  return fc.oneof(
    valid,
    fc.constantFrom(
      `${pod}/../pod-${b.podId}/${fileName("B")}`,
      `${conv}/../conversation-${b.cId}/${fileName("B")}`,
      `pod-${b.podId}/${fileName("B")}`,
      `conversation-${b.cId}/${fileName("B")}`,
      `${pod}/../../../../etc/passwd`,
      `${pod}/%2e%2e/${fileName("A")}`,
      `${pod}/./${fileName("A")}`,
      `${pod}//${fileName("A")}`,
      `${pod}/${fileName("A")}\u0000.txt`,
      `/${pod}/${fileName("A")}`,
      `${pod}/`,
      `${pod}/${"d/".repeat(300)}x.txt`,
    ),
  );
}

function stringFor(mode: SchemaMode, s: Schema, name: string): fc.Arbitrary<string> {
  const n = name.toLowerCase();
  const min = Math.max(1, s.minLength ?? 0);
  const benign = fc.string({
    minLength: min,
    maxLength: Math.max(min, Math.min(s.maxLength ?? 24, 24)),
  });
  if (n.includes("path")) {
    return mode.hostile
      ? fc.oneof(hostileString(), scopedPath(mode.world, true))
      : scopedPath(mode.world, false);
  }
  if (n === "pattern" || n === "name" || n === "filename") {
    const names = fc.constantFrom(fileName("A"), "x.txt", "dir/y.md", "fuzz", "(a+)+$", "^notes");
    return mode.hostile ? fc.oneof(hostileString(), names) : fc.oneof(names, benign);
  }
  if (/id$|ids$|^id/.test(n)) {
    return mode.hostile
      ? fc.oneof(idValue(mode.world, name), hostileString())
      : fc.constantFrom(...idsFor(mode.world.a, name));
  }
  return mode.hostile ? fc.oneof(hostileString(), benign) : benign;
}

function objectFromSchema(
  mode: SchemaMode,
  s: Schema,
  depth: number,
): fc.Arbitrary<Record<string, unknown>> {
  const props: Record<string, Schema> = s.properties ?? {};
  const required = new Set<string>(s.required ?? []);
  const entries = Object.entries(props).map(([k, v]) =>
    fc.tuple(
      fc.constant(k),
      fc.option(fromSchema(mode, v, k, depth - 1), {
        freq: required.has(k) ? (mode.hostile ? 12 : 60) : 2,
      }),
    )
  );
  const extra = sometimes(
    fc.tuple(fc.constantFrom("__proto__", "extra", "$where"), hostileJson(1)),
    mode.hostile ? 0.3 : 0.05,
  );
  return fc.tuple(fc.tuple(...entries), extra).map(([kvs, more]) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of kvs) if (v !== null) o[k] = v;
    if (more) Object.defineProperty(o, more[0], { value: more[1], enumerable: true });
    return o;
  });
}
