import assert from "node:assert/strict";
import { runCli } from "../../src/cli.ts";
import { VERSION } from "../../src/version.ts";
import { openDatabase } from "../../src/db/open.ts";
import { captureIo, tempDataDir } from "./capture_io.ts";
import { engineEnv } from "../helpers/server.ts";

/** Run one operator command against `dir` (no environment read). */
async function cli(dir: string, args: string[], stdin = "") {
  const io = captureIo(stdin);
  const code = await runCli([...args, "--data-dir", dir], io, await engineEnv(dir));
  return { code, out: io.stdout, err: io.stderr };
}

/** Read rows from the data directory's database (or its PostgreSQL twin), then close it. */
async function query<T>(dir: string, sql: string, ...params: (string | number)[]): Promise<T[]> {
  const db = await openDatabase({
    databaseUrl: (await engineEnv(dir)).DUST_MCP_DATABASE_URL ?? null,
    dataDir: dir,
    migrate: false,
  });
  try {
    return await db.all(sql, ...params) as T[];
  } finally {
    await db.close();
  }
}

async function createAda(dir: string): Promise<string> {
  const r = await cli(
    dir,
    ["users", "create", "--email", "Ada@Example.com", "--name", "Ada Lovelace"],
    "correct horse battery\n",
  );
  assert.equal(r.code, 0, r.err.join("\n"));
  return r.out[0];
}

Deno.test("[cli] version prints the version", async () => {
  await using dir = await tempDataDir();
  const r = await cli(dir.path, ["version"]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, [`dust-mcp ${VERSION}`]);
});

Deno.test("[cli] migrate applies the schema once, then reports up to date", async () => {
  await using dir = await tempDataDir();
  await engineEnv(dir.path, { empty: true }); // PostgreSQL: an empty database for this directory
  const first = await cli(dir.path, ["migrate"]);
  assert.equal(first.code, 0);
  assert.match(first.out[0], /^applied migrations: 1\b/);
  const again = await cli(dir.path, ["migrate"]);
  assert.equal(again.code, 0);
  assert.deepEqual(again.out, ["database is up to date"]);
  const rows = await query<{ version: number }>(dir.path, "SELECT version FROM _migrations");
  assert.ok(rows.some((r) => r.version === 1));
});

Deno.test("[cli] users create reads the password from stdin and prints the user id", async () => {
  await using dir = await tempDataDir();
  const sId = await createAda(dir.path);
  assert.match(sId, /^[A-Za-z0-9]{10}$/);
  const [row] = await query<{ email: string; first_name: string; password_hash: string }>(
    dir.path,
    "SELECT email, first_name, password_hash FROM users WHERE s_id = ?",
    sId,
  );
  assert.equal(row.email, "ada@example.com");
  assert.equal(row.first_name, "Ada");
  assert.match(row.password_hash, /^scrypt\$/, "stored hashed");
  assert.ok(!row.password_hash.includes("correct horse"));
});

Deno.test("[cli] users create without a password on stdin exits 2", async () => {
  await using dir = await tempDataDir();
  const r = await cli(dir.path, ["users", "create", "--email", "a@example.com", "--name", "A"]);
  assert.equal(r.code, 2);
  assert.deepEqual(r.err, ["dust-mcp: a password is required on standard input"]);
});

Deno.test("[cli] users create with a short password or bad email exits 2 naming the value", async () => {
  await using dir = await tempDataDir();
  const short = await cli(
    dir.path,
    ["users", "create", "--email", "a@example.com", "--name", "A"],
    "short\n",
  );
  assert.equal(short.code, 2);
  assert.deepEqual(short.err, ["dust-mcp: password: must be at least 8 characters"]);
  const bad = await cli(
    dir.path,
    ["users", "create", "--email", "not-an-email", "--name", "A"],
    "long enough password",
  );
  assert.equal(bad.code, 2);
  assert.deepEqual(bad.err, ['dust-mcp: email: "not-an-email" is not a valid email address']);
  assert.equal((await query(dir.path, "SELECT id FROM users")).length, 0, "nothing written");
});

Deno.test("[cli] users create refuses a duplicate email with exit 1 (valid input, refused)", async () => {
  await using dir = await tempDataDir();
  await createAda(dir.path);
  const r = await cli(
    dir.path,
    ["users", "create", "--email", "ada@example.com", "--name", "Other"],
    "another password",
  );
  assert.equal(r.code, 1);
  assert.match(r.err[0], /already exists/);
});

