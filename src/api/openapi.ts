/**
 * The REST route registry and the OpenAPI 3.1 document built from it.
 *
 * Each router documents a route with one call next to its handler, using the same zod schemas
 * the handler validates with:
 *
 * ```ts
 * documentRoute({ method: "get", path: "/api/v1/w/:wId/spaces", summary: "List spaces",
 *   tags: ["Spaces"], query: ListSpacesQuery, response: ListSpacesResponse });
 * app.get("/spaces", (c) => …);
 * ```
 *
 * Registration happens when a router factory runs (inside `createApp`), never at import, and
 * is keyed by method + path, so building several apps in one process (tests) does not
 * duplicate entries. A route whose contract is fixed elsewhere (the seed 001 relay paths) may
 * pass a ready-made `operation` object, which is used unchanged.
 * `GET /api/v1/openapi.json` renders the document; `GET /api/v1/reference` is the browsable page.
 * @module
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import { VERSION } from "../version.ts";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

/** Who may call a route (rendered as the operation's security requirement). */
export type RouteAuth = "workspace" | "user" | "none";

export interface RouteDoc {
  method: HttpMethod;
  /** Full path, Hono style (`/api/v1/w/:wId/spaces/:spaceId`) or OpenAPI style (`{wId}`). */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Defaults to `workspace` for `/api/v1/w/…` paths and `user` otherwise. */
  auth?: RouteAuth;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The body's media type when it is not JSON (e.g. `multipart/form-data`). */
  bodyContentType?: string;
  /** The success body (JSON). */
  response?: z.ZodType;
  /** Success status (default 200); a 4xx here means the route always refuses. */
  status?: number;
  /**
   * Non-JSON success content (e.g. `text/event-stream`, `*\/*` for bytes of any type); with
   * `response` too, the route answers either (e.g. JSON or a JSON-lines export).
   */
  responseContentType?: string;
  /**
   * Error statuses this route answers besides the ones every route may (400, 401, 403, 404,
   * 413), e.g. 409 for a name already taken, 429 and 503 where a budget or a queue is full.
   */
  errors?: number[];
  /** Schemas of path parameters whose format is checked (default: any string). */
  pathParams?: Record<string, z.ZodType>;
  /** A complete OpenAPI operation object, used as is (contracts fixed elsewhere). */
  operation?: Record<string, unknown>;
}

const registry = new Map<string, RouteDoc>();
/** Named components that ready-made operations reference (e.g. seed 001's `MCPServerView`). */
const extraComponents = {
  schemas: {} as Record<string, unknown>,
  securitySchemes: {} as Record<string, unknown>,
};

/** Register named component schemas / security schemes (idempotent, last one wins). */
export function documentComponents(c: {
  schemas?: Record<string, unknown>;
  securitySchemes?: Record<string, unknown>;
}): void {
  Object.assign(extraComponents.schemas, c.schemas ?? {});
  Object.assign(extraComponents.securitySchemes, c.securitySchemes ?? {});
}

/** The OpenAPI form of a path: `:name` → `{name}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
}

/** Document one route (idempotent per method + path; the last registration wins). */
export function documentRoute(doc: RouteDoc): void {
  registry.set(`${doc.method} ${openApiPath(doc.path)}`, doc);
}

/** Every documented route, sorted by path then method. */
export function listRouteDocs(): RouteDoc[] {
  const order: HttpMethod[] = ["get", "post", "put", "patch", "delete"];
  return [...registry.values()].sort((a, b) =>
    openApiPath(a.path).localeCompare(openApiPath(b.path)) ||
    order.indexOf(a.method) - order.indexOf(b.method)
  );
}

/**
 * Named schemas collected while the document is built. zod writes a recursive or named
 * (`.meta({ id })`) schema once under `$defs` and points at it with `#/$defs/<name>`; embedded
 * in an operation, such a pointer would resolve against the document root and miss. So every
 * `$defs` entry moves here (→ `components.schemas`) and its references are rewritten.
 */
export type SchemaSink = Record<string, unknown>;

/** A short, stable hash of a string (FNV-1a, 32 bits, hex). */
function hashOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Rewrite every `#/$defs/<name>` reference in `node` with `names`. */
function rewriteRefs(node: unknown, names: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, names));
  if (!node || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    const target = k === "$ref" && typeof v === "string" && v.startsWith("#/$defs/")
      ? names.get(v.slice("#/$defs/".length))
      : undefined;
    out[k] = target ? `#/components/schemas/${target}` : rewriteRefs(v, names);
  }
  return out;
}

/**
 * JSON Schema of a zod schema; schemas that cannot be represented become `{}`. Its `$defs`
 * go to `sink` (named by their zod id, or by a hash of their content for anonymous recursive
 * schemas; input and output forms apart) with references pointing there; without a sink they
 * stay local (`$defs` next to the schema, resolvable when the schema stands alone).
 */
