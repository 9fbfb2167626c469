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
  /** Success status (default 200). */
  status?: number;
  /** Non-JSON success content (e.g. `text/event-stream`, `application/octet-stream`). */
  responseContentType?: string;
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

/** JSON Schema of a zod schema; schemas that cannot be represented become `{}`. */
export function toSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  try {
    const out = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
    delete out.$schema;
    return out;
  } catch {
    return {};
  }
}

export const ErrorBodySchema = z.object({
  error: z.object({
    type: z.string().describe("Dust's snake_case error type, e.g. workspace_not_found"),
    message: z.string(),
  }),
});

function pathParameters(path: string): Record<string, unknown>[] {
  return [...openApiPath(path).matchAll(/\{([^}]+)\}/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
}

function queryParameters(query: z.ZodType | undefined): Record<string, unknown>[] {
  if (!query) return [];
  const schema = toSchema(query, "input") as {
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

/** The OpenAPI operation object of one documented route. */
export function buildOperation(doc: RouteDoc): Record<string, unknown> {
  if (doc.operation) return doc.operation;
  const status = String(doc.status ?? 200);
  const success = doc.responseContentType
    ? { description: "Success", content: { [doc.responseContentType]: { schema: {} } } }
    : doc.response
    ? {
      description: "Success",
      content: { "application/json": { schema: toSchema(doc.response, "output") } },
    }
    : { description: "Success (no body)" };
  const error = { $ref: "#/components/responses/Error" };
  const auth = authOf(doc);
  return {
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: doc.tags,
    parameters: [...pathParameters(doc.path), ...queryParameters(doc.query)],
    ...(doc.body
      ? {
        requestBody: {
          required: true,
          content: {
            [doc.bodyContentType ?? "application/json"]: { schema: toSchema(doc.body, "input") },
          },
        },
      }
      : {}),
    responses: { [status]: success, "400": error, "401": error, "403": error, "404": error },
    security: auth === "none" ? [] : [{ bearer: [] }],
  };
}

/** The whole OpenAPI 3.1 document of every documented route. */
export function buildOpenApiDocument(config: Config): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const doc of listRouteDocs()) {
    const p = openApiPath(doc.path);
    (paths[p] ??= {})[doc.method] = buildOperation(doc);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "dust-mcp REST API",
      version: VERSION,
      description:
        "Dust-compatible public API (`@dust-tt/client` works against it) plus this server's own routes. Authenticate with `Authorization: Bearer <token>`: a workspace API key (`sk-…`), a personal access token (`pat_…`) or an OAuth access token issued for this API.",
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
      schemas: { Error: toSchema(ErrorBodySchema, "output"), ...extraComponents.schemas },
      responses: {
        Error: {
          description: "Error in Dust's envelope",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    },
  };
}
