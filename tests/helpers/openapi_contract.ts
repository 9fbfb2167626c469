/**
 * The served OpenAPI document as a contract checked against real responses: the operation a
 * request reached, its status among the documented ones, the body valid against the documented
 * schema (JSON Schema 2020-12 with `ajv`), and a 405 carrying `Allow` with exactly the
 * documented methods of the path. Used by the REST fuzzer on every response it gets and by the
 * OpenAPI tests.
 *
 * ```ts
 * const contract = new OpenApiContract(doc);
 * const problem = contract.check({ method: "GET", path: "/api/v1/w/x/spaces" }, res);
 * assert.equal(problem, null);
 * ```
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { SEED_001 } from "../../src/api/relay_openapi_seed.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

// ajv-formats is a CommonJS module whose default export is the plugin function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

/** The parts of a response the contract looks at (a fetch Response or the fuzzer's copy). */
export interface ContractResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body was cut (SSE, or longer than the reader's cap): its schema is not checked. */
  truncated?: boolean;
}

/**
 * A branch of `oneOf`/`anyOf`: a schema of its own (it has a type, a `$ref`, a `const`...), or
 * constraints on the object around it (`required`, `properties: { x: false }`), merged into it.
 */
export function withBranch(s: Json, branch: Json): Json {
  if (branch.type || branch.$ref || branch.const !== undefined || branch.enum || !s.properties) {
    return branch;
  }
  const { oneOf: _o, anyOf: _a, ...base } = s;
  const properties: Record<string, Json> = { ...base.properties };
  for (const [k, v] of Object.entries(branch.properties ?? {}) as [string, Json][]) {
    if (v === false) delete properties[k];
    else properties[k] ??= v;
  }
  const required = [...new Set([...(base.required ?? []), ...(branch.required ?? [])])];
  return { ...base, properties, required };
}

