/**
 * `migrate-data` on a populated instance: a SQLite data directory seeded through the core
 * (load_mixed's seed — workspaces with a searchable corpus, members with tokens and
 * conversations — plus messages in every conversation and uploaded files), then the real program
 * (`deno run main.ts migrate-data`, a process of its own, its RSS sampled) moves it into an empty
 * PostgreSQL database, and into an S3 prefix when `DUST_MCP_TEST_FILES_URL` names a store.
 *
 * Baseline: a copy of the same database with SQLite's online backup API, the cheapest local copy
 * of the same rows.
 * Ratio: baseline seconds ÷ migrate-data seconds (the share of the move a plain copy would take).
 * PostgreSQL: the cluster of `DUST_MCP_TEST_PG_URL` (source /work/notes/pgenv.sh), else a
 * throwaway cluster (Debian's server binaries). Size: `BENCH_MOVE_SCALE` (default 1: 4
 * workspaces × 500 documents, 40 members × 5 conversations × 4 messages, 200 files of 256 KiB).
 *
 * `BENCH_MOVE_V8=--max-old-space-size=48` runs the move with a small heap: it still completes
 * (slower), which shows its memory is bounded by a batch, not by the size of the instance.
 *
 * Run: `deno run -A bench/migrate_data.ts` (or `deno task bench migrate_data`).
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { resolveConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { findUserByEmail } from "../src/core/users.ts";
import { createConversationMessage } from "../src/core/messages.ts";
import { createFile, uploadFileContent } from "../src/core/files.ts";
import { resolveUserActor } from "../src/auth/user_actor.ts";
import { ALL_SCOPES } from "../src/auth/actor.ts";
import { startPgCluster } from "../tests/helpers/pg_cluster.ts";
import { withPrefixSegment } from "../tests/helpers/test_files.ts";
import { S3Files } from "../src/storage/s3_files.ts";
import { parseS3Url } from "../src/storage/s3_url.ts";
import { sampleRss, seedDataDir } from "./load_mixed_seed.ts";
import type { BenchResult } from "./result.ts";
import { takeSnapshotHere } from "../src/db/sqlite_snapshot.ts";

const SCALE = Math.max(1, Number(Deno.env.get("BENCH_MOVE_SCALE") ?? "1"));
const PLAN = {
  workspaces: 4,
  users: 40 * SCALE,
  docsPerWorkspace: 500 * SCALE,
  conversationsPerUser: 5,
  relayServersPerUser: 0,
};
const MESSAGES_PER_CONVERSATION = 4;
const FILES = 200 * SCALE;
const FILE_BYTES = 256 * 1024;

/** Messages in every seeded conversation, files in the first conversation of each member. */
async function addMessagesAndFiles(
  dataDir: string,
  users: Awaited<ReturnType<typeof seedDataDir>>,
) {
  const config = resolveConfig(
    { port: "0", host: "127.0.0.1", "data-dir": dataDir, "log-level": "error" },
    {},
  );
  const server = await startServer(config);
  const deps = server.deps;
  try {
    for (let i = 0; i < users.length; i++) {
      const u = users[i];
      const user = (await findUserByEmail(deps.db, `mixed${i}@example.com`))!;
      const actor = (await resolveUserActor(deps, {
        userSId: user.sId,
        workspaceSId: u.wId,
        scopes: new Set(ALL_SCOPES),
        credential: { kind: "personal_token", id: "bench" },
      }))!;
      for (const conversationId of u.conversationIds) {
        for (let m = 0; m < MESSAGES_PER_CONVERSATION; m++) {
          await createConversationMessage(deps, actor, {
            conversationId,
            message: `message ${m} of ${conversationId}: ${"words ".repeat(40)}`,
            agentName: null,
          });
        }
      }
      for (let f = i; f < FILES; f += users.length) {
        const file = await createFile(deps, actor, {
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
        await uploadFileContent(deps, actor, {
          fileId: file.sId,
          body: ReadableStream.from([bytes]),
        });
      }
    }
    await deps.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    await server.stop();
  }
}

/** Remove what the move wrote under the bench's prefix. */
async function clearPrefix(url: string): Promise<void> {
  const store = new S3Files(parseS3Url(url), {
    credentials: {
      accessKeyId: Deno.env.get("AWS_ACCESS_KEY_ID") ?? "",
      secretAccessKey: Deno.env.get("AWS_SECRET_ACCESS_KEY") ?? "",
    },
  });
  try {
    for (const key of (await store.listKeys()).keys) await store.remove(key);
  } finally {
    await store.close();
  }
}

/** An empty database on the cluster; dropped by the returned function. */
async function emptyDatabase(clusterUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bench_move_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(clusterUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE template0`);
  await admin.end();
  const url = new URL(clusterUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const a = postgres(clusterUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export async function run(): Promise<BenchResult> {
  const given = Deno.env.get("DUST_MCP_TEST_PG_URL");
  const cluster = given ? null : await startPgCluster();
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bench-move-" });
  const target = await emptyDatabase(given ?? cluster!.url);
  const s3Base = Deno.env.get("DUST_MCP_TEST_FILES_URL");
  const filesUrl = s3Base ? withPrefixSegment(s3Base, `bench-move-${Date.now()}`) : null;
  try {
    const users = await seedDataDir(dataDir, PLAN);
    await addMessagesAndFiles(dataDir, users);

    // The baseline: a local copy of the same rows with SQLite's online backup API (what
    // `dust-mcp backup` takes; `VACUUM INTO` needs a process with every permission).
    const copyStarted = performance.now();
    await takeSnapshotHere({
      source: join(dataDir, "dust-mcp.db"),
      target: join(dataDir, "backup-copy.db"),
      method: "backup-api",
    });
    const copyMs = performance.now() - copyStarted;
    await Deno.remove(join(dataDir, "backup-copy.db"));

    const args = ["migrate-data", "--data-dir", dataDir, "--database-url", target.url];
    if (filesUrl) args.push("--files-url", filesUrl);
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        ...(Deno.env.get("BENCH_MOVE_V8") ? [`--v8-flags=${Deno.env.get("BENCH_MOVE_V8")}`] : []),
        new URL("../main.ts", import.meta.url).pathname,
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const rss = sampleRss(child.pid, 100);
    const [stdout, stderr, status] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    const out = stdout + stderr;
    const moveMs = performance.now() - started;
    const memory = await rss.stop();
    const done = out.split("\n").find((l) => l.startsWith("done in ")) ?? "";
    const m = /: (\d+) rows in (\d+) tables, (\d+) files \(([^)]+)\)/.exec(done);
    const figures = {
      rows: Number(m?.[1] ?? 0),
      tables: Number(m?.[2] ?? 0),
      files: Number(m?.[3] ?? 0),
      fileBytes: m?.[4] ?? "?",
      databaseBytes: (await Deno.stat(join(dataDir, "dust-mcp.db"))).size,
      moveSeconds: moveMs / 1000,
      localCopySeconds: copyMs / 1000,
      peakRssMiB: memory.peakKiB / 1024,
      filesTo: filesUrl ? "s3" : "local (left in place)",
    };
    return {
      name: "migrate_data",
      ratio: copyMs / moveMs,
      ratioLabel: "local backup-API copy seconds ÷ migrate-data seconds (same database)",
      lines: [
        `moved ${figures.rows} rows (${figures.tables} tables, SQLite file ${
          (figures.databaseBytes / 1048576).toFixed(1)
        } MiB) and ${figures.files} files (${figures.fileBytes}, ${figures.filesTo})`,
        `migrate-data ${figures.moveSeconds.toFixed(1)} s (process start and verification ` +
        `included), peak RSS ${figures.peakRssMiB.toFixed(0)} MiB`,
        `baseline: a local copy (backup API) ${figures.localCopySeconds.toFixed(2)} s`,
      ],
      failures: status.success && m ? [] : [`migrate-data exited ${status.code}:\n${out}`],
      figures,
    };
  } finally {
    await target.drop().catch(() => {});
    if (filesUrl) await clearPrefix(filesUrl).catch(() => {});
    await cluster?.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const r = await run();
  for (const line of r.lines) console.log(line);
  console.log(`ratio ${r.ratio.toFixed(3)} (${r.ratioLabel})`);
  for (const f of r.failures ?? []) console.log(`FAILED: ${f}`);
}
