/**
 * Audit growth under a flood (issue 10, finding 2): one `user` MCP token calls `/mcp` at full
 * speed for `BENCH_AUDIT_SECONDS` (default 60) with JSON-RPC batches as large as the server
 * accepts (`--mcp-max-batch`, default 10), every call a `search` with maximum-size arguments
 * (a 2,048-character query and three lists of 64 × 256 characters), with the default rate
 * budgets. Before the fix the same token added 42,000 rows (577 MB) in 20 s.
 *
 * The figure is the database growth: pages in use (`page_count - freelist_count`, after a
 * WAL checkpoint) after the flood minus before, and the audit rows added. Target: under 5 MB.
 * The ratio is that growth ÷ the 5 MB target (lower is better; above 1 fails), measured in the
 * same run on the same database.
 *
 * `deno task bench audit_flood`, or `deno run -A bench/audit_flood.ts`.
 * @module
 */
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { createUser } from "../src/core/users.ts";
import { addMember, createWorkspace } from "../src/core/workspaces.ts";
import { issueMcpToken } from "../src/core/mcp_tokens.ts";
import { flushAuditLog } from "../src/core/audit.ts";
import type { Db } from "../src/db/db.ts";
import { type LoadTarget, runLoad } from "./load.ts";
import type { BenchResult } from "./result.ts";

const TARGET_BYTES = 5 * 1024 * 1024;

function seconds(): number {
  const s = Number(Deno.env.get("BENCH_AUDIT_SECONDS") ?? 60);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 600) : 60;
}

/** Bytes of the database's pages in use, after moving the WAL into the main file. */
async function usedBytes(db: Db): Promise<number> {
  await flushAuditLog(db);
  await db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const one = async (sql: string) => Object.values((await db.get(sql))!)[0] as number;
  return (await one("PRAGMA page_count") - await one("PRAGMA freelist_count")) *
    await one("PRAGMA page_size");
}

async function auditRows(db: Db): Promise<{ rows: number; calls: number }> {
  await flushAuditLog(db);
  const r = await db.get(
    "SELECT COUNT(*) AS rows, COALESCE(SUM(count), 0) AS calls FROM audit_log",
  ) as { rows: number; calls: number };
  return { rows: r.rows, calls: r.calls };
}

/** The largest `search` arguments the tool's schema accepts. */
function maxSearchArgs(i: number): Record<string, unknown> {
  const list = (c: string) => Array.from({ length: 64 }, (_, k) => `${c}${k}`.padEnd(256, c));
  return {
    query: `flood ${i} `.padEnd(2048, "q"),
    tagsIn: list("a"),
    tagsNot: list("b"),
    nodeIds: list("c"),
  };
}

export async function run(): Promise<BenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-audit-" });
  try {
    const config = resolveConfig({
      port: "0",
      host: "127.0.0.1",
      "data-dir": dataDir,
      "log-level": "warn",
    }, {});
    const server = await startServer(config);
    try {
      const db = server.deps.db;
      const admin = await createUser(db, { email: "admin@example.com", name: "A", password: null });
      const ws = await createWorkspace(db, { name: "Flooded", adminUserId: admin.id });
      const user = await createUser(db, { email: "m@example.com", name: "M", password: null });
      await addMember(db, { workspaceId: ws.id, userId: user.id, role: "user" });
      const token = (await issueMcpToken(db, { userId: user.id, workspaceId: ws.id })).token;
      const batch = Array.from({ length: config.mcpMaxBatch }, (_, i) => ({
        jsonrpc: "2.0",
        id: i + 1,
        method: "tools/call",
        params: { name: "search", arguments: maxSearchArgs(i) },
      }));
      const target: LoadTarget = {
        url: `${server.url}/mcp`,
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          "MCP-Protocol-Version": "2025-06-18",
          Authorization: `Bearer ${token}`,
        },
        body: JSON.stringify(batch),
      };
      const probe = await fetch(target.url, target);
      const probeText = await probe.text();
      if (probe.status !== 200 || !probeText.includes('"result"')) {
        throw new Error(`flood batch not served: ${probe.status} ${probeText.slice(0, 200)}`);
      }
      const before = await usedBytes(db);
      const rowsBefore = await auditRows(db);
      const durationMs = seconds() * 1000;
      const load = await runLoad({
        target,
        concurrency: 8,
        durationMs,
        maxRequests: 5_000_000,
        client: "fetch",
      });
      const after = await usedBytes(db);
      const rowsAfter = await auditRows(db);
      const grown = after - before;
      const served = load.requests - load.errors;
      const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
      const rate = (load.requests / load.seconds).toFixed(0);
      const rowsAdded = rowsAfter.rows - rowsBefore.rows;
      const callsAdded = rowsAfter.calls - rowsBefore.calls;
      const lines = [
        `${load.requests} requests in ${load.seconds.toFixed(1)} s (${rate} req/s), ${served} ` +
        `served (batches of ${config.mcpMaxBatch} search calls, ${
          kb(target.body!.length)
        } each), ` +
        `${load.errors} refused (429 request budget)`,
        `tool calls attempted ${served * config.mcpMaxBatch}; ` +
        `audit rows added ${rowsAdded} standing for ${callsAdded} calls`,
        `database pages in use: ${kb(before)} → ${kb(after)}, grew ${kb(grown)} ` +
        `in ${seconds()} s (target < 5 MB)`,
      ];
      return {
        name: "audit_flood",
        ratio: grown / TARGET_BYTES,
        ratioLabel: `database growth in ${seconds()} s of one token's flood ÷ 5 MB (lower: better)`,
        lines,
        failures: grown < TARGET_BYTES
          ? []
          : [`database grew ${(grown / 1024 / 1024).toFixed(1)} MB (target < 5 MB)`],
        figures: {
          seconds: seconds(),
          load,
          bytesBefore: before,
          bytesAfter: after,
          bytesGrown: grown,
          auditRowsAdded: rowsAdded,
          auditCallsAdded: callsAdded,
          maxBatch: config.mcpMaxBatch,
        },
      };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) {
  const r = await run();
  for (const line of r.lines) console.log(line);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
}
