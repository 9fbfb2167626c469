import assert from "node:assert/strict";
import { join } from "node:path";
import { openDb } from "../../src/db/sqlite.ts";
import type { Db } from "../../src/db/db.ts";
import { migrate, type Migration, MIGRATIONS } from "../../src/db/migrate.ts";

/** A fresh database file in a temp directory, closed and removed by `await using`. */
async function freshDb(): Promise<{ db: Db; path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-db-" });
  const path = join(dir, "dust-mcp.db");
  const db = openDb(path);
  return {
    db,
    path,
    [Symbol.asyncDispose]: async () => {
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function tables(db: Db): Promise<string[]> {
  return (await db.all(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ) as { name: string }[]).map((r) => r.name);
}

Deno.test("[db] migrating a fresh database applies every migration and records each", async () => {
  await using t = await freshDb();
  const applied = await migrate(t.db);
  assert.deepEqual(applied, MIGRATIONS.map((m) => m.version));
  const rows = await t.db.all(
    "SELECT version, name, applied_at FROM _migrations ORDER BY version",
  ) as { version: number; name: string; applied_at: number }[];
  assert.deepEqual(
    rows.map((r) => [r.version, r.name]),
    MIGRATIONS.map((m) => [m.version, m.name]),
  );
  for (const r of rows) assert.ok(r.applied_at > 0);
  const names = await tables(t.db);
  for (const table of ["users", "workspaces", "memberships", "spaces", "files", "audit_log"]) {
    assert.ok(names.includes(table), `table ${table}`);
  }
});

Deno.test("[db] versions are unique and ascending", () => {
  const versions = MIGRATIONS.map((m) => m.version);
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
  assert.equal(new Set(versions).size, versions.length);
  assert.equal(versions[0], 1);
});

Deno.test("[db] re-running migrate is a no-op", async () => {
  await using t = await freshDb();
  await migrate(t.db);
  const schema =
    async () => (await t.db.all("SELECT type, name, sql FROM sqlite_master ORDER BY name"));
  const before = JSON.stringify(await schema());
  assert.deepEqual(await migrate(t.db), []);
  assert.equal(JSON.stringify(await schema()), before);
  const count = await t.db.get("SELECT count(*) AS n FROM _migrations") as { n: number };
  assert.equal(count.n, MIGRATIONS.length);
});

Deno.test("[db] a second connection (an operator command) sees the migrations as applied", async () => {
  await using t = await freshDb();
  await migrate(t.db);
  const other = openDb(t.path);
  try {
    assert.deepEqual(await migrate(other), []);
  } finally {
    await other.close();
  }
});

Deno.test("[db] the migrated schema passes foreign_key_check and integrity_check", async () => {
  await using t = await freshDb();
  await migrate(t.db);
  assert.deepEqual(await t.db.all("PRAGMA foreign_key_check"), []);
  const integrity = await t.db.all("PRAGMA integrity_check") as Record<string, string>[];
  assert.deepEqual(integrity.map((r) => Object.values(r)[0]), ["ok"]);
});

Deno.test("[db] every foreign key points at an existing table and column", async () => {
  await using t = await freshDb();
  await migrate(t.db);
  const names = new Set(await tables(t.db));
  for (const table of names) {
    const fks = await t.db.all("SELECT * FROM pragma_foreign_key_list(?)", table) as {
      table: string;
      to: string | null;
    }[];
    for (const fk of fks) {
      assert.ok(names.has(fk.table), `${table} references missing table ${fk.table}`);
      if (fk.to) {
        const cols = (await t.db.all("SELECT name FROM pragma_table_info(?)", fk.table) as {
          name: string;
        }[]).map((c) => c.name);
        assert.ok(cols.includes(fk.to), `${table} references missing ${fk.table}.${fk.to}`);
      }
    }
  }
});

Deno.test("[db] the connection uses WAL, a busy timeout and enforced foreign keys", async () => {
  await using t = await freshDb();
  const pragma = async (name: string) => Object.values((await t.db.get(`PRAGMA ${name}`))!)[0];
  assert.equal(await pragma("journal_mode"), "wal");
  assert.equal(await pragma("foreign_keys"), 1);
  assert.equal(await pragma("busy_timeout"), 5000);
  assert.equal(await pragma("synchronous"), 1, "NORMAL");
  await migrate(t.db);
  await assert.rejects(
    async () =>
      await t.db.run(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (999, 999, 'user', 0)",
      ),
    /FOREIGN KEY constraint failed/,
  );
});

Deno.test("[db] a failing migration rolls back entirely and is not recorded", async () => {
  await using t = await freshDb();
  await migrate(t.db);
  const broken: Migration = {
    version: 9999,
    name: "broken",
    sql: "CREATE TABLE half_done (id INTEGER); INSERT INTO no_such_table VALUES (1);",
  };
  await assert.rejects(async () => await migrate(t.db, [...MIGRATIONS, broken]), /no such table/);
  assert.ok(!(await tables(t.db)).includes("half_done"), "the first statement was rolled back");
  const rec = await t.db.get("SELECT 1 FROM _migrations WHERE version = 9999");
  assert.equal(rec, undefined);
});

Deno.test("[db] 0004 counts existing audit rows per workspace and marks API-key conversations", async () => {
  await using t = await freshDb();
  await migrate(t.db, MIGRATIONS.filter((m) => m.version < 4));
  const run = async (sql: string, ...args: (string | number | null)[]) =>
    await t.db.run(sql, ...args);
  await run(
    "INSERT INTO users (id, s_id, email, username, first_name, created_at, updated_at) VALUES (1, 'u1', 'a@x.example', 'a', 'A', 0, 0)",
  );
  for (const w of [1, 2]) {
    await run(
      "INSERT INTO workspaces (id, s_id, name, created_at, updated_at) VALUES (?, ?, 'W', 0, 0)",
      w,
      `w${w}`,
    );
  }
  const audit = async (w: number) =>
    await run(
      "INSERT INTO audit_log (created_at, workspace_id, credential_kind, tool, outcome, latency_ms) VALUES (0, ?, 'mcp_token', 'identity', 'success', 1)",
      w,
    );
  for (const w of [1, 1, 1, 2]) await audit(w);
  const conv = async (sId: string, userId: number | null) =>
    await run(
      "INSERT INTO conversations (s_id, workspace_id, created_by_user_id, created_at, updated_at) VALUES (?, 1, ?, 0, 0)",
      sId,
      userId,
    );
  await conv("by_user", 1);
  await conv("by_key", null);
  assert.deepEqual(await migrate(t.db), [
    4,
    ...MIGRATIONS.filter((m) => m.version > 4).map((m) => m.version),
  ]);
  const usage = async () =>
    (await t.db.all("SELECT workspace_id AS w, entries FROM audit_usage ORDER BY w"))
      .map((r) => ({ ...r }));
  assert.deepEqual(await usage(), [{ w: 1, entries: 3 }, { w: 2, entries: 1 }]);
  // Triggers keep the figure exact whatever inserts or deletes rows.
  await audit(2);
  await run(
    "DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log WHERE workspace_id = 1)",
  );
  assert.deepEqual(await usage(), [{ w: 1, entries: 2 }, { w: 2, entries: 2 }]);
  const marked =
    (await t.db.all("SELECT s_id, created_through_api_key AS k FROM conversations ORDER BY s_id"))
      .map((r) => ({ ...r }));
  assert.deepEqual(marked, [{ s_id: "by_key", k: 1 }, { s_id: "by_user", k: 0 }]);
});