Deno.test("[cli] users create without --email exits 2 naming the flag", async () => {
  await using dir = await tempDataDir();
  const r = await cli(dir.path, ["users", "create", "--name", "A"], "long enough password");
  assert.equal(r.code, 2);
  assert.deepEqual(r.err, ["dust-mcp: users create needs --email"]);
});

Deno.test("[cli] workspaces create prints the id and makes the user its admin", async () => {
  await using dir = await tempDataDir();
  await createAda(dir.path);
  const r = await cli(dir.path, [
    "workspaces",
    "create",
    "--name",
    "Analytical Engines",
    "--admin",
    "ada@example.com",
  ]);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.equal(r.out.length, 1);
  const wId = r.out[0];
  assert.match(wId, /^[A-Za-z0-9]{10}$/);
  const rows = await query<{ name: string; role: string; email: string }>(
    dir.path,
    `SELECT w.name, m.role, u.email FROM workspaces w
     JOIN memberships m ON m.workspace_id = w.id JOIN users u ON u.id = m.user_id
     WHERE w.s_id = ?`,
    wId,
  );
  assert.deepEqual(rows.map((x) => ({ ...x })), [
    { name: "Analytical Engines", role: "admin", email: "ada@example.com" },
  ]);
});

Deno.test("[cli] workspaces create with an unknown admin says so and exits 2", async () => {
  await using dir = await tempDataDir();
  const r = await cli(dir.path, [
    "workspaces",
    "create",
    "--name",
    "W",
    "--admin",
    "nobody@example.com",
  ]);
  assert.equal(r.code, 2);
  assert.deepEqual(r.err, ["dust-mcp: no user with email nobody@example.com"]);
  assert.equal((await query(dir.path, "SELECT id FROM workspaces")).length, 0);
});

Deno.test("[cli] members add adds a member and then changes the role", async () => {
  await using dir = await tempDataDir();
  await createAda(dir.path);
  const wId = (await cli(dir.path, [
    "workspaces",
    "create",
    "--name",
    "W",
    "--admin",
    "ada@example.com",
  ])).out[0];
  const bob = await cli(
    dir.path,
    ["users", "create", "--email", "bob@example.com", "--name", "Bob"],
    "bob's password",
  );
  assert.equal(bob.code, 0);
  const add = ["members", "add", "--workspace", wId, "--email", "bob@example.com", "--role"];
  const added = await cli(dir.path, [...add, "builder"]);
  assert.equal(added.code, 0, added.err.join("\n"));
  assert.deepEqual(added.out, [`bob@example.com is builder of ${wId}`]);
  const changed = await cli(dir.path, [...add, "user"]);
  assert.equal(changed.code, 0);
  const roles = await query<{ role: string }>(
    dir.path,
    `SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = ?`,
    "bob@example.com",
  );
  assert.deepEqual(roles.map((x) => x.role), ["user"]);
});

Deno.test("[cli] members add refuses an unknown user, workspace or role with exit 2", async () => {
  await using dir = await tempDataDir();
  await createAda(dir.path);
  const wId = (await cli(dir.path, [
    "workspaces",
    "create",
    "--name",
    "W",
    "--admin",
    "ada@example.com",
  ])).out[0];
  const user = await cli(dir.path, [
    "members",
    "add",
    "--workspace",
    wId,
    "--email",
    "ghost@example.com",
    "--role",
    "user",
  ]);
  assert.equal(user.code, 2);
  assert.deepEqual(user.err, ["dust-mcp: no user with email ghost@example.com"]);
  const ws = await cli(dir.path, [
    "members",
    "add",
    "--workspace",
    "nope",
    "--email",
    "ada@example.com",
    "--role",
    "user",
  ]);
  assert.equal(ws.code, 2);
  assert.deepEqual(ws.err, ["dust-mcp: --workspace: no workspace with id nope"]);
  const role = await cli(dir.path, [
    "members",
    "add",
    "--workspace",
    wId,
    "--email",
    "ada@example.com",
    "--role",
    "owner",
  ]);
  assert.equal(role.code, 2);
  assert.deepEqual(role.err, ['dust-mcp: role: "owner" is not one of admin, builder, user']);
});

Deno.test("[cli] an unusable data directory exits 1 with one line, not a stack trace", async () => {
  await using dir = await tempDataDir();
  const file = `${dir.path}/not-a-directory`;
  await Deno.writeTextFile(file, "");
  const io = captureIo();
  const code = await runCli(["migrate", "--data-dir", `${file}/data`], io, {});
  assert.equal(code, 1);
  assert.equal(io.stderr.length, 1);
  assert.match(io.stderr[0], /^dust-mcp: .*not-a-directory/);
  assert.ok(!io.stderr[0].includes("\n    at "), "no stack trace");
});
