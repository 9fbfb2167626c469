/**
 * The connection doctor end to end over real HTTP against a real server: every local client's
 * path passes on a healthy server; Claude's CIMD path (its document served by a fixture the
 * server's CIMD fetcher reaches) passes every step but the http URL; nothing usable is left
 * behind (grant and refresh tokens revoked, registrations deleted, no pending request, the
 * access token refused); the console page runs it for admins behind CSRF; the CLI prints it.
 */
import assert from "node:assert/strict";
import { engineEnv, startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { runDoctor } from "../../src/doctor/run.ts";
import { CLIENT_IDS, CLIENT_PROFILES } from "../../src/doctor/clients.ts";
import { startCimdFixture } from "../helpers/cimd_fixture.ts";
import type { CimdHooks } from "../../src/oauth/cimd.ts";
import { runCli } from "../../src/cli.ts";
import { captureIo } from "../cli/capture_io.ts";
import { testFilesSettings } from "../helpers/test_files.ts";
import { BrowserHttp, startSessionFor } from "../helpers/browser_http.ts";

/** The CIMD hooks: claude.ai and vscode.dev resolve to a public address, served by a fixture. */
function cimdHooksFor(fixtureBase: string): CimdHooks {
  return {
    resolveHost: () => Promise.resolve(["93.184.216.34"]),
    fetch: (url, init) => {
      const u = new URL(url);
      return fetch(`${fixtureBase}${u.pathname}${u.search}`, init);
    },
  };
}

Deno.test("doctor: every local client passes on a healthy server and nothing usable is left", async () => {
  await using fixture = startCimdFixture();
  for (const id of ["vscode", "claude-code"] as const) {
    const p = CLIENT_PROFILES[id];
    fixture.serveJson(new URL(p.cimdUrl!).pathname, p.cimdDocument);
  }
  await using server = await startTestServer({ cimdFetch: cimdHooksFor(fixture.base) });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const db = server.deps.db;
  const report = await runDoctor({
    db,
    url: server.config.publicUrl,
    issuer: server.config.publicUrl,
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    clients: (["cursor", "codex", "vscode", "claude-code"] as const).map((id) =>
      CLIENT_PROFILES[id]
    ),
  });
  assert.ok(report.ok, JSON.stringify(report, null, 1));
  for (const c of report.clients) {
    const ids = c.steps.map((s) => s.id);
    for (
      const id of [
        "public-url",
        "challenge",
        "prm",
        "as-metadata",
        "register",
        "policy",
        "authorize-resource",
        "authorize-no-resource",
        "authorize-trailing-slash",
        "consent",
        "token",
        "tools-list",
        "cleanup",
      ]
    ) assert.ok(ids.includes(id), `${c.client}: ${id}`);
    assert.match(c.steps.find((s) => s.id === "cleanup")!.why, /refused \(401\)/);
  }
  // Nothing usable behind: every grant revoked with its refresh tokens, no DCR client left,
  // no pending authorization request.
  const grants = await db.all("SELECT revoked_at FROM oauth_grants") as { revoked_at: unknown }[];
  assert.equal(grants.length, 4);
  assert.ok(grants.every((g) => g.revoked_at !== null));
  const live = await db.get(
    "SELECT COUNT(*) AS n FROM oauth_refresh_tokens WHERE revoked_at IS NULL",
  ) as { n: number | string };
  assert.equal(Number(live.n), 0);
  const dcr = await db.get("SELECT COUNT(*) AS n FROM oauth_clients WHERE kind = 'dcr'") as {
    n: number | string;
  };
  assert.equal(Number(dcr.n), 0);
  const pending = await db.get(
    "SELECT COUNT(*) AS n FROM oauth_auth_requests WHERE completed_at IS NULL",
  ) as { n: number | string };
  assert.equal(Number(pending.n), 0);
});

Deno.test("doctor: Claude's CIMD path passes every step except the http public URL", async () => {
  await using fixture = startCimdFixture();
  for (const id of ["claude", "vscode", "claude-code"] as const) {
    const p = CLIENT_PROFILES[id];
    fixture.serveJson(new URL(p.cimdUrl!).pathname, p.cimdDocument);
  }
  await using server = await startTestServer({ cimdFetch: cimdHooksFor(fixture.base) });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const report = await runDoctor({
    db: server.deps.db,
    url: server.config.publicUrl,
    issuer: server.config.publicUrl,
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    clients: [CLIENT_PROFILES.claude],
  });
  const steps = report.clients[0].steps;
  const failing = steps.filter((s) => s.status !== "pass").map((s) => s.id);
  assert.deepEqual(failing, ["public-url"], JSON.stringify(steps, null, 1));
  assert.match(steps.find((s) => s.id === "register")!.why, /mcp-oauth-client-metadata/);
  assert.equal(fixture.hits.get("/oauth/mcp-oauth-client-metadata"), 1);
});

Deno.test("doctor: a CIMD document the server cannot fetch is said, with what to open", async () => {
  await using server = await startTestServer({
    cimdFetch: {
      resolveHost: () => Promise.resolve(["93.184.216.34"]),
      fetch: () => Promise.reject(new Error("egress blocked")),
    },
  });
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const report = await runDoctor({
    db: server.deps.db,
    url: server.config.publicUrl,
    issuer: server.config.publicUrl,
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    clients: [CLIENT_PROFILES["claude-code"]],
  });
  const steps = report.clients[0].steps;
  const auth = steps.find((s) => s.id === "authorize-resource")!;
  assert.equal(auth.status, "fail");
  assert.match(auth.fix ?? "", /reach https:\/\/claude\.ai\/oauth\/claude-code-client-metadata/);
  assert.equal(steps.find((s) => s.id === "tools-list")!.status, "skip");
});

Deno.test("doctor: the console page runs it for an admin (CSRF-checked); others are refused", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "builder",
    workspace: alice.workspace,
  });
  const page = `/w/${alice.workspace.sId}/doctor`;
  const admin = new BrowserHttp(server.url);
  await startSessionFor(server, admin, alice.user.id);
  const form = await admin.get(page);
  assert.equal(form.status, 200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)![1];
  const noCsrf = await admin.post(page, { client: "codex" });
  assert.equal(noCsrf.status, 403);
  const run = await admin.post(page, { client: "codex", csrf });
  assert.equal(run.status, 200, run.text.slice(0, 500));
  assert.match(run.text, /Every step passed\./);
  assert.match(run.text, /First tools\/list/);
  // The run's own steps appear in the trace, marked as the doctor's.
  assert.match(run.text, /doctor run/);
  const builder = new BrowserHttp(server.url);
  await startSessionFor(server, builder, bob.user.id);
  const refused = await builder.get(page);
  assert.equal(refused.status, 403);
  assert.ok(!refused.text.includes("Run the doctor"));
  const csrfBob = /name="csrf" value="([^"]+)"/.exec(refused.text)![1];
  const bobRun = await builder.post(page, { client: "codex", csrf: csrfBob });
  assert.equal(bobRun.status, 403);
});

