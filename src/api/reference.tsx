/** @jsxImportSource hono/jsx */
/**
 * `GET /api/v1/openapi.json` (the OpenAPI 3.1 document of every documented route) and
 * `GET /api/v1/reference`, a browsable server-rendered page of the same routes: no inline script,
 * schemas shown in collapsible blocks. Both are public, like Dust's API docs.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { Layout } from "../pages/layout.tsx";
import { securePage } from "../pages/page_security.ts";
import {
  buildOpenApiDocument,
  buildOperation,
  documentRoute,
  listRouteDocs,
  openApiPath,
  type RouteDoc,
} from "./openapi.ts";

function Schema(props: { label: string; value: unknown }) {
  if (props.value === undefined) return null;
  return (
    <details>
      <summary>{props.label}</summary>
      <pre>{JSON.stringify(props.value, null, 2)}</pre>
    </details>
  );
}

function RouteCard(props: { doc: RouteDoc }) {
  // deno-lint-ignore no-explicit-any
  const op = buildOperation(props.doc) as any;
  const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean }[];
  const success = Object.entries(op.responses ?? {}).find(([s]) => s.startsWith("2"));
  return (
    <div class="card" id={`${props.doc.method}-${openApiPath(props.doc.path)}`}>
      <h2>
        <code>{props.doc.method.toUpperCase()} {openApiPath(props.doc.path)}</code>
      </h2>
      <p>{op.summary}</p>
      {op.description ? <p class="muted">{op.description}</p> : null}
      <p class="muted">
        Auth: {op.security?.length ? "Bearer token" : "none"}
        {params.length
          ? ` · Parameters: ${
            params.map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""})`).join(", ")
          }`
          : ""}
      </p>
      <Schema label="Request body" value={op.requestBody?.content?.["application/json"]?.schema} />
      <Schema label={`Response ${success?.[0] ?? ""}`} value={success?.[1]} />
    </div>
  );
}

/** The OpenAPI document and the reference page. */
export function referenceRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  documentRoute({
    method: "get",
    path: "/api/v1/openapi.json",
    summary: "This OpenAPI 3.1 document",
    tags: ["Reference"],
    auth: "none",
    response: z.looseObject({
      openapi: z.literal("3.1.0"),
      paths: z.record(z.string(), z.unknown()),
    }),
  });
  app.get("/api/v1/openapi.json", (c) => c.json(buildOpenApiDocument(c.var.deps.config)));

  documentRoute({
    method: "get",
    path: "/api/v1/reference",
    summary: "Browsable reference of every route (HTML)",
    tags: ["Reference"],
    auth: "none",
    responseContentType: "text/html",
  });
  app.get("/api/v1/reference", securePage, (c) => {
    const docs = listRouteDocs();
    const tags = [...new Set(docs.flatMap((d) => d.tags.slice(0, 1)))].sort();
    return c.html(
      <Layout title="REST API reference">
        <div class="card">
          <h1>REST API reference</h1>
          <p>
            {docs.length} routes. Machine-readable: <a href="/api/v1/openapi.json">openapi.json</a>
          </p>
          <nav>
            {tags.map((t) => <a key={t} href={`#tag-${t}`}>{t}</a>)}
          </nav>
        </div>
        {tags.map((t) => (
          <section key={t} id={`tag-${t}`}>
            <h1>{t}</h1>
            {docs.filter((d) => d.tags[0] === t).map((d) => (
              <RouteCard key={`${d.method} ${d.path}`} doc={d} />
            ))}
          </section>
        ))}
      </Layout>,
    );
  });
  return app;
}
