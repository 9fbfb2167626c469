/**
 * Durability of online backups (issue 16, item 3): the real server as a child process on
 * SQLite (files local, or in the suite's S3 store) takes concurrent REST writes — messages,
 * file uploads and deletes, document upserts — while `dust-mcp backup` (a process of its own)
 * runs. The backup is verified, restored into an empty data directory, and a server started on
 * it must show, over REST:
 * - every write acknowledged before the snapshot began, intact (files byte for byte);
 * - nothing sent after the snapshot ended (files uploaded later, messages posted later);
 * - a state some moment between the two could have had (each conversation a prefix of what
 *   its writer sent, each document one of its versions no older than the last acknowledged);
 * and on disk, exactly the bytes the manifest names.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli.ts";
import { captureIo } from "../cli/capture_io.ts";
import { freePort, prepareDataDir, ServerProcess } from "../helpers/durability_server.ts";
import type { DurabilitySetup } from "../helpers/durability_server.ts";
import {
  call,
  randomBytes,
  randomInt,
  randomText,
  seededRandom,
  sha256Hex,
} from "../helpers/durability_ledger.ts";
import { messageBody } from "../helpers/conversations.ts";
import { clearTestFiles, s3StoreOf, testFilesSettings } from "../helpers/test_files.ts";
import { readManifest } from "../../src/core/backup_manifest.ts";
import { resolveConfig } from "../../src/config.ts";
import { LocalFiles } from "../../src/storage/local_files.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SEED = Number(
  Deno.env.get("DURABILITY_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0],
);
/** Load before the backup starts, and after it ended. */
const LEAD_MS = 1_500;
const TAIL_MS = 1_000;
/** Bound on each writer's operations (the load's end usually stops it first). */
const MAX_OPS = 400;

interface Timed {
  sentAt: number;
  /** Null: no 2xx arrived (still in flight when the load stopped, or refused). */
  ackAt: number | null;
}
interface MessageWrite extends Timed {
  content: string;
}
interface FileWrite extends Timed {
  sId: string;
  /** When the create (before the upload) was sent. */
  createdAt: number;
  sha256: string;
  deleted: Timed | null;
}
interface DocumentWrite extends Timed {
  text: string;
}

/** Every write of the load, with when it was sent and acknowledged. */
interface WriteLog {
  conversations: Map<string, { token: string; messages: MessageWrite[] }>;
  files: (FileWrite & { token: string })[];
  documents: Map<string, DocumentWrite[]>;
  errors: string[];
}

const filesPath = (s: DurabilitySetup) => `/api/v1/w/${s.workspaceSId}/files`;
const conversationsPath = (s: DurabilitySetup) =>
  `/api/v1/w/${s.workspaceSId}/assistant/conversations`;

async function timed<T extends Timed>(entry: T, send: () => Promise<number>): Promise<boolean> {
  const status = await send();
  if (status >= 200 && status < 300) {
    entry.ackAt = Date.now();
    return true;
  }
  return false;
}

