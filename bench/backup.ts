/**
 * Online backup under write load: how long a backup takes and how much it stalls the running
 * server's writers, for both snapshot methods (`VACUUM INTO` and the online backup API,
 * src/db/sqlite_snapshot.ts).
 *
 * A SQLite data directory is seeded through the core (load_mixed's seed: workspaces with a
 * corpus of `BENCH_BACKUP_DOCS` documents each, members, conversations; plus files), the real
 * server runs as a subprocess on it, and writers post conversation messages over REST without
 * pause, each write's latency recorded. Phases: writers alone (the baseline), then a backup
 * with each method taken from this process — a process of its own, as `dust-mcp backup` is —
 * while the writers go on, then writers alone again.
 *
 * Ratio: writers' p99 latency during the default method's backup ÷ their p99 alone (1.0: no
 * stall). Printed per method: backup seconds (snapshot, files), writes acknowledged during it,
 * p50/p99/max latency, and the longest gap between two acknowledged writes.
 *
 * Run: `deno run -A bench/backup.ts` (both methods) or `deno task bench backup` (the backup API
 * only: `VACUUM INTO` needs a process with every permission).
 * @module
 */
import { join } from "node:path";
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { findUserByEmail } from "../src/core/users.ts";
import { createFile, uploadFileContent } from "../src/core/files.ts";
import { resolveUserActor } from "../src/auth/user_actor.ts";
import { ALL_SCOPES } from "../src/auth/actor.ts";
import { openDb } from "../src/db/sqlite.ts";
import { LocalFiles } from "../src/storage/local_files.ts";
import { createBackup } from "../src/core/backup.ts";
import { DEFAULT_SNAPSHOT_METHOD, type SnapshotMethod } from "../src/db/sqlite_snapshot.ts";
import { seedDataDir, type SeededUser, spawnServer } from "./load_mixed_seed.ts";
import type { BenchResult } from "./result.ts";

const DOCS = Math.max(100, Number(Deno.env.get("BENCH_BACKUP_DOCS") ?? "4000"));
const FILES = Math.max(1, Number(Deno.env.get("BENCH_BACKUP_FILES") ?? "100"));
const FILE_BYTES = 256 * 1024;
const WRITERS = 4;
const BASELINE_MS = 5_000;

interface Write {
  at: number;
  ms: number;
}

/** Files in the first conversation of each member (as bench/migrate_data.ts seeds them). */
async function addFiles(dataDir: string, users: SeededUser[]): Promise<void> {
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
    {},
  );
  const server = await startServer(config);
  try {
    for (let f = 0; f < FILES; f++) {
      const i = f % users.length;
      const u = users[i];
      const user = (await findUserByEmail(server.deps.db, `mixed${i}@example.com`))!;
      const actor = (await resolveUserActor(server.deps, {
        userSId: user.sId,
        workspaceSId: u.wId,
        scopes: new Set(ALL_SCOPES),
        credential: { kind: "personal_token", id: "bench" },
      }))!;
      const file = await createFile(server.deps, actor, {
        contentType: "application/octet-stream",
        fileName: `f${f}.bin`,
        fileSize: FILE_BYTES,
        useCase: "conversation",
        useCaseMetadata: { conversationId: u.conversationIds[0] },
      });
      const bytes = new Uint8Array(FILE_BYTES);
      for (let o = 0; o < bytes.length; o += 65536) {
        crypto.getRandomValues(bytes.subarray(o, o + 65536));
      }
      await uploadFileContent(server.deps, actor, {
        fileId: file.sId,
        body: ReadableStream.from([bytes]),
      });
    }
    await server.deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    await server.stop();
  }
}