/** `dust-mcp doctor …` as a child process (an operator command opens the database itself). */
async function doctorProcess(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, "doctor", ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

Deno.test("doctor: the CLI prints each step and exits 0, 1 on a failure, 2 on a bad flag", async () => {
  await using server = await startTestServer();
  await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const files = testFilesSettings(server.dataDir);
  const env = { ...files.env, ...await engineEnv(server.dataDir) };
  const flags = [
    ...Object.entries(files.flags).flatMap(([k, v]) => [`--${k}`, v]),
    "--data-dir",
    server.dataDir,
    "--public-url",
    server.config.publicUrl,
  ];
  const ok = await doctorProcess(["--client", "codex", ...flags], env);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /pass {2}First tools\/list: \d+ tools listed/);
  assert.match(ok.out, /Every step passed\./);
  const hosted = await doctorProcess(["--client", "chatgpt", ...flags], env);
  assert.equal(hosted.code, 1, hosted.out + hosted.err);
  assert.match(hosted.out, /FAIL {2}Public URL: .*accepts only https/);
  assert.match(hosted.out, /change: Serve the server behind a TLS-terminating proxy/);
  // A bad flag is refused before anything is opened.
  const io = captureIo();
  const bad = await runCli(["doctor", "--client", "netscape", ...flags], io, env);
  assert.equal(bad, 2);
  assert.match(
    io.stderr.join("\n"),
    /--client: one of claude, chatgpt, cursor, vscode, claude-code, codex, all/,
  );
  assert.equal(CLIENT_IDS.length, 6);
});
