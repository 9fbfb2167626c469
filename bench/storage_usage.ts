/**
 * Storage quotas: what a quota check costs when usage is read from the counter rows the
 * triggers keep (the product, migration 0007) versus summed over the files and documents rows
 * at each check (the alternative), on one big workspace; and what the triggers add to a write.
 *
 * Setup: a real database (migrated schema) with one workspace of 50 members, grown to each
 * size in `BENCH_QUOTA_SIZES` (default `20000,200000` files, plus a quarter as many documents),
 * rows only (no blobs: the check reads rows). At each size:
 * - counter check: `assertStorageFits` (the member's row + the workspace's rows + reservations);
 * - sum check: `sumStorageFromRows` (one GROUP BY over the workspace's ready files and
 *   documents: both the member's and the workspace's figure), first on the schema as it is,
 *   then with covering indexes created for it (the best a sum could do);
 * - write: one ready-file INSERT per transaction, with the triggers and without them (dropped
 *   in a copy of the database), five alternating rounds of each, medians.
 * Ratio: sum check (covering indexes) ÷ counter check at the largest size.
 *
 * Run: `deno run -A bench/storage_usage.ts` (or `deno task bench storage_usage`).
 * @module
 */
import { join } from "node:path";
import { openDb } from "../src/db/sqlite.ts";
import type { Db } from "../src/db/db.ts";
import { migrate } from "../src/db/migrate.ts";
import type { Deps } from "../src/deps.ts";
import { assertStorageFits, sumStorageFromRows } from "../src/core/storage_quota.ts";
import type { BenchResult } from "./result.ts";

const SIZES = (Deno.env.get("BENCH_QUOTA_SIZES") ?? "20000,200000").split(",")
  .map(Number).filter((n) => Number.isInteger(n) && n > 0).sort((a, b) => a - b);
const MEMBERS = 50;
const CHECK_MS = 1500;

/** Mean µs per call of `fn`, called for about `ms` milliseconds (at least 5 times). */
async function timePerCall(fn: () => Promise<unknown>, ms = CHECK_MS): Promise<number> {
  await fn();
  let n = 0;
  const started = performance.now();
  while (n < 5 || performance.now() - started < ms) {
    await fn();
    n++;
  }
  return ((performance.now() - started) / n) * 1000;
}

async function seedWorkspace(
  db: Db,
): Promise<{ workspaceId: number; userIds: number[]; dataSourceId: number }> {
  const t = Date.now();
  return await db.tx(async () => {
    const userIds: number[] = [];
    for (let i = 0; i < MEMBERS; i++) {
      const u = await db.get(
        `INSERT INTO users (s_id, email, username, first_name, created_at, updated_at)
         VALUES (?, ?, ?, 'Bench', ?, ?) RETURNING id`,
        `usr${i}`,
        `m${i}@bench.example`,
        `m${i}`,
        t,
        t,
      ) as { id: number };
      userIds.push(u.id);
    }
    const ws = await db.get(
      `INSERT INTO workspaces (s_id, name, created_at, updated_at)
       VALUES ('wsbench', 'Bench', ?, ?) RETURNING id`,
      t,
      t,
    ) as { id: number };
    const space = await db.get(
      `INSERT INTO spaces (s_id, workspace_id, name, kind, created_at, updated_at)
       VALUES ('vlt_bench', ?, 'Bench', 'global', ?, ?) RETURNING id`,
      ws.id,
      t,
      t,
    ) as { id: number };
    const ds = await db.get(
      `INSERT INTO data_sources (s_id, view_s_id, workspace_id, space_id, name, created_at,
         updated_at) VALUES ('dts_bench', 'dsv_bench', ?, ?, 'bench', ?, ?) RETURNING id`,
      ws.id,
      space.id,
      t,
      t,
    ) as { id: number };
    return { workspaceId: ws.id, userIds, dataSourceId: ds.id };
  });
}

/** Grow the workspace to `files` ready files and `files / 4` documents. */
async function grow(
  db: Db,
  w: Awaited<ReturnType<typeof seedWorkspace>>,
  from: number,
  files: number,
): Promise<void> {
  const t = Date.now();
  const file = db.prepare(
    `INSERT INTO files (s_id, workspace_id, user_id, content_type, file_name, file_size, status,
       use_case, storage_key, created_at, updated_at)
     VALUES (?, ?, ?, 'text/plain', 'f.txt', ?, 'ready', 'conversation', ?, ?, ?)`,
  );
  const doc = db.prepare(
    `INSERT INTO documents (workspace_id, data_source_id, document_id, text, timestamp, hash,
       text_size, chunk_count, created_at, updated_at, user_id)
     VALUES (?, ?, ?, 'x', ?, 'h', ?, 0, ?, ?, ?)`,
  );
  for (let start = from; start < files; start += 10_000) {
    await db.tx(async () => {
      for (let i = start; i < Math.min(files, start + 10_000); i++) {
        const owner = w.userIds[i % MEMBERS];
        await file.run(`fil_b${i}`, w.workspaceId, owner, 1000 + (i % 5000), `bk${i}`, t, t);
        if (i % 4 === 0) {
          await doc.run(w.workspaceId, w.dataSourceId, `d${i}`, t, 500 + (i % 700), t, t, owner);
        }
      }
    });
  }
}