/** Escape one JSON-pointer token and make it safe in a URI fragment. */
function pointerToken(s: string): string {
  return encodeURIComponent(s.replace(/~/g, "~0").replace(/\//g, "~1"));
}

interface Template {
  path: string;
  segments: string[];
  ops: Record<string, Json>;
}

/** Which path templates (and so operations) a request path reaches, static segments first. */
function matchTemplate(templates: Template[], path: string): Template | null {
  const raw = path.split("?")[0];
  const segs = raw.split("/").map((s) => {
    try {
      return decodeURI(s);
    } catch {
      return s;
    }
  });
  let best: { t: Template; score: number[] } | null = null;
  for (const t of templates) {
    if (t.segments.length !== segs.length) continue;
    const score: number[] = [];
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const ts = t.segments[i];
      if (/^\{[^}]+\}$/.test(ts)) {
        ok = segs[i].length > 0;
        score.push(0);
      } else {
        ok = ts === segs[i];
        score.push(1);
      }
    }
    if (!ok) continue;
    if (!best || compareScores(score, best.score) > 0) best = { t, score };
  }
  return best?.t ?? null;
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** The paths whose operations are seed 001's, kept exactly as Dust wrote them. */
const SEED_PATHS = new Set(Object.keys(SEED_001.paths));

export class OpenApiContract {
  readonly doc: Json;
  private readonly ajv: Ajv2020;
  private readonly templates: Template[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(doc: Json) {
    this.doc = doc;
    this.ajv = new Ajv2020({ strict: false, allErrors: false, discriminator: true });
    addFormats(this.ajv);
    this.ajv.addSchema(doc, "openapi.json");
    this.templates = Object.entries(doc.paths as Record<string, Json>).map(([path, ops]) => ({
      path,
      segments: path.split("/"),
      ops,
    }));
  }

  /** Follow `$ref`s inside the document (`#/components/…`). */
  resolve(node: Json): Json {
    let n = node;
    for (let i = 0; n && typeof n.$ref === "string" && i < 10; i++) {
      const ref: string = n.$ref;
      if (!ref.startsWith("#/")) throw new Error(`external $ref ${ref}`);
      n = ref.slice(2).split("/").reduce(
        (o: Json, k) => o?.[k.replace(/~1/g, "/").replace(/~0/g, "~")],
        this.doc,
      );
      if (n === undefined) throw new Error(`unresolved $ref ${ref}`);
    }
    return n;
  }

  /** A compiled validator for the schema at a JSON pointer (list of tokens) of the document. */
  validatorAt(tokens: string[]): ValidateFunction {
    const ref = `openapi.json#/${tokens.map(pointerToken).join("/")}`;
    let v = this.validators.get(ref);
    if (!v) {
      v = this.ajv.compile({ $ref: ref });
      this.validators.set(ref, v);
    }
    return v;
  }

  /** Compile every schema of every operation (parameters, bodies, responses): refs must resolve. */
  compileAll(): string[] {
    const problems: string[] = [];
    for (const t of this.templates) {
      for (const m of METHODS) {
        const op = t.ops[m];
        if (!op) continue;
        const base = ["paths", t.path, m];
        const tryCompile = (tokens: string[]) => {
          try {
            this.validatorAt(tokens);
          } catch (e) {
            problems.push(`${m.toUpperCase()} ${t.path} ${tokens.slice(3).join("/")}: ${e}`);
          }
        };
        (op.parameters ?? []).forEach((_: Json, i: number) =>
          tryCompile([...base, "parameters", String(i), "schema"])
        );
        for (const type of Object.keys(op.requestBody?.content ?? {})) {
          tryCompile([...base, "requestBody", "content", type, "schema"]);
        }
        for (const [status, r] of Object.entries(op.responses ?? {}) as [string, Json][]) {
          const resolved = this.resolve(r);
          for (const type of Object.keys(resolved.content ?? {})) {
            if (r.$ref) tryCompile([...r.$ref.slice(2).split("/"), "content", type, "schema"]);
            else tryCompile([...base, "responses", status, "content", type, "schema"]);
          }
        }
      }
    }
    return problems;
  }

  /** The methods the document has on the path template a request path reaches. */
  documentedMethods(path: string): string[] | null {
    const t = matchTemplate(this.templates, path);
    if (!t) return null;
    return METHODS.filter((m) => t.ops[m]).map((m) => m.toUpperCase());
  }

  /**
   * Check one response against the document; returns null or what is wrong. Paths outside the
   * document are not checked (404s of mangled paths are the fuzzer's own business).
   */
  check(req: { method: string; path: string }, res: ContractResponse): string | null {
    const t = matchTemplate(this.templates, req.path);
    if (!t) return null;
    const method = req.method.toLowerCase();
    const op = t.ops[method];
    const where = `${req.method} ${t.path} → ${res.status}`;
    if (!op) return this.checkNotAllowed(t, req.method, res, where);
    const status = String(res.status);
    const documented = op.responses?.[status] ?? op.responses?.[`${status[0]}XX`] ??
      op.responses?.default;
    if (!documented) {
      // Seed 001's operations are Dust's contract, included unchanged: their error statuses
      // (e.g. 404 for an unknown workspace on register) are the seed's silence, not ours.
      if (SEED_PATHS.has(t.path) && res.status >= 400) return null;
      return `${where}: status ${status} is not documented (${
        Object.keys(op.responses ?? {}).join(", ")
      })`;
    }
    const response = this.resolve(documented);
    const content = response.content as Record<string, Json> | undefined;
    if (!content) return null;
    const type = (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const mediaType = Object.keys(content).find((k) => k.toLowerCase() === type) ??
      (content["*/*"] ? "*/*" : undefined);
    if (!mediaType) {
      if (res.status === 204 || (res.text === "" && !res.truncated)) return null;
      return `${where}: content type "${type}" is not documented (${
        Object.keys(content).join(", ")
      })`;
    }
    if (mediaType !== "application/json" || res.truncated) return null;
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      return `${where}: the body is not JSON: ${res.text.slice(0, 200)}`;
    }
    const tokens = documented.$ref
      ? [...documented.$ref.slice(2).split("/"), "content", mediaType, "schema"]
      : ["paths", t.path, method, "responses", status, "content", mediaType, "schema"];
    const validate = this.validatorAt(tokens);
    if (validate(body)) return null;
    const errors = (validate.errors ?? []).slice(0, 3).map((e) =>
      `${e.instancePath || "/"} ${e.message}${
        e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ""
      }`
    );
    return `${where}: the body does not match its schema: ${errors.join("; ")}; body ${
      res.text.slice(0, 300)
    }`;
  }

  /** A method the path does not document: 405 with `Allow` naming the documented methods. */
  private checkNotAllowed(
    t: Template,
    method: string,
    res: ContractResponse,
    where: string,
  ): string | null {
    const methods = METHODS.filter((m) => t.ops[m]).map((m) => m.toUpperCase());
    if (method === "HEAD" && methods.includes("GET")) return null;
    if (method === "OPTIONS") {
      if (res.status !== 204) return `${where}: OPTIONS should answer 204`;
    } else if (res.status !== 405 && res.status !== 401 && res.status !== 404) {
      return `${where}: an undocumented method should answer 405`;
    }
    if (res.status === 401 || res.status === 404) return null;
    const allow = (res.headers.get("allow") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    if (allow.sort().join(",") !== [...methods].sort().join(",")) {
      return `${where}: Allow is "${res.headers.get("allow")}", the document has ${
        methods.join(", ")
      }`;
    }
    return null;
  }
}
