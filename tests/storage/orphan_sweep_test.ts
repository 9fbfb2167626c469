/**
 * The startup sweep of orphan blobs with local files (src/core/blob_sweep.ts): a blob no files
 * row references (left by a crash between a blob's rename and its row's commit) is removed when
 * the server starts; referenced blobs, whatever their row's status, and foreign names stay.
 * These tests look inside the data directory, so their servers keep files locally whatever
 * DUST_MCP_TEST_FILES_URL says (the S3 sweep: s3_sweep_test.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { startTestServer, testEngine, type TestServer } from "../helpers/server.ts";
import { bearer, createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { LocalFiles } from "../../src/storage/local_files.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, (e) => {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  });
}

/** Create an unscoped text file over REST and upload its bytes; returns its sId. */
async function uploadText(server: TestServer, alice: UserWithToken, text: string) {
  const bytes = new TextEncoder().encode(text);
  const created = await fetch(`${server.url}/api/v1/w/${alice.workspace.sId}/files`, {
    method: "POST",
    headers: { ...bearer(alice.token), "Content-Type": "application/json" },
    body: JSON.stringify({
      contentType: "text/plain",
      fileName: "kept.txt",
      fileSize: bytes.length,
      useCase: "conversation",
    }),
  });
  const { file } = await created.json();
  const form = new FormData();
  form.append("file", new File([bytes], "kept.txt"));
  const up = await fetch(file.uploadUrl, {
    method: "POST",
    headers: bearer(alice.token),
    body: form,
  });
  assert.equal(up.status, 200);
  await up.body?.cancel();
  return file.sId as string;
}

function storageKeyOf(dataDir: string, sId: string): string {
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"));
  try {
    const r = db.prepare("SELECT storage_key FROM files WHERE s_id = ?").get(sId);
    return String(r!.storage_key);
  } finally {
    db.close();
  }
}

function setStatus(dataDir: string, sId: string, status: string): void {
  const db = new DatabaseSync(join(dataDir, "dust-mcp.db"));
  try {
    db.prepare("UPDATE files SET status = ? WHERE s_id = ?").run(status, sId);
  } finally {
    db.close();
  }
}

/** The swept counts the last start logged. */
function lastSweep(server: TestServer): { removed: number; kept: number; complete: boolean } {
  const line = server.logs.findLast((l) => l.includes('"orphan blobs swept"'));
  assert.ok(line, "the start logged its sweep");
  const { removed, kept, complete } = JSON.parse(line);
  return { removed, kept, complete };
}

Deno.test({
  name: "[storage] a restart removes orphan blobs; referenced blobs stay and download intact",
  // The start-time sweep of everything is SQLite + local files only (tests/storage/s3_sweep_test.ts
  // covers the margin sweep every other setup runs).
  ignore: testEngine() === "postgres",
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-sweep-" });
    try {
      let alice: UserWithToken;
      let keptId: string;
      let failedId: string;
      {
        await using first = await startTestServer({ dataDir, files: "local" });
        alice = await createUserWithToken(first, { email: "alice@example.com", role: "user" });
        keptId = await uploadText(first, alice, "referenced bytes");
        failedId = await uploadText(first, alice, "a failed row still names its blob");
      }
      const filesDir = join(dataDir, "files");
      const keptKey = storageKeyOf(dataDir, keptId);
      const failedKey = storageKeyOf(dataDir, failedId);
      setStatus(dataDir, failedId, "failed");
      // What a crash between the rename and the row update leaves: a blob under a valid key.
      const orphanKey = new LocalFiles(dataDir).newKey();
      await Deno.mkdir(join(filesDir, orphanKey, ".."), { recursive: true });
      await Deno.writeTextFile(join(filesDir, orphanKey), "nobody points here");
      // Names that are not storage keys are not the sweep's to judge.
      await Deno.writeTextFile(join(filesDir, "README"), "operator note");
      await Deno.writeTextFile(join(filesDir, keptKey.slice(0, 2), "notes.txt"), "operator note");

      await using second = await startTestServer({ dataDir, files: "local" });
      assert.equal(await exists(join(filesDir, orphanKey)), false, "the orphan is gone");
      assert.equal(
        await Deno.readTextFile(join(filesDir, failedKey)),
        "a failed row still names its blob",
      );
      assert.ok(await exists(join(filesDir, "README")));
      assert.ok(await exists(join(filesDir, keptKey.slice(0, 2), "notes.txt")));
      assert.deepEqual(lastSweep(second), { removed: 1, kept: 2, complete: true });
      assert.ok(!second.logs.some((l) => l.includes(orphanKey)), "no key is logged");
      const dl = await fetch(
        `${second.url}/api/v1/w/${alice.workspace.sId}/files/${keptId}?action=download`,
        { headers: bearer(alice.token) },
      );
      assert.equal(dl.status, 200);
      assert.equal(await dl.text(), "referenced bytes");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "[storage] the blob an overwrite left behind (crash before removing it) is swept at start",
  // The start-time sweep of everything is SQLite + local files only (tests/storage/s3_sweep_test.ts
  // covers the margin sweep every other setup runs).
  ignore: testEngine() === "postgres",
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-sweep-" });
    try {
      let alice: UserWithToken;
      let sId: string;
      let oldKey: string;
      {
        await using first = await startTestServer({ dataDir, files: "local" });
        alice = await createUserWithToken(first, { email: "alice@example.com", role: "user" });
        sId = await uploadText(first, alice, "old bytes");
        oldKey = storageKeyOf(dataDir, sId);
      }
      // The overwrite committed the row's switch to new bytes, then the process died before it
      // removed the old blob: the row names the new key, the old blob is still on disk.
      const files = new LocalFiles(dataDir);
      const newKey = files.newKey();
      await files.write(newKey, new TextEncoder().encode("new bytes"));
      const db = new DatabaseSync(join(dataDir, "dust-mcp.db"));
      db.prepare("UPDATE files SET storage_key = ?, file_size = 9 WHERE s_id = ?").run(newKey, sId);
      db.close();

      await using second = await startTestServer({ dataDir, files: "local" });
      assert.equal(await exists(files.pathOf(oldKey)), false, "the replaced blob is gone");
      assert.deepEqual(lastSweep(second), { removed: 1, kept: 1, complete: true });
      const dl = await fetch(
        `${second.url}/api/v1/w/${alice.workspace.sId}/files/${sId}?action=download`,
        { headers: bearer(alice.token) },
      );
      assert.equal(await dl.text(), "new bytes");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("[storage] listKeys walks the fan-out directories only and stops at its bound", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-sweep-" });
  try {
    const files = new LocalFiles(dataDir);
    await files.init();
    const keys = [files.newKey(), files.newKey(), files.newKey()];
    for (const key of keys) await files.write(key, new Uint8Array(1));
    await Deno.writeTextFile(join(files.root, "tmp", "x.part"), "in flight");
    const all = await files.listKeys();
    assert.deepEqual(all.keys.sort(), keys.sort());
    assert.equal(all.complete, true);
    const cut = await files.listKeys(2);
    assert.equal(cut.keys.length, 2);
    assert.equal(cut.complete, false);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
