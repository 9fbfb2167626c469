/**
 * Page helpers for the security suite: the app's route table (to prove a list of pages is
 * complete), a fingerprint of every durable row (to prove a refused form changed nothing),
 * and the clickjacking / referrer headers every page must carry.
 */
import assert from "node:assert/strict";
import type { TestServer } from "./server.ts";
import { createApp } from "../../src/app.ts";
import { mapSeries } from "../../src/util/async.ts";

/** `METHOD path` of every route the app serves (middleware entries left out). */
export function routeTable(server: TestServer): string[] {
  const seen = new Set<string>();
  for (const r of createApp(server.deps).routes) {
    if (r.method === "GET" || r.method === "POST") seen.add(`${r.method} ${r.path}`);
  }
  return [...seen];
}

/** Routes that are not pages: the JSON API, OAuth endpoints, metadata, MCP, static assets. */
export function isPageRoute(route: string): boolean {
  const path = route.slice(route.indexOf(" ") + 1);
  return !(/^\/api\/v1\/(w\/|me$|openapi\.json$)/.test(path) ||
    /^\/(\.well-known|mcp|static)\//.test(path) ||
    ["/healthz", "/register", "/token", "/revoke", "/mcp"].includes(path));
}

const VOLATILE_TABLES = new Set([
  "audit_log",
  "stream_events",
  "sqlite_sequence",
  "_migrations",
  // The cluster's own bookkeeping, renewed in the background (heartbeats, job and run leases).
  "instances",
  "periodic_jobs",
  "agent_runs",
  // OAuth attempt traces (the doctor's page): a log of attempts, like the audit log.
  "oauth_traces",
  // PostgreSQL's credential counter: a statement that may change a credential moves it, even one
  // that changed no row (a refused revocation); the credential tables themselves are compared.
  "credential_epoch",
]);

/** A fingerprint of every durable row (browser sessions by id and user only). */
export async function digestDatabase(server: TestServer): Promise<string> {
  const db = server.deps.db;
  const tables = (await db.all<{ name: string }>(
    db.engine === "sqlite"
      ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%' ORDER BY name"
      : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  )).map((t) => t.name).filter((t) => !VOLATILE_TABLES.has(t));
  return (await mapSeries(tables, async (t) => {
    const cols = t === "browser_sessions" ? "id_hash, user_id" : "*";
    const rows = await db.all(`SELECT ${cols} FROM "${t}" ORDER BY 1`);
    return `${t}:${JSON.stringify(rows, (_k, v) => typeof v === "bigint" ? String(v) : v)}`;
  })).join("\n");
}

/** The page may not be framed, sends no referrer and is never content-sniffed. */
export function assertUnframeable(label: string, headers: Headers): void {
  const csp = headers.get("content-security-policy") ?? "";
  assert.match(csp, /(^|;)\s*frame-ancestors 'none'/, `${label}: CSP ${csp}`);
  assert.equal(headers.get("x-frame-options"), "DENY", `${label}: X-Frame-Options`);
  assert.equal(headers.get("referrer-policy"), "no-referrer", `${label}: Referrer-Policy`);
  assert.equal(headers.get("x-content-type-options"), "nosniff", `${label}: nosniff`);
}
