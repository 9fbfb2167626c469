/**
 * `dust-mcp backup`, `verify-backup` and `restore` from the command line, against a running
 * server on SQLite (files local, or on S3 when the suite runs with a store): verify-backup
 * finds a damaged file, a missing one and a damaged database; restore refuses a non-empty data
 * directory and a damaged backup (leaving the target empty); the manifest holds no secret;
 * PostgreSQL is refused with what to use instead; scheduled backups keep the newest N.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../src/cli.ts";
import { captureIo } from "./capture_io.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { createConversationWithMessage, userActorOf } from "../helpers/actors.ts";
import { createFile, uploadFileContent } from "../../src/core/files.ts";
import { issueMcpToken } from "../../src/core/mcp_tokens.ts";
import { clearTestFiles, filesOnS3, testFilesSettings } from "../helpers/test_files.ts";
import { resolveConfig } from "../../src/config.ts";
import { readManifest } from "../../src/core/backup_manifest.ts";

/** Run the CLI with the flags and environment of a data directory's store. */
async function cli(args: string[], dataDir: string) {
  const files = testFilesSettings(dataDir);
  const flags = Object.entries(files.flags).flatMap(([k, v]) => [`--${k}`, v]);
  const io = captureIo();
  const code = await runCli([...args, "--data-dir", dataDir, ...flags], io, files.env);
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

/** A running instance with a member, a few files and every kind of secret. */
async function populated(): Promise<{ server: TestServer; secrets: string[] }> {
  const server = await startTestServer({
    engine: "sqlite",
    flags: { "model-api-key": "sk-model-secret-123456" },
  });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const actor = await userActorOf(server, alice);
  const { conversationId } = await createConversationWithMessage(server, alice);
  for (const text of ["first file", "second file", "third file"]) {
    const bytes = new TextEncoder().encode(text);
    const f = await createFile(server.deps, actor, {
      contentType: "text/plain",
      fileName: `${text}.txt`,
      fileSize: bytes.length,
      useCase: "conversation",
      useCaseMetadata: { conversationId },
    });
    await uploadFileContent(server.deps, actor, {
      fileId: f.sId,
      body: ReadableStream.from([bytes]),
    });
  }
  const secrets = [
    alice.token,
    await createApiKey(server, alice.workspace),
    (await issueMcpToken(server.deps.db, {
      userId: alice.user.id,
      workspaceId: alice.workspace.id,
    }))
      .token,
    "sk-model-secret-123456",
    ...Object.values(testFilesSettings(server.dataDir).env),
  ];
  return { server, secrets };
}

async function backupOf(server: TestServer): Promise<string> {
  const to = join(await Deno.makeTempDir({ prefix: "dust-mcp-bk-" }), "backup");
  const r = await cli(["backup", "--to", to], server.dataDir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /backup written to .*: database \(schema \d+\) and 3 files/);
  return to;
}

async function removeAll(...paths: string[]) {
  for (const p of paths) await Deno.remove(p, { recursive: true }).catch(() => {});
}

Deno.test("[cli] verify-backup passes a sound backup and finds a damaged file, a missing file and a damaged database", async () => {
  const { server } = await populated();
  await using _ = server;
  const to = await backupOf(server);
  try {
    const ok = await cli(["verify-backup", "--from", to], server.dataDir);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /^ok: .* database and 3 files/);
    const m = await readManifest(to);
    const [damaged, gone] = m.files;
    const path = join(to, "files", damaged.key);
    const bytes = await Deno.readFile(path);
    bytes[0] ^= 0xff;
    await Deno.writeFile(path, bytes);
    await Deno.remove(join(to, "files", gone.key));
    const bad = await cli(["verify-backup", "--from", to], server.dataDir);
    assert.equal(bad.code, 1);
    assert.match(bad.err, new RegExp(`file ${damaged.key}: SHA-256 [0-9a-f]{64} differs`));
    assert.match(bad.err, new RegExp(`file ${gone.key}: missing from the backup`));
    assert.match(bad.err, /2 problem\(s\); this backup cannot be trusted/);
    // A flipped byte in the database.
    const db = await Deno.readFile(join(to, "dust-mcp.db"));
    db[db.length - 100] ^= 0x01;
    await Deno.writeFile(join(to, "dust-mcp.db"), db);
    const worse = await cli(["verify-backup", "--from", to], server.dataDir);
    assert.equal(worse.code, 1);
    assert.match(worse.err, /database: SHA-256 [0-9a-f]{64} differs/);
    const none = await cli(["verify-backup", "--from", join(to, "nothing")], server.dataDir);
    assert.equal(none.code, 1);
    assert.match(none.err, /has no manifest\.json: not a dust-mcp backup/);
  } finally {
    await removeAll(join(to, ".."));
  }
});

