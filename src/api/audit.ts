/**
 * The MCP audit log over REST (admins only): `GET /api/v1/w/{wId}/audit` with filters and a
 * cursor, or `?format=jsonl` for a JSON-lines export of every matching entry.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { getActor } from "../auth/bearer.ts";
import { AUDIT_OUTCOMES } from "../core/audit.ts";
import {
  assertAuditReader,
  AUDIT_RETENTION_MAX_DAYS,
  AUDIT_RETENTION_MIN_DAYS,
  exportAuditJsonl,
  getAuditSettings,
  listAuditEntries,
  setAuditRetention,
} from "../core/audit_views.ts";
import { documentRoute } from "./openapi.ts";
import { parseJson, parseQuery } from "./validate.ts";

const W = "/api/v1/w/:wId";

/** ISO 8601 date-time or epoch milliseconds → epoch ms. */
const instant = z.string().max(40).transform((v, ctx) => {
  const ms = /^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: "custom", message: "must be an ISO date-time or epoch milliseconds" });
    return z.NEVER;
  }
  return ms;
});

export const AuditQuery = z.object({
  user: z.string().max(64).optional().describe("User sId"),
  tool: z.string().max(64).optional().describe("Tool name, e.g. search"),
  outcome: z.enum(AUDIT_OUTCOMES as [string, ...string[]]).optional(),
  since: instant.optional().describe("Inclusive lower bound (ISO date-time or epoch ms)"),
  until: instant.optional().describe("Exclusive upper bound (ISO date-time or epoch ms)"),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("Page size (default 100)"),
  cursor: z.coerce.number().int().min(1).optional().describe("nextCursor of the previous page"),
  format: z.enum(["json", "jsonl"]).optional().describe("jsonl exports every match"),
});

export const AuditSettingsBody = z.object({
  retentionDays: z.number().int().min(AUDIT_RETENTION_MIN_DAYS).max(AUDIT_RETENTION_MAX_DAYS)
    .describe("Days audit entries are kept before they are pruned (default 90)"),
});
const AuditEntry = z.object({
  id: z.number(),
  createdAt: z.string(),
  workspaceId: z.string(),
  user: z.object({ sId: z.string(), email: z.string() }).nullable(),
  credentialKind: z.string(),
  credentialId: z.string().nullable(),
  clientId: z.string().nullable(),
  tool: z.string(),
  arguments: z.unknown(),
  outcome: z.enum(AUDIT_OUTCOMES as [string, ...string[]]),
  error: z.string().nullable(),
  latencyMs: z.number(),
  bytesReturned: z.number(),
  requestId: z.string().nullable(),
  count: z.number(),
  lastAt: z.string().nullable(),
});
const AuditPage = z.object({
  entries: z.array(AuditEntry),
  hasMore: z.boolean(),
  nextCursor: z.number().nullable(),
});

const AuditSettings = z.object({
  retentionDays: z.number().int(),
  entries: z.number().int().describe("Entries the workspace's audit log holds now"),
  maxEntries: z.number().int().describe(
    "Most entries kept (--audit-max-entries); past it the oldest are removed first",
  ),
});

/** Mounted at `/api/v1/w/:wId`. */
export function auditRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  documentRoute({
    method: "get",
    path: `${W}/audit`,
    summary: "MCP audit log (workspace admins): filter, page, or export as JSON lines",
    tags: ["Audit"],
    query: AuditQuery,
    response: AuditPage,
    responseContentType: "application/x-ndjson",
  });
  app.get("/audit", async (c) => {
    const q = parseQuery(c, AuditQuery);
    const actor = getActor(c);
    const filter = {
      userSId: q.user,
      tool: q.tool,
      outcome: q.outcome as (typeof AUDIT_OUTCOMES)[number] | undefined,
      since: q.since,
      until: q.until,
    };
    if (q.format !== "jsonl") {
      return c.json(
        await listAuditEntries(c.var.deps.db, actor, {
          ...filter,
          limit: q.limit,
          cursor: q.cursor,
        }),
      );
    }
    assertAuditReader(actor);
    return jsonlResponse(
      await exportAuditJsonl(c.var.deps.db, actor.workspace.id, filter),
      `audit-${actor.workspace.sId}.jsonl`,
    );
  });
  documentRoute({
    method: "get",
    path: `${W}/audit/settings`,
    summary:
      "Audit log settings (workspace admins and API keys): the retention in days, entries stored and the cap",
    tags: ["Audit"],
    response: AuditSettings,
  });
  app.get("/audit/settings", async (c) => c.json(await getAuditSettings(c.var.deps, getActor(c))));
  documentRoute({
    method: "patch",
    path: `${W}/audit/settings`,
    summary:
      "Set the audit retention (workspace admins only, never an API key); older entries are pruned at once",
    tags: ["Audit"],
    body: AuditSettingsBody,
    response: AuditSettings,
  });
  app.patch("/audit/settings", async (c) => {
    const body = await parseJson(c, AuditSettingsBody);
    return c.json(await setAuditRetention(c.var.deps, getActor(c), body));
  });
  return app;
}

/** Stream JSON lines from a generator (one page of rows read at a time) as a download. */
export function jsonlResponse(lines: AsyncIterator<string>, filename: string): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value + "\n"));
    },
    async cancel() {
      await lines.return?.();
    },
  });
  return new Response(body, {
    headers: {
      "Content-Type": "application/x-ndjson; charset=utf-8",
      "Content-Disposition": `attachment; filename="${filename}"`,
    },
  });
}
