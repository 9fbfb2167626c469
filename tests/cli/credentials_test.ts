import assert from "node:assert/strict";
import { runCli } from "../../src/cli.ts";
import { captureIo, tempDataDir } from "./capture_io.ts";
import { engineEnv, startTestServer } from "../helpers/server.ts";
import { apiJson } from "../helpers/fixtures.ts";

async function cli(dir: string, args: string[], stdin = "") {
  const io = captureIo(stdin);
  const code = await runCli([...args, "--data-dir", dir], io, await engineEnv(dir));
  return { code, out: io.stdout, err: io.stderr };
}

/** A user and a workspace made with the operator commands; returns the workspace id. */
async function seed(dir: string): Promise<string> {
  const u = await cli(
    dir,
    ["users", "create", "--email", "ops@example.com", "--name", "Ops"],
    "correct horse battery\n",
  );
  assert.equal(u.code, 0, u.err.join("\n"));
  const w = await cli(dir, ["workspaces", "create", "--name", "Ops", "--admin", "ops@example.com"]);
  assert.equal(w.code, 0, w.err.join("\n"));
  return w.out[0];
}

Deno.test("[cli] api-keys create prints a key once that authenticates as the workspace", async () => {
  await using dir = await tempDataDir();
  const wId = await seed(dir.path);
  const r = await cli(dir.path, ["api-keys", "create", "--workspace", wId, "--name", "ci"]);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.equal(r.out.length, 1);
  const key = r.out[0];
  assert.match(key, /^sk-/);
  await using server = await startTestServer({ dataDir: dir.path });
  const spaces = await apiJson(server, key, `/api/v1/w/${wId}/spaces`);
  assert.equal(spaces.status, 200);
  const me = await apiJson(server, key, "/api/v1/me");
  assert.equal(me.status, 401, "an API key has no user");
  assert.equal(me.body.error.type, "user_not_found");
});

Deno.test("[cli] personal-tokens create prints a token that acts as the user", async () => {
  await using dir = await tempDataDir();
  const wId = await seed(dir.path);
  const r = await cli(dir.path, [
    "personal-tokens",
    "create",
    "--workspace",
    wId,
    "--email",
    "ops@example.com",
    "--name",
    "laptop",
    "--expires-days",
    "30",
  ]);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.match(r.out[0], /^pat_/);
  await using server = await startTestServer({ dataDir: dir.path });
  const me = await apiJson(server, r.out[0], "/api/v1/me");
  assert.equal(me.status, 200);
  assert.equal(me.body.user.email, "ops@example.com");
  assert.equal(me.body.user.selectedWorkspace, wId);
});

Deno.test("[cli] personal-tokens create refuses a bad --expires-days and an unknown user", async () => {
  await using dir = await tempDataDir();
  const wId = await seed(dir.path);
  const base = ["personal-tokens", "create", "--workspace", wId, "--name", "x"];
  const bad = await cli(dir.path, [
    ...base,
    "--email",
    "ops@example.com",
    "--expires-days",
    "soon",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err[0], /expires-days/);
  const zero = await cli(dir.path, [...base, "--email", "ops@example.com", "--expires-days", "0"]);
  assert.equal(zero.code, 2, "a value the core refuses is a bad value too");
  assert.match(zero.err[0], /expires-days/);
  const nobody = await cli(dir.path, [...base, "--email", "nobody@example.com"]);
  assert.equal(nobody.code, 2);
  assert.match(nobody.err[0], /no user/);
});

Deno.test("[cli] api-keys create for an unknown workspace exits 2 naming --workspace", async () => {
  await using dir = await tempDataDir();
  await seed(dir.path);
  const r = await cli(dir.path, ["api-keys", "create", "--workspace", "nope", "--name", "ci"]);
  assert.equal(r.code, 2);
  assert.deepEqual(r.err, ["dust-mcp: --workspace: no workspace with id nope"]);
});

Deno.test("[cli] api-keys list shows keys without secrets; api-keys revoke stops a key at once", async () => {
  await using dir = await tempDataDir();
  const wId = await seed(dir.path);
  const created = await cli(dir.path, ["api-keys", "create", "--workspace", wId, "--name", "ci"]);
  const secret = created.out[0];
  const list = await cli(dir.path, ["api-keys", "list", "--workspace", wId]);
  assert.equal(list.code, 0, list.err.join("\n"));
  assert.equal(list.out.length, 1);
  const key = JSON.parse(list.out[0]);
  assert.equal(key.name, "ci");
  assert.equal(key.revokedAt, null);
  assert.ok(secret.startsWith(key.prefix) && !list.out[0].includes(secret), "never the secret");

  await using server = await startTestServer({ dataDir: dir.path });
  const url = `/api/v1/w/${wId}/spaces`;
  assert.equal((await apiJson(server, secret, url)).status, 200);
  const revoked = await cli(dir.path, ["api-keys", "revoke", "--workspace", wId, "--id", key.sId]);
  assert.equal(revoked.code, 0, revoked.err.join("\n"));
  assert.deepEqual(revoked.out, [`revoked ${key.sId} (ci)`]);
  const after = await apiJson(server, secret, url);
  assert.equal(after.status, 401, "the running server refuses the key at once");
  assert.equal(after.body.error.type, "invalid_api_key_error");
  const again = JSON.parse((await cli(dir.path, ["api-keys", "list", "--workspace", wId])).out[0]);
  assert.equal(typeof again.revokedAt, "number");
  const unknown = await cli(dir.path, ["api-keys", "revoke", "--workspace", wId, "--id", "key_x"]);
  assert.equal(unknown.code, 2, "an id naming no key is a bad value");
  assert.deepEqual(unknown.err, ["dust-mcp: The API key was not found."]);
});