export function toSchema(
  schema: z.ZodType,
  io: "input" | "output",
  sink?: SchemaSink,
): Record<string, unknown> {
  let out: Record<string, unknown>;
  try {
    out = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  } catch {
    return {};
  }
  delete out.$schema;
  const defs = out.$defs as Record<string, unknown> | undefined;
  if (!sink || !defs) return out;
  delete out.$defs;
  const names = new Map<string, string>();
  for (const [key, def] of Object.entries(defs)) {
    const base = key.startsWith("__schema") ? `Schema${hashOf(JSON.stringify(def))}` : key;
    names.set(key, io === "input" ? `${base}Input` : base);
  }
  for (const [key, def] of Object.entries(defs)) sink[names.get(key)!] = rewriteRefs(def, names);
  return rewriteRefs(out, names) as Record<string, unknown>;
}

export const ErrorBodySchema = z.object({
  error: z.looseObject({
    type: z.string().describe("Dust's snake_case error type, e.g. workspace_not_found"),
    message: z.string(),
  }).describe("Some errors add fields, e.g. retryAfter (seconds) on 429 rate_limit_error"),
});

/**
 * Error statuses every operation may answer: a refused input (400), a missing or invalid
 * credential (401), a role or scope that does not allow it (403), an unknown workspace or
 * object (404), a body over the limit (413, checked before routing, whatever the method).
 */
const COMMON_ERRORS = [400, 401, 403, 404, 413];

function pathParameters(
  path: string,
  schemas: Record<string, z.ZodType> | undefined,
): Record<string, unknown>[] {
  return [...openApiPath(path).matchAll(/\{([^}]+)\}/g)].map((m) => {
    const schema = schemas?.[m[1]] ? toSchema(schemas[m[1]], "input") : { type: "string" };
    return {
      name: m[1],
      in: "path",
      required: true,
      ...(typeof schema.description === "string" ? { description: schema.description } : {}),
      schema,
    };
  });
}

function queryParameters(query: z.ZodType | undefined, sink: SchemaSink | undefined) {
  if (!query) return [];
  const schema = toSchema(query, "input", sink) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    in: "query",
    required: schema.required?.includes(name) ?? false,
    ...(typeof s.description === "string" ? { description: s.description } : {}),
    schema: s,
  }));
}

function authOf(doc: RouteDoc): RouteAuth {
  return doc.auth ?? (openApiPath(doc.path).startsWith("/api/v1/w/") ? "workspace" : "user");
}

function successResponse(doc: RouteDoc, sink: SchemaSink | undefined): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  if (doc.response) {
    content["application/json"] = { schema: toSchema(doc.response, "output", sink) };
  }
  if (doc.responseContentType) content[doc.responseContentType] = { schema: {} };
  if (Object.keys(content).length === 0) return { description: "Success (no body)" };
  return { description: "Success", content };
}

/**
 * The OpenAPI operation object of one documented route. Named and recursive schemas go to
 * `sink` (the document's `components.schemas`) when one is given.
 */
export function buildOperation(doc: RouteDoc, sink?: SchemaSink): Record<string, unknown> {
  if (doc.operation) return doc.operation;
  const status = String(doc.status ?? 200);
  const error = { $ref: "#/components/responses/Error" };
  const errors = [...new Set([...COMMON_ERRORS, ...(doc.errors ?? [])])].sort();
  const auth = authOf(doc);
  return {
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: doc.tags,
    parameters: [
      ...pathParameters(doc.path, doc.pathParams),
      ...queryParameters(doc.query, sink),
    ],
    ...(doc.body
      ? {
        requestBody: {
          required: true,
          content: {
            [doc.bodyContentType ?? "application/json"]: {
              schema: toSchema(doc.body, "input", sink),
            },
          },
        },
      }
      : {}),
    responses: {
      // A route that always refuses (Dust Apps) documents its refusal as its only answer.
      [status]: Number(status) >= 400 ? error : successResponse(doc, sink),
      ...Object.fromEntries(errors.map((e) => [String(e), error])),
    },
    security: auth === "none" ? [] : [{ bearer: [] }],
  };
}

/** The whole OpenAPI 3.1 document of every documented route. */
export function buildOpenApiDocument(config: Config): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const sink: SchemaSink = {};
  for (const doc of listRouteDocs()) {
    const p = openApiPath(doc.path);
    (paths[p] ??= {})[doc.method] = buildOperation(doc, sink);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "dust-mcp REST API",
      version: VERSION,
      description:
        "Dust-compatible public API (`@dust-tt/client` works against it) plus this server's own routes. Authenticate with `Authorization: Bearer <token>`: a workspace API key (`sk-…`), a personal access token (`pat_…`) or an OAuth access token issued for this API. Query parameters a route does not document are ignored, as Dust does. A known path called with another method answers 405 `method_not_supported_error` with `Allow`; `OPTIONS` answers 204 with the same `Allow`.",
    },
    servers: [{ url: config.publicUrl }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "Workspace API key, personal access token or OAuth access token.",
        },
        ...extraComponents.securitySchemes,
      },
      schemas: {
        Error: toSchema(ErrorBodySchema, "output"),
        ...sink,
        ...extraComponents.schemas,
      },
      responses: {
        Error: {
          description: "Error in Dust's envelope",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    },
  };
}