/** µs per single-row transaction inserting a ready file. */
async function writeCost(
  db: Db,
  w: Awaited<ReturnType<typeof seedWorkspace>>,
  tag: string,
): Promise<number> {
  // 500 ms per round: five rounds of each database alternate (see run()).
  const t = Date.now();
  const insert = db.prepare(
    `INSERT INTO files (s_id, workspace_id, user_id, content_type, file_name, file_size, status,
       use_case, storage_key, created_at, updated_at)
     VALUES (?, ?, ?, 'text/plain', 'f.txt', 100, 'ready', 'conversation', ?, ?, ?)`,
  );
  let i = 0;
  return await timePerCall(async () => {
    i++;
    await db.tx(async () =>
      await insert.run(`fil_${tag}${i}`, w.workspaceId, w.userIds[i % MEMBERS], `${tag}${i}`, t, t)
    );
  });
}

export async function run(): Promise<BenchResult> {
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-quota-" });
  const lines: string[] = [];
  const figures: Record<string, unknown> = {};
  try {
    const path = join(dir, "dust-mcp.db");
    const db = openDb(path);
    await migrate(db);
    const w = await seedWorkspace(db);
    const deps = {
      db,
      config: { storageQuotaMember: 2 ** 50, storageQuotaWorkspace: 2 ** 50 },
    } as unknown as Deps;
    const owner = { workspaceId: w.workspaceId, userId: w.userIds[0] };
    const counter = async () =>
      await assertStorageFits(deps, owner, { memberBytes: 1, workspaceBytes: 1 }, "file");
    const sum = async () => await sumStorageFromRows(db, w.workspaceId);
    let grown = 0;
    let ratio = NaN;
    for (const size of SIZES) {
      await grow(db, w, grown, size);
      grown = size;
      await db.exec("ANALYZE");
      const c = await timePerCall(counter);
      const s = await timePerCall(sum, 3000);
      await db.exec(
        `CREATE INDEX bench_files_usage ON files(workspace_id, status, user_id, file_size);
        CREATE INDEX bench_documents_usage ON documents(workspace_id, user_id, text_size); ANALYZE;`,
      );
      const sc = await timePerCall(sum, 3000);
      await db.exec("DROP INDEX bench_files_usage; DROP INDEX bench_documents_usage;");
      ratio = sc / c;
      figures[`files_${size}`] = { counterUs: c, sumUs: s, sumCoveringUs: sc };
      lines.push(
        `${size} files + ${size / 4} documents, ${MEMBERS} members: counter check ${
          c.toFixed(1)
        } µs; sum ${(s / 1000).toFixed(2)} ms (${
          (sc / 1000).toFixed(2)
        } ms with covering indexes) = ${(sc / c).toFixed(0)}× the counter`,
      );
    }
    await db.close();
    const copy = join(dir, "copy.db");
    await Deno.copyFile(path, copy);
    const live = openDb(path);
    const bare = openDb(copy);
    for (const name of ["files_usage_ai", "files_usage_ad", "files_usage_au"]) {
      await bare.exec(`DROP TRIGGER ${name}`);
    }
    // Alternate the two databases in rounds (the machine is shared): medians of five.
    const a: number[] = [];
    const b: number[] = [];
    for (let round = 0; round < 5; round++) {
      a.push(await writeCost(live, w, `t${round}_`));
      b.push(await writeCost(bare, w, `n${round}_`));
    }
    await live.close();
    await bare.close();
    const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
    const withTriggers = median(a);
    const withoutTriggers = median(b);
    figures.writeUs = { withTriggers, withoutTriggers };
    lines.push(
      `ready-file INSERT, one per transaction: ${withTriggers.toFixed(1)} µs with the counter ` +
        `triggers, ${withoutTriggers.toFixed(1)} µs without (+${
          (withTriggers - withoutTriggers).toFixed(1)
        } µs)`,
    );
    return {
      name: "storage_usage",
      ratio,
      ratioLabel: "sum-over-rows check (covering indexes) ÷ counter check, largest size",
      lines,
      figures,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const r = await run();
  for (const l of r.lines) console.log(l);
  console.log(`ratio ${r.ratio.toFixed(1)} (${r.ratioLabel})`);
}
