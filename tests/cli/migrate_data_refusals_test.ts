/**
 * `migrate-data` refusals: a target that is not empty (rows, or objects under the prefix), a
 * source a running server holds, bytes missing from the source, a failure half-way (the target
 * is left as found), bad command lines. All but the last run in the PostgreSQL pass.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../src/cli.ts";
import { testEngine } from "../helpers/server.ts";
import { createPgTestDatabase } from "../helpers/pg_test_db.ts";
import { captureIo, tempDataDir } from "./capture_io.ts";
import {
  countsOf,
  migrateData,
  prefixCleanup,
  smallInstance,
  targetArgs,
  targetFilesUrl,
  targetState,
  withSource,
} from "../helpers/migrate_data.ts";

const onPostgres = testEngine() === "postgres";

Deno.test({
  name: "[cli] migrate-data refuses a target that is not empty (rows, or objects under the prefix)",
  ignore: !onPostgres,
  async fn() {
    await using dir = await tempDataDir();
    await smallInstance(dir.path);
    await using target = await createPgTestDatabase({ empty: true });
    const filesUrl = targetFilesUrl();
    await using _files = prefixCleanup(filesUrl);
    const first = await migrateData(dir.path, targetArgs(target.url, filesUrl));
    assert.equal(first.code, 0, first.err.join("\n"));
    const before = await countsOf(dir.path, target.url);
    const again = await migrateData(dir.path, targetArgs(target.url, null));
    assert.equal(again.code, 1);
    assert.match(again.err.join("\n"), /target database is not empty \(rows in \w+/);
    assert.deepEqual(await countsOf(dir.path, target.url), before, "nothing was added");

    if (!filesUrl) return; // the prefix check needs the S3 server
    await using empty = await createPgTestDatabase({ empty: true });
    const refused = await migrateData(dir.path, targetArgs(empty.url, filesUrl));
    assert.equal(refused.code, 1);
    assert.match(refused.err.join("\n"), /target store is not empty \(objects under s3:\/\//);
    const state = await targetState(empty.url, null);
    assert.deepEqual(state, { migrated: false, withRows: [], objects: false }, "untouched");
  },
});

Deno.test({
  name: "[cli] migrate-data refuses while a server runs on the data directory, then moves it",
  ignore: !onPostgres,
  async fn() {
    await using dir = await tempDataDir();
    await smallInstance(dir.path);
    await using target = await createPgTestDatabase({ empty: true });
    const filesUrl = targetFilesUrl();
    await using _files = prefixCleanup(filesUrl);
    // The real program in a process of its own, idle on SQLite and local files.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, "serve"].concat(
        ["--port", "0", "--data-dir", dir.path, "--log-level", "warn"],
      ),
      env: { NO_COLOR: "1", DUST_MCP_DATABASE_URL: "", DUST_MCP_FILES_URL: "" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    const reading = (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) log += c;
    })();
    try {
      const deadline = Date.now() + 30_000;
      while (!/serving region/.test(log) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(log, /serving region/, log);
      const busy = await migrateData(dir.path, targetArgs(target.url, filesUrl));
      assert.equal(busy.code, 1);
      assert.match(busy.err.join("\n"), /source database .* is in use: stop the server/);
      assert.deepEqual(await targetState(target.url, filesUrl), {
        migrated: false,
        withRows: [],
        objects: false,
      });
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reading;
    }
    const moved = await migrateData(dir.path, targetArgs(target.url, filesUrl));
    assert.equal(moved.code, 0, moved.err.join("\n"));
  },
});

Deno.test({
  name:
    "[cli] migrate-data refuses bytes missing from the source; a failure half-way leaves the target empty",
  ignore: !onPostgres,
  async fn() {
    await using dir = await tempDataDir();
    await smallInstance(dir.path);
    await using target = await createPgTestDatabase({ empty: true });
    const filesUrl = targetFilesUrl();
    await using _files = prefixCleanup(filesUrl);
    const key = await withSource(dir.path, async (db) =>
      (await db.get<{ storage_key: string }>(
        "SELECT storage_key FROM files WHERE storage_key IS NOT NULL",
      ))!.storage_key);
    const blob = join(dir.path, "files", key);
    await Deno.rename(blob, `${blob}.away`);
    const missing = await migrateData(dir.path, targetArgs(target.url, filesUrl));
    assert.equal(missing.code, 1);
    assert.match(missing.err.join("\n"), /1 file\(s\) have no bytes in .*fil_\w+ \(/);
    assert.deepEqual(await targetState(target.url, filesUrl), {
      migrated: false,
      withRows: [],
      objects: false,
    });
    await Deno.rename(`${blob}.away`, blob);

    // A damaged source: a membership whose workspace is gone, written with foreign keys off.
    // PostgreSQL refuses it half-way, after the files were copied: the rows roll back, the
    // copied objects are removed, the target is as it was found (but migrated).
    const orphan = await withSource(dir.path, async (db) => {
      db.conn.exec("PRAGMA foreign_keys = OFF");
      return (await db.get<{ id: number }>(
        `INSERT INTO memberships (workspace_id, user_id, role, created_at)
         VALUES (424242, 1, 'user', 0) RETURNING id`,
      ))!.id;
    });
    const failed = await migrateData(dir.path, targetArgs(target.url, filesUrl));
    assert.equal(failed.code, 1);
    assert.match(
      failed.err.join("\n"),
      /copying memberships \(the batch from id \d+\): .*foreign key/,
    );
    assert.match(failed.out.join("\n"), /failed: rows rolled back/);
    assert.deepEqual(await targetState(target.url, filesUrl), {
      migrated: true,
      withRows: [],
      objects: false,
    });
    // Fixed at the source, the same target takes the move.
    await withSource(dir.path, (db) => db.run("DELETE FROM memberships WHERE id = ?", orphan));
    const moved = await migrateData(dir.path, targetArgs(target.url, filesUrl));
    assert.equal(moved.code, 0, moved.err.join("\n"));
  },
});

Deno.test("[cli] migrate-data: a bad command line exits 2, an unreachable database 1", async () => {
  await using dir = await tempDataDir();
  const run = (args: string[], env: Record<string, string> = {}) => {
    const io = captureIo();
    return runCli(["migrate-data", "--data-dir", dir.path, ...args], io, env).then((code) => ({
      code,
      err: io.stderr.join("\n"),
    }));
  };
  const noTarget = await run([]);
  assert.deepEqual(noTarget, {
    code: 2,
    err: "dust-mcp: migrate-data needs --database-url (the PostgreSQL database to fill)",
  });
  const pg = "postgres://dust@127.0.0.1:1/dust";
  assert.match((await run(["--database-url", "mysql://h/db"])).err, /--database-url: .*postgres/);
  assert.equal((await run(["--database-url", "mysql://h/db"])).code, 2);
  const badFiles = await run(["--database-url", pg, "--files-url", "http://bucket/x"], {
    AWS_ACCESS_KEY_ID: "k",
    AWS_SECRET_ACCESS_KEY: "s",
  });
  assert.equal(badFiles.code, 2);
  assert.match(badFiles.err, /--files-url: expected an s3:\/\/ URL/);
  const noSource = await run(["--database-url", pg]);
  assert.equal(noSource.code, 2);
  assert.match(noSource.err, /--data-dir: no database at .*dust-mcp\.db/);
  // A source database exists (created by `migrate` on SQLite): the target does not answer.
  assert.equal(await runCli(["migrate", "--data-dir", dir.path], captureIo(), {}), 0);
  const unreachable = await run(["--database-url", pg]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.err, /^dust-mcp: --database-url: cannot connect/);
  assert.doesNotMatch(unreachable.err, /127\.0\.0\.1:1\/dust/, "the URL is never echoed");
});

Deno.test({
  name: "[cli] migrate-data refuses a source that is not a dust-mcp database, in one line",
  ignore: !onPostgres,
  async fn() {
    await using dir = await tempDataDir();
    await using target = await createPgTestDatabase({ empty: true });
    await Deno.writeTextFile(
      join(dir.path, "dust-mcp.db"),
      "not a database at all, not even close",
    );
    const garbage = await migrateData(dir.path, targetArgs(target.url, null));
    assert.equal(garbage.code, 1);
    assert.match(garbage.err.join("\n"), /^dust-mcp: migrate-data: .*not a database/);
    await Deno.remove(join(dir.path, "dust-mcp.db"));
    // A SQLite database of something else: no migrations ledger.
    await withSource(dir.path, (db) => db.exec("CREATE TABLE notes (body TEXT)"));
    const foreign = await migrateData(dir.path, targetArgs(target.url, null));
    assert.equal(foreign.code, 1);
    assert.match(foreign.err.join("\n"), /is not a dust-mcp database \(no _migrations\)/);
    assert.deepEqual(await targetState(target.url, null), {
      migrated: false,
      withRows: [],
      objects: false,
    });
  },
});