/** Writers posting messages until `stop` is set; every acknowledged write is recorded. */
function startWriters(url: string, users: SeededUser[]) {
  const writes: Write[] = [];
  const errors: string[] = [];
  let stop = false;
  const loops = Array.from({ length: WRITERS }, async (_, w) => {
    const u = users[w % users.length];
    const path = `${url}/api/v1/w/${u.wId}/assistant/conversations/${
      u.conversationIds[1]
    }/messages`;
    // Bounded: at most 200,000 writes per writer (the phases stop it long before).
    for (let i = 0; !stop && i < 200_000; i++) {
      const t = performance.now();
      const res = await fetch(path, {
        method: "POST",
        headers: { authorization: `Bearer ${u.restToken}`, "content-type": "application/json" },
        body: JSON.stringify({
          content: `write ${w}-${i} ${"words ".repeat(30)}`,
          mentions: [],
          context: { username: "bench", timezone: "UTC", origin: "api" },
        }),
      });
      await res.body?.cancel();
      if (!res.ok) {
        if (errors.length < 5) errors.push(`writer ${w}: ${res.status}`);
        continue;
      }
      writes.push({ at: performance.now(), ms: performance.now() - t });
    }
  });
  return {
    writes,
    errors,
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Latency figures of the writes acknowledged in [from, to). */
function window(writes: Write[], from: number, to: number) {
  const inside = writes.filter((w) => w.at >= from && w.at < to);
  const ms = inside.map((w) => w.ms).sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const w of inside) {
    gap = Math.max(gap, w.at - prev);
    prev = w.at;
  }
  gap = Math.max(gap, to - prev);
  return {
    writes: inside.length,
    perSecond: inside.length / ((to - from) / 1000),
    p50: percentile(ms, 0.5),
    p99: percentile(ms, 0.99),
    max: ms.length ? ms[ms.length - 1] : NaN,
    longestGapMs: gap,
  };
}

type Window = ReturnType<typeof window>;

function describe(label: string, w: Window): string {
  return `${label}: ${w.writes} writes (${w.perSecond.toFixed(0)}/s), latency p50 ` +
    `${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, max ${w.max.toFixed(1)} ms, ` +
    `longest gap between acknowledged writes ${w.longestGapMs.toFixed(0)} ms`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<BenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-backup-" });
  const out = await Deno.makeTempDir({ prefix: "dust-mcp-bench-backup-out-" });
  try {
    const users = await seedDataDir(dataDir, {
      workspaces: 4,
      users: 8,
      docsPerWorkspace: DOCS,
      conversationsPerUser: 2,
      relayServersPerUser: 0,
    });
    await addFiles(dataDir, users);
    const dbPath = join(dataDir, "dust-mcp.db");
    const dbBytes = (await Deno.stat(dbPath)).size;
    const server = await spawnServer(dataDir);
    const writers = startWriters(server.url, users);
    const db = openDb(dbPath);
    const files = new LocalFiles(dataDir);
    const lines: string[] = [];
    const figures: Record<string, unknown> = { dbBytes, files: FILES, fileBytes: FILE_BYTES };
    const backups: Record<string, { backup: Window; seconds: number }> = {};
    try {
      await sleep(1_000); // warm-up
      const b0 = performance.now();
      await sleep(BASELINE_MS);
      const baseline = window(writers.writes, b0, performance.now());
      lines.push(describe("writers alone", baseline));
      figures.baseline = baseline;
      // ABBA order: neither method always runs first (right after the baseline). `VACUUM INTO`
      // attaches a database, which node:sqlite allows only to a process with every permission:
      // under `deno task bench` (named permissions, as the server has) only the backup API runs.
      const order: SnapshotMethod[] = vacuumAllowed()
        ? ["vacuum", "backup-api", "backup-api", "vacuum"]
        : ["backup-api", "backup-api"];
      for (const [round, method] of order.entries()) {
        const to = join(out, `${method}-${round}`);
        const t0 = performance.now();
        const done = await createBackup({ db, dbPath, files, to, method });
        const t1 = performance.now();
        const during = window(writers.writes, t0, t1);
        const seen = backups[method];
        backups[method] = {
          // Of the two rounds, the one with the worse p99 (the cautious figure).
          backup: seen && seen.backup.p99 > during.p99 ? seen.backup : during,
          seconds: Math.max(seen?.seconds ?? 0, (t1 - t0) / 1000),
        };
        lines.push(
          `backup with ${method}: ${((t1 - t0) / 1000).toFixed(2)} s (snapshot ` +
            `${(done.snapshotMs / 1000).toFixed(2)} s of a ${(dbBytes / 1048576).toFixed(0)} MiB ` +
            `database, files ${(done.copyMs / 1000).toFixed(2)} s for ` +
            `${done.manifest.totals.files} files)`,
        );
        lines.push(describe(`  writers during it`, during));
        figures[`${method}#${round}`] = {
          ...during,
          seconds: (t1 - t0) / 1000,
          snapshotMs: done.snapshotMs,
        };
        await Deno.remove(to, { recursive: true });
        await sleep(1_000);
      }
      const a0 = performance.now();
      await sleep(BASELINE_MS);
      const after = window(writers.writes, a0, performance.now());
      lines.push(describe("writers alone again", after));
      figures.after = after;
    } finally {
      await writers.stop();
      await db.close();
      await server.stop();
    }
    const base = figures.baseline as Window;
    const chosen = backups[DEFAULT_SNAPSHOT_METHOD].backup;
    return {
      name: "backup",
      ratio: chosen.p99 / base.p99,
      ratioLabel:
        `writers' p99 latency during a backup (${DEFAULT_SNAPSHOT_METHOD}) ÷ p99 without one ` +
        "(lower is better; 1 = no stall)",
      lines,
      failures: writers.errors.length ? [`writes failed: ${writers.errors.join(", ")}`] : [],
      figures,
    };
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

/** True when this process holds every permission (`-A`), which `VACUUM INTO`'s ATTACH needs. */
function vacuumAllowed(): boolean {
  const all: Deno.PermissionDescriptor[] = [
    { name: "ffi" },
    { name: "run" },
    { name: "sys" },
    { name: "net" },
    { name: "env" },
    { name: "read" },
    { name: "write" },
    { name: "import" },
  ];
  return all.every((d) => Deno.permissions.querySync(d).state === "granted");
}

if (import.meta.main) {
  const r = await run();
  for (const line of r.lines) console.log(line);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
}
