/**
 * The doctor finds each misconfiguration of issue 16 in a setup that really has it: a public
 * URL hosted clients cannot use (http, a port other than 443), a redirect URI outside the
 * workspace's allowlist, MCP switched off, a server clock that is off, a proxy that strips
 * `Authorization`, a proxy that rewrites `Host`. Each also shows the same check passing when
 * the fault is absent, so none of them can pass by accident.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { type DoctorReport, runDoctor } from "../../src/doctor/run.ts";
import { CLIENT_PROFILES, type ClientIdName } from "../../src/doctor/clients.ts";
import { checkPublicUrl, type DoctorStep } from "../../src/doctor/steps.ts";
import { updateMcpSettings } from "../../src/core/workspace_settings.ts";
import { userActorOf } from "../helpers/actors.ts";
import { type ProxyOptions, startMisconfigProxy } from "./misconfig_proxy.ts";

async function doctor(
  server: TestServer,
  admin: UserWithToken,
  ids: ClientIdName[],
  url = server.config.publicUrl,
): Promise<DoctorReport> {
  return await runDoctor({
    db: server.deps.db,
    url,
    issuer: server.config.publicUrl,
    workspaceId: admin.workspace.id,
    userId: admin.user.id,
    clients: ids.map((id) => CLIENT_PROFILES[id]),
  });
}

function stepOf(report: DoctorReport, client: string, id: string): DoctorStep {
  const steps = client === "general"
    ? report.general
    : report.clients.find((c) => c.client === client)!.steps;
  const s = steps.find((x) => x.id === id);
  assert.ok(s, `${client}: no step ${id} in ${JSON.stringify(steps.map((x) => x.id))}`);
  return s;
}

/** A server whose public URL is a misbehaving proxy in front of it. */
async function behindProxy(options: ProxyOptions) {
  const proxy = await startMisconfigProxy(options);
  const server = await startTestServer({ publicUrl: proxy.url });
  proxy.upstreamPort = server.port;
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  return {
    proxy,
    server,
    admin,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await proxy[Symbol.asyncDispose]();
    },
  };
}

Deno.test("doctor: an http public URL fails for Claude and ChatGPT, not for Cursor", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "a@example.com", role: "admin" });
  const report = await doctor(server, admin, ["claude", "chatgpt", "cursor"]);
  for (const hosted of ["claude", "chatgpt"]) {
    const s = stepOf(report, hosted, "public-url");
    assert.equal(s.status, "fail", hosted);
    assert.match(s.why, /accepts only https/);
    assert.match(s.why, /not reachable from the vendor's servers/);
    assert.match(s.fix ?? "", /port 443/);
  }
  assert.equal(stepOf(report, "cursor", "public-url").status, "pass");
  assert.equal(report.ok, false);
});

Deno.test("doctor: https on a port other than 443 fails for hosted clients only", () => {
  const url = "https://mcp.example.com:8443";
  const claude = checkPublicUrl(url, CLIENT_PROFILES.claude);
  assert.equal(claude.status, "fail");
  assert.match(claude.why, /only on port 443, not 8443/);
  assert.equal(checkPublicUrl("https://mcp.example.com", CLIENT_PROFILES.claude).status, "pass");
  assert.equal(checkPublicUrl(url, CLIENT_PROFILES.vscode).status, "pass");
});

Deno.test("doctor: a redirect URI outside the workspace's allowlist is named, with the entry to add", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "a@example.com", role: "admin" });
  const actor = await userActorOf(server, admin);
  await updateMcpSettings(server.deps.db, actor, {
    mcpEnabled: true,
    redirectPolicy: "allowlist",
    allowedRedirectUris: ["http://localhost:*", "http://127.0.0.1:*"],
    allowTokenInUrl: false,
  });
  const report = await doctor(server, admin, ["cursor", "codex"]);
  const policy = stepOf(report, "cursor", "policy");
  assert.equal(policy.status, "fail");
  assert.match(policy.why, /cursor:\/\/anysphere\.cursor-mcp\/oauth\/callback/);
  assert.match(
    policy.fix ?? "",
    /Add cursor:\/\/anysphere.cursor-mcp\/oauth\/callback, https:\/\/www\.cursor\.com/,
  );
  const consent = stepOf(report, "cursor", "consent");
  assert.equal(consent.status, "fail");
  assert.match(consent.why, /redirect URIs are not allowed/);
  assert.equal(stepOf(report, "cursor", "tools-list").status, "skip");
  // Codex's loopback redirect is covered by the allowlist: its whole path passes.
  assert.ok(report.clients.find((c) => c.client === "codex")!.ok);
});

Deno.test("doctor: MCP switched off for the workspace fails the policy and the consent", async () => {
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "a@example.com", role: "admin" });
  await updateMcpSettings(server.deps.db, await userActorOf(server, admin), {
    mcpEnabled: false,
    redirectPolicy: "all",
    allowedRedirectUris: [],
    allowTokenInUrl: false,
  });
  const report = await doctor(server, admin, ["codex"]);
  const policy = stepOf(report, "codex", "policy");
  assert.equal(policy.status, "fail");
  assert.match(policy.why, /MCP is switched off/);
  assert.match(policy.fix ?? "", /\/settings/);
  assert.match(stepOf(report, "codex", "consent").why, /MCP server is disabled/);
  assert.equal(report.ok, false);
});

Deno.test("doctor: a server clock ten minutes behind is found; a straight proxy passes", async () => {
  await using skewed = await behindProxy({ dateShiftMs: -10 * 60_000 });
  const bad = await doctor(skewed.server, skewed.admin, ["codex"]);
  const clock = stepOf(bad, "general", "clock");
  assert.equal(clock.status, "fail");
  assert.match(clock.why, /behind this machine's/);
  assert.match(clock.fix ?? "", /NTP/);
  await using straight = await behindProxy({});
  const good = await doctor(straight.server, straight.admin, ["codex"]);
  assert.equal(stepOf(good, "general", "clock").status, "pass");
  assert.ok(good.ok, JSON.stringify(good, null, 1));
});

Deno.test("doctor: a proxy that strips Authorization is named at the first tools/list", async () => {
  await using p = await behindProxy({ dropAuthorization: true });
  const report = await doctor(p.server, p.admin, ["codex"]);
  const s = stepOf(report, "codex", "tools-list");
  assert.equal(s.status, "fail");
  assert.match(s.why, /strips it/);
  assert.match(s.fix ?? "", /Forward the Authorization header/);
  // The doctor did send it: the proxy saw the header and dropped it.
  assert.ok(p.proxy.authorizationSeen > 0);
  assert.equal(stepOf(report, "codex", "token").status, "pass");
});

Deno.test("doctor: a proxy that rewrites Host is named at the 401 challenge", async () => {
  await using p = await behindProxy({ host: "backend.internal:8080" });
  const report = await doctor(p.server, p.admin, ["codex"]);
  const s = stepOf(report, "codex", "challenge");
  assert.equal(s.status, "fail");
  assert.match(s.why, /saw Host "backend\.internal"/);
  assert.match(s.why, /rewrites the Host header/);
  assert.match(s.fix ?? "", /proxy_set_header Host/);
});

Deno.test("doctor: --url different from --public-url is the first thing said", async () => {
  await using p = await behindProxy({});
  const report = await doctor(p.server, p.admin, ["codex"], p.server.url);
  const s = stepOf(report, "general", "issuer");
  assert.equal(s.status, "fail");
  assert.match(s.fix ?? "", new RegExp(`--public-url ${p.server.url}`));
});