Deno.test("[cli] restore refuses a non-empty data directory and a damaged backup, and restores a sound one", async () => {
  const { server } = await populated();
  await using _ = server;
  const to = await backupOf(server);
  const target = await Deno.makeTempDir({ prefix: "dust-mcp-restore-" });
  const config = resolveConfig(
    { "data-dir": target, ...testFilesSettings(target).flags },
    testFilesSettings(target).env,
  );
  try {
    await Deno.writeTextFile(join(target, "something.txt"), "already here");
    const refused = await cli(["restore", "--from", to], target);
    assert.equal(refused.code, 1);
    assert.match(
      refused.err,
      /--data-dir: .* is not empty; restore only into an empty data directory/,
    );
    assert.deepEqual((await Array.fromAsync(Deno.readDir(target))).map((e) => e.name), [
      "something.txt",
    ]);
    await Deno.remove(join(target, "something.txt"));

    // A damaged file: nothing is left behind.
    const m = await readManifest(to);
    const path = join(to, "files", m.files[1].key);
    const original = await Deno.readFile(path);
    await Deno.writeFile(path, new TextEncoder().encode("tampered"));
    const damaged = await cli(["restore", "--from", to], target);
    assert.equal(damaged.code, 1);
    assert.match(damaged.err, new RegExp(`file ${m.files[1].key}: the backup's copy is damaged`));
    assert.deepEqual(await Array.fromAsync(Deno.readDir(target)), [], "the target is left empty");
    await Deno.writeFile(path, original);

    const restored = await cli(["restore", "--from", to], target);
    assert.equal(restored.code, 0, restored.err);
    assert.match(restored.out, /restored the backup of .* 3 files/);
    await using again = await startTestServer({ engine: "sqlite", dataDir: target });
    const n = await again.deps.db.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM files WHERE status = 'ready'",
    );
    assert.equal(Number(n?.n), 3);
  } finally {
    await clearTestFiles(config);
    await removeAll(join(to, ".."), target);
  }
});

Deno.test("[cli] the manifest holds no secret and names every file with its size and SHA-256", async () => {
  const { server, secrets } = await populated();
  await using _ = server;
  const to = await backupOf(server);
  try {
    const text = await Deno.readTextFile(join(to, "manifest.json"));
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), "a secret is in the manifest");
    }
    assert.ok(!/sk-|Bearer|password|secret/i.test(text), text);
    const m = JSON.parse(text);
    assert.deepEqual(Object.keys(m).sort(), [
      "createdAt",
      "database",
      "engine",
      "files",
      "format",
      "formatVersion",
      "missing",
      "schemaVersion",
      "serverVersion",
      "snapshot",
      "source",
      "totals",
    ]);
    for (const f of m.files) assert.deepEqual(Object.keys(f).sort(), ["key", "sha256", "size"]);
    assert.equal(m.source.files, filesOnS3() ? "s3" : "local");
    assert.equal((await Deno.stat(to)).mode! & 0o077, 0, "the backup is its owner's only");
  } finally {
    await removeAll(join(to, ".."));
  }
});

Deno.test("[cli] backup refuses PostgreSQL, saying what to use; --backup-dir with --database-url is a bad setting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-pg-" });
  try {
    const url = "postgres://user:pw@127.0.0.1:1/db";
    const io = captureIo();
    const code = await runCli(
      ["backup", "--to", join(dir, "b"), "--data-dir", dir, "--database-url", url],
      io,
      {},
    );
    assert.equal(code, 1);
    const line = io.stderr.join("\n");
    for (
      const word of ["pg_dump", "pg_basebackup", "WAL archiving", "point-in-time", "versioned"]
    ) {
      assert.ok(line.includes(word), `${word}: ${line}`);
    }
    assert.ok(!line.includes("pw@"), "the URL is never echoed");
    const io2 = captureIo();
    assert.equal(
      await runCli(
        ["--data-dir", dir, "--database-url", url, "--backup-dir", join(dir, "b")],
        io2,
        {},
      ),
      2,
    );
    assert.match(
      io2.stderr.join("\n"),
      /--backup-dir: scheduled backups copy a SQLite data directory/,
    );
    // Nothing was written.
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    await removeAll(dir);
  }
});

Deno.test("[cli] backup refuses a --to directory that is not empty", async () => {
  const { server } = await populated();
  await using _ = server;
  const to = await Deno.makeTempDir({ prefix: "dust-mcp-bk-" });
  try {
    await Deno.writeTextFile(join(to, "mine.txt"), "keep me");
    const r = await cli(["backup", "--to", to], server.dataDir);
    assert.equal(r.code, 1);
    assert.match(r.err, /--to: .* is not empty/);
    assert.equal(await Deno.readTextFile(join(to, "mine.txt")), "keep me");
  } finally {
    await removeAll(to);
  }
});

Deno.test("[cli] scheduled backups: taken every period, the newest --backup-keep kept, each verifiable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-sched-" });
  const server = await startTestServer({
    engine: "sqlite",
    flags: { "backup-dir": dir, "backup-every-hours": "0.0003", "backup-keep": "2" },
  });
  try {
    // Bounded: 0.0003 h is about a second; wait for four scheduled runs, at most 60 s.
    for (let i = 0; i < 600; i++) {
      const r = await server.deps.db.get<{ n: number }>(
        "SELECT COUNT(*) AS n FROM backup_runs WHERE scheduled = 1 AND outcome = 'ok'",
      );
      if (Number(r?.n) >= 4) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await server.stop();
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.equal(names.length, 2, names.join(", "));
    for (const name of names) {
      assert.match(name, /^dust-mcp-backup-\d{8}T\d{6}Z(-\d+)?$/);
      const v = await cli(["verify-backup", "--from", join(dir, name)], server.dataDir);
      assert.equal(v.code, 0, v.err);
    }
    assert.ok(
      !server.logs.some((l) => l.includes("scheduled backup failed")),
      server.logs.join("\n"),
    );
  } finally {
    await server.stop();
    await removeAll(dir);
  }
});
