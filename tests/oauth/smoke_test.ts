import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect } from "../helpers/oauth_flow.ts";

Deno.test("[oauth] smoke: DCR + sign-in + consent + token", async () => {
  await using server = await startTestServer();
  const alice = await createPasswordUser(server, { email: "alice@example.com" });
  const r = await connect(server.url, alice);
  assert.ok(r.tokens.access_token);
  assert.ok(r.tokens.refresh_token.startsWith("drt_"));
});
