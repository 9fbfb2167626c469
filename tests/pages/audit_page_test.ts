/**
 * The audit log with pictures: the figures (calls by tool and outcome over time, latency
 * percentiles from latency classes, busiest clients and members) for the table's filter,
 * refused calls counted by their count; client names instead of ids; filters that keep their
 * values across filtering, paging and saving the retention.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { BrowserHttp, formValue, startSessionFor } from "../helpers/browser_http.ts";
import { seedConsoleWorld } from "../helpers/console_admin_world.ts";
import {
  bucketSizeFor,
  getAuditStats,
  LATENCY_BOUNDS_MS,
  MAX_BUCKETS,
  percentilesOf,
} from "../../src/core/audit_stats.ts";
import { flushAuditLog, recordToolCall } from "../../src/core/audit.ts";
import { pageActorOf } from "../helpers/oauth_client.ts";

Deno.test("[audit stats] percentiles are the upper bound of the latency class they fall in", () => {
  const h = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
  h[LATENCY_BOUNDS_MS.indexOf(10)] = 90; // 90 calls of at most 10 ms
  h[LATENCY_BOUNDS_MS.indexOf(500)] = 9; // 9 of at most 500 ms
  h[LATENCY_BOUNDS_MS.length] = 1; // 1 slower than the last bound
  assert.deepEqual(percentilesOf(h), { p50: 10, p95: 500, p99: 500 });
  h[LATENCY_BOUNDS_MS.length] = 5;
  assert.equal(percentilesOf(h).p99, 60000, "the open class reports the last bound");
  assert.deepEqual(percentilesOf(h.map(() => 0)), { p50: null, p95: null, p99: null });
  for (const window of [60_000, 3_600_000, 86_400_000, 7 * 86_400_000, 90 * 86_400_000]) {
    assert.ok(window / bucketSizeFor(window) <= MAX_BUCKETS, `${window}`);
  }
  assert.equal(bucketSizeFor(7 * 86_400_000), 10_800_000, "a week: 3-hour points");
});

Deno.test("[audit stats] calls by tool and outcome, refusals by their count, busiest callers, for the filter", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s);
  const admin = await pageActorOf(s, w.admin);
  const at = Date.now() - 3_600_000;
  const entry = (tool: string, outcome: "success" | "error" | "rate_limited", ms: number) => ({
    at,
    workspaceId: w.ws.id,
    userId: w.user.user.id,
    credentialKind: "mcp_token" as const,
    credentialId: "mtk_x",
    clientId: "mcp_token:mtk_x",
    tool,
    arguments: {},
    outcome,
    error: null,
    latencyMs: ms,
    bytesReturned: 1,
    requestId: null,
    refused: outcome === "rate_limited",
  });
  for (let i = 0; i < 8; i++) await recordToolCall(s.deps.db, entry("search", "success", 4));
  await recordToolCall(s.deps.db, entry("search", "error", 400));
  await recordToolCall(s.deps.db, entry("files_cat", "success", 40));
  for (let i = 0; i < 5; i++) await recordToolCall(s.deps.db, entry("search", "rate_limited", 0));
  await flushAuditLog(s.deps.db);
  const all = await getAuditStats(s.deps, admin, {});
  assert.equal(all.totals.calls, 15, "5 refusals in one counted entry still count 5 calls");
  assert.equal(all.totals.errors, 6);
  const sum = (label: string, series: { label: string; values: (number | null)[] }[]) =>
    series.find((x) => x.label === label)!.values.reduce<number>((a, b) => a + (b ?? 0), 0);
  assert.equal(sum("search", all.byTool), 14);
  assert.equal(sum("files_cat", all.byTool), 1);
  assert.equal(sum("rate_limited", all.byOutcome), 5);
  assert.equal(sum("success", all.byOutcome), 9);
  const search = all.perTool.find((t) => t.tool === "search")!;
  assert.deepEqual([search.calls, search.errors, search.p50, search.p95], [14, 6, 5, 500]);
  assert.deepEqual(all.members, [{ label: w.user.email, calls: 15 }]);
  assert.equal(all.clients[0].calls, 15);
  const one = await getAuditStats(s.deps, admin, { tool: "files_cat" });
  assert.equal(one.totals.calls, 1);
  assert.deepEqual(one.byTool.map((x) => x.label), ["files_cat"]);
  const before = await getAuditStats(s.deps, admin, { until: at - 1 });
  assert.equal(before.totals.calls, 0, "the time window applies");
  const member = await pageActorOf(s, w.user);
  await assert.rejects(() => getAuditStats(s.deps, member, {}), /Only workspace admins/);
});

Deno.test("[audit page] client names instead of ids; the filter keeps its values; the table scrolls in its card", async () => {
  await using s = await startTestServer();
  const w = await seedConsoleWorld(s, { audit: 120 });
  const b = new BrowserHttp(s.url);
  await startSessionFor(s, b, w.admin.user.id);
  const base = `/w/${w.ws.sId}/audit`;
  const query = `?user=${w.user.user.sId}&tool=search&outcome=success&since=2020-01-01T00:00`;
  const page = await b.get(`${base}${query}`);
  assert.equal(page.status, 200);
  assert.match(
    page.text,
    /<td class="wrap" title="mcp_token:mtk_[^"]+">MCP token dmcp_[^<]+…<\/td>/,
  );
  assert.doesNotMatch(page.text, />mcp_token:/, "never the raw id as the client's name");
  assert.match(page.text, new RegExp(`<option[^>]*value="${w.user.user.sId}" selected`));
  assert.match(
    page.text,
    /<input id="tool" name="tool" type="text" list="audit-tools" value="search"/,
  );
  assert.match(page.text, /<option[^>]*value="success" selected/);
  assert.match(page.text, /id="since" name="since" type="datetime-local" value="2020-01-01T00:00"/);
  assert.match(page.text, /data-chart="\{/, "charts");
  assert.match(
    page.text,
    /<div class="table-wrap"[^>]*>\s*<table/,
    "the table scrolls inside its card",
  );
  // Every row of the filtered table is the user's successful search.
  const rows = [...page.text.matchAll(/<tr><td>\d{4}-[\s\S]*?<\/tr>/g)].map((m) => m[0]);
  assert.ok(rows.length > 0);
  for (const r of rows) assert.ok(r.includes(">search<") && r.includes(w.user.email), r);
  // Older entries keep the filter; saving the retention too.
  const older = /href="([^"]*cursor=[^"]*)">Older entries/.exec(page.text);
  if (older) assert.match(older[1].replaceAll("&amp;", "&"), /tool=search&outcome=success/);
  const saved = await b.post(`${base}/retention${query}`, {
    csrf: formValue(page.text, "csrf")!,
    retentionDays: "30",
  });
  assert.equal(saved.status, 200);
  assert.match(saved.text, /Entries are kept for 30 days/);
  assert.match(
    saved.text,
    /<input id="tool" name="tool" type="text" list="audit-tools" value="search"/,
  );
});