async function writeMessages(
  base: string,
  setup: DurabilitySetup,
  log: WriteLog,
  w: number,
  live: () => boolean,
) {
  const token = w % 2 ? setup.memberToken : setup.adminToken;
  const created = await call(base, conversationsPath(setup), {
    method: "POST",
    token,
    json: { title: `backup-w${w}`, visibility: "unlisted" },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const sId = created.body.conversation.sId as string;
  const messages: MessageWrite[] = [];
  log.conversations.set(sId, { token, messages });
  const rng = seededRandom(SEED + w);
  for (let i = 0; live() && i < MAX_OPS; i++) {
    const m: MessageWrite = {
      content: randomText(rng, randomInt(rng, 10, 4_000), `w${w} m${i}`),
      sentAt: Date.now(),
      ackAt: null,
    };
    messages.push(m);
    const ok = await timed(
      m,
      async () =>
        (await call(base, `${conversationsPath(setup)}/${sId}/messages`, {
          method: "POST",
          token,
          json: messageBody(m.content, []),
        })).status,
    );
    if (!ok) return void log.errors.push(`message w${w} m${i} refused`);
  }
}

async function writeFiles(
  base: string,
  setup: DurabilitySetup,
  log: WriteLog,
  w: number,
  live: () => boolean,
) {
  const token = w % 2 ? setup.memberToken : setup.adminToken;
  const rng = seededRandom(SEED + 100 + w);
  const mine: FileWrite[] = [];
  for (let i = 0; live() && i < MAX_OPS; i++) {
    // Every third operation deletes one of this writer's files (a removal to hold).
    const victim = i % 3 === 2 ? mine.find((f) => f.ackAt && !f.deleted) : undefined;
    if (victim) {
      victim.deleted = { sentAt: Date.now(), ackAt: null };
      const ok = await timed(
        victim.deleted,
        async () =>
          (await call(base, `${filesPath(setup)}/${victim.sId}`, { method: "DELETE", token }))
            .status,
      );
      if (!ok) log.errors.push(`delete ${victim.sId} refused`);
      continue;
    }
    const bytes = randomBytes(rng, randomInt(rng, 1, 96 * 1024));
    const createdAt = Date.now();
    const c = await call(base, filesPath(setup), {
      method: "POST",
      token,
      json: {
        contentType: "application/octet-stream",
        fileName: `w${w}-f${i}.bin`,
        fileSize: bytes.length,
        useCase: "conversation",
      },
    });
    if (c.status !== 200) return void log.errors.push(`create file: ${c.status}`);
    const f: FileWrite & { token: string } = {
      sId: c.body.file.sId,
      token,
      createdAt,
      sentAt: Date.now(),
      ackAt: null,
      sha256: sha256Hex(bytes),
      deleted: null,
    };
    log.files.push(f);
    mine.push(f);
    const form = new FormData();
    form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "x.bin");
    const ok = await timed(
      f,
      async () =>
        (await call(base, `${filesPath(setup)}/${f.sId}`, { method: "POST", token, form })).status,
    );
    if (!ok) return void log.errors.push(`upload ${f.sId} refused`);
  }
}

async function writeDocuments(
  base: string,
  setup: DurabilitySetup,
  dataSourcePath: string,
  log: WriteLog,
  live: () => boolean,
) {
  const rng = seededRandom(SEED + 200);
  for (let i = 0; live() && i < MAX_OPS; i++) {
    const id = `doc-${i % 5}`;
    const d: DocumentWrite = {
      text: randomText(rng, randomInt(rng, 50, 20_000), `${id} v${i}`),
      sentAt: Date.now(),
      ackAt: null,
    };
    log.documents.set(id, [...(log.documents.get(id) ?? []), d]);
    const ok = await timed(d, async () =>
      (await call(base, `${dataSourcePath}/documents/${id}`, {
        method: "POST",
        token: setup.apiKey,
        json: { text: d.text, title: id },
      })).status);
    if (!ok) return void log.errors.push(`upsert ${id} v${i} refused`);
  }
}

async function createDataSource(base: string, setup: DurabilitySetup): Promise<string> {
  const w = `/api/v1/w/${setup.workspaceSId}`;
  const spaces = await call(base, `${w}/spaces`, { token: setup.adminToken });
  const global = spaces.body.spaces.find((s: { kind: string }) => s.kind === "global").sId;
  const ds = await call(base, `${w}/spaces/${global}/data_sources`, {
    method: "POST",
    token: setup.adminToken,
    json: { name: "Backed up docs" },
  });
  assert.equal(ds.status, 200, JSON.stringify(ds.body));
  return `${w}/spaces/${global}/data_sources/${ds.body.data_source.sId}`;
}

/** `dust-mcp backup` as a process of its own, as an operator runs it next to the server. */
async function backupProcess(dataDir: string, to: string): Promise<string> {
  const files = testFilesSettings(dataDir);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "main.ts"),
      "backup",
      "--to",
      to,
      "--data-dir",
      dataDir,
      ...Object.entries(files.flags).flatMap(([k, v]) => [`--${k}`, v]),
    ],
    env: { NO_COLOR: "1", ...files.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

/** What the restored server answers, checked against the log; one line per problem. */
async function checkRestored(
  base: string,
  setup: DurabilitySetup,
  dataSourcePath: string,
  log: WriteLog,
  window: { start: number; end: number },
): Promise<string[]> {
  const problems: string[] = [];
  for (const [sId, c] of log.conversations) {
    const r = await call(base, `${conversationsPath(setup)}/${sId}`, { token: c.token });
    // deno-lint-ignore no-explicit-any
    const got = (r.body?.conversation?.content ?? []).map((v: any[]) => v[v.length - 1])
      // deno-lint-ignore no-explicit-any
      .filter((m: any) => m.type === "user_message").map((m: any) => m.content as string);
    const sent = c.messages.map((m) => m.content);
    if (!got.every((m: string, i: number) => m === sent[i])) {
      problems.push(`conversation ${sId}: not a prefix of what was sent`);
    }
    const mustHave = c.messages.filter((m) => m.ackAt !== null && m.ackAt < window.start).length;
    const mayHave = c.messages.filter((m) => m.sentAt < window.end).length;
    if (got.length < mustHave || got.length > mayHave) {
      problems.push(
        `conversation ${sId}: ${got.length} messages, expected ${mustHave}..${mayHave}`,
      );
    }
  }
  for (const f of log.files) {
    const r = await call(base, `${filesPath(setup)}/${f.sId}?action=download`, { token: f.token });
    const intact = r.status === 200 && sha256Hex(r.bytes) === f.sha256;
    const deletedBefore = f.deleted?.ackAt != null && f.deleted.ackAt < window.start;
    const keptPast = f.deleted === null || f.deleted.sentAt > window.end;
    if (f.createdAt > window.end && r.status !== 404) {
      problems.push(`file ${f.sId}: created after the snapshot, restored (${r.status})`);
    } else if (f.ackAt !== null && f.ackAt < window.start && keptPast && !intact) {
      problems.push(`file ${f.sId}: acknowledged before the snapshot, ${r.status}`);
    } else if (deletedBefore && r.status !== 404) {
      problems.push(`file ${f.sId}: deleted before the snapshot, restored (${r.status})`);
    } else if (r.status === 200 && !intact) {
      problems.push(`file ${f.sId}: restored with other bytes`);
    }
  }
  for (const [id, versions] of log.documents) {
    const r = await call(base, `${dataSourcePath}/documents/${id}`, { token: setup.apiKey });
    const text: string | null = r.status === 200 ? r.body.document.text : null;
    const lastAcked = versions.findLastIndex((v) => v.ackAt !== null && v.ackAt < window.start);
    const at = text === null ? -1 : versions.findIndex((v) => v.text === text);
    if (text !== null && at < 0) problems.push(`document ${id}: a text never written`);
    else if (at < lastAcked) problems.push(`document ${id}: older than its acknowledged version`);
    else if (at >= 0 && versions[at].sentAt > window.end) {
      problems.push(`document ${id}: a version sent after the snapshot`);
    }
  }
  return problems;
}

/** The keys in a data directory's store. */
async function storedKeys(dataDir: string): Promise<string[]> {
  const files = testFilesSettings(dataDir);
  if (!files.flags["files-url"]) return (await new LocalFiles(dataDir).listKeys()).keys.sort();
  const store = s3StoreOf(resolveConfig(files.flags, files.env));
  try {
    return (await store.listKeys()).keys.sort();
  } finally {
    await store.close();
  }
}

Deno.test("[durability] a backup taken under write load restores every write acknowledged before its snapshot, and nothing after it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bkload-" });
  const restoredDir = await Deno.makeTempDir({ prefix: "dust-mcp-bkrestored-" });
  const backupDir = join(await Deno.makeTempDir({ prefix: "dust-mcp-bkdir-" }), "backup");
  const files = testFilesSettings(dataDir);
  let server: ServerProcess | null = null;
  let restored: ServerProcess | null = null;
  try {
    const setup = await prepareDataDir(dataDir);
    server = await ServerProcess.start(dataDir, freePort(), files.flags, files.env);
    const base = server.url;
    const dataSourcePath = await createDataSource(base, setup);
    const log: WriteLog = {
      conversations: new Map(),
      files: [],
      documents: new Map(),
      errors: [],
    };
    let stop = false;
    const live = () => !stop;
    const writers = Promise.all([
      writeMessages(base, setup, log, 0, live),
      writeMessages(base, setup, log, 1, live),
      writeFiles(base, setup, log, 2, live),
      writeFiles(base, setup, log, 3, live),
      writeDocuments(base, setup, dataSourcePath, log, live),
    ]);
    await new Promise((r) => setTimeout(r, LEAD_MS));
    const output = await backupProcess(dataDir, backupDir);
    await new Promise((r) => setTimeout(r, TAIL_MS));
    stop = true;
    await writers;
    assert.deepEqual(log.errors, [], `seed ${SEED}: writes refused under load`);
    await server.stop();
    server = null;

    const manifest = await readManifest(backupDir);
    const window = {
      start: Date.parse(manifest.snapshot.startedAt),
      end: Date.parse(manifest.snapshot.finishedAt),
    };
    const ackedBefore = log.files.filter((f) => f.ackAt !== null && f.ackAt < window.start);
    const after = log.files.filter((f) => f.createdAt > window.end);
    assert.ok(ackedBefore.length > 0 && after.length > 0, `${output}: load on both sides`);

    const io = captureIo();
    assert.equal(await runCli(["verify-backup", "--from", backupDir], io, {}), 0, io.stderr.join());
    const target = testFilesSettings(restoredDir);
    const rio = captureIo();
    const restoreArgs = [
      "restore",
      "--from",
      backupDir,
      "--data-dir",
      restoredDir,
      ...Object.entries(target.flags).flatMap(([k, v]) => [`--${k}`, v]),
    ];
    assert.equal(await runCli(restoreArgs, rio, target.env), 0, rio.stderr.join("\n"));
    assert.deepEqual(
      await storedKeys(restoredDir),
      manifest.files.map((f) => f.key).sort(),
      "the restored store holds exactly the manifest's bytes",
    );

    restored = await ServerProcess.start(restoredDir, freePort(), target.flags, target.env);
    const problems = await checkRestored(restored.url, setup, dataSourcePath, log, window);
    assert.deepEqual(problems, [], `seed ${SEED}: the restored instance`);
    console.log(
      `[durability] backup under load: ${manifest.totals.files} files in the backup; ` +
        `${ackedBefore.length} uploads acknowledged before the snapshot, ${after.length} ` +
        `created after it; snapshot window ${window.end - window.start} ms; ` +
        `${[...log.conversations.values()].reduce((n, c) => n + c.messages.length, 0)} ` +
        `messages, ${log.files.filter((f) => f.deleted).length} deletes, ` +
        `${[...log.documents.values()].reduce((n, v) => n + v.length, 0)} upserts`,
    );
  } finally {
    await server?.kill();
    await restored?.stop();
    for (const dir of [dataDir, restoredDir]) {
      const f = testFilesSettings(dir);
      if (f.flags["files-url"]) await clearTestFiles(resolveConfig(f.flags, f.env));
    }
    for (const dir of [dataDir, restoredDir, join(backupDir, "..")]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
});
