/**
 * Dust's own SDK (`@dust-tt/client` 1.2.8) against the workspace-content foundation routes:
 * `me`, `getAgentConfigurations`, `getSpaces`, `getSpaceMetadata`. The SDK validates every
 * response with its zod schemas, so `isOk()` proves the shapes; values are checked too.
 */
import assert from "node:assert/strict";
import { DustAPI } from "@dust-tt/client";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

const quiet = { error() {}, info() {}, trace() {}, warn() {} };

async function setup() {
  const server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const sdk = (token: string) =>
    new DustAPI({ url: server.url }, { apiKey: token, workspaceId: alice.workspace.sId }, quiet);
  return { server, alice, sdk };
}

Deno.test("[sdk] me() parses and names the user and their workspace", async () => {
  const { server, alice, sdk } = await setup();
  await using _ = server;
  const r = await sdk(alice.token).me();
  assert.ok(r.isOk(), r.isErr() ? JSON.stringify(r.error) : "");
  assert.equal(r.value.sId, alice.user.sId);
  assert.equal(r.value.email, "alice@example.com");
  assert.deepEqual(r.value.workspaces.map((w) => [w.sId, w.role]), [[
    alice.workspace.sId,
    "admin",
  ]]);
});

Deno.test("[sdk] me() with an API key is an Err of type user_not_found", async () => {
  const { server, alice, sdk } = await setup();
  await using _ = server;
  const r = await sdk(await createApiKey(server, alice.workspace)).me();
  assert.ok(r.isErr());
  assert.equal(r.error.type, "user_not_found");
});

Deno.test("[sdk] getAgentConfigurations() parses for users (list) and API keys (all)", async () => {
  const { server, alice, sdk } = await setup();
  await using _ = server;
  const created = await apiJson(
    server,
    alice.token,
    `/api/v1/w/${alice.workspace.sId}/assistant/agent_configurations`,
    {
      method: "POST",
      body: {
        name: "Helper",
        description: "Helps",
        instructions: "Help.",
        model: { providerId: "anthropic", modelId: "claude-sonnet-4-5-20250929", temperature: 0.2 },
      },
    },
  );
  assert.equal(created.status, 200);
  const asUser = await sdk(alice.token).getAgentConfigurations({});
  assert.ok(asUser.isOk(), asUser.isErr() ? JSON.stringify(asUser.error) : "");
  assert.deepEqual(
    asUser.value.map((a) => a.sId).sort(),
    ["dust", created.body.agentConfiguration.sId].sort(),
  );
  const helper = asUser.value.find((a) => a.name === "Helper")!;
  assert.deepEqual(helper.model, {
    providerId: "anthropic",
    modelId: "claude-sonnet-4-5-20250929",
    temperature: 0.2,
  });
  const withAuthors = await sdk(alice.token).getAgentConfigurations({
    view: "all",
    includes: ["authors"],
  });
  assert.ok(withAuthors.isOk());
  const asKey = await sdk(await createApiKey(server, alice.workspace)).getAgentConfigurations({});
  assert.ok(asKey.isOk(), asKey.isErr() ? JSON.stringify(asKey.error) : "");
  assert.equal(asKey.value.length, 2);
  const listAsKey = await sdk(await createApiKey(server, alice.workspace)).getAgentConfigurations({
    view: "list",
  });
  assert.ok(listAsKey.isErr(), "the list view needs a user");
});

Deno.test("[sdk] getSpaces() parses, with and without kinds", async () => {
  const { server, alice, sdk } = await setup();
  await using _ = server;
  const pod = await apiJson(server, alice.token, `/api/v1/w/${alice.workspace.sId}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Launch" },
  });
  assert.equal(pod.status, 200);
  const all = await sdk(alice.token).getSpaces();
  assert.ok(all.isOk(), all.isErr() ? JSON.stringify(all.error) : "");
  assert.deepEqual(all.value.map((s) => s.kind).sort(), ["global", "system"]);
  const pods = await sdk(alice.token).getSpaces({ kinds: ["project"] });
  assert.ok(pods.isOk());
  assert.deepEqual(pods.value.map((s) => s.sId), [pod.body.space.sId]);
  const bad = await sdk(alice.token).getSpaces({ kinds: ["nonsense" as "project"] });
  assert.ok(bad.isErr());
  assert.equal(bad.error.type, "invalid_request_error");
});

Deno.test("[sdk] getSpaceMetadata() parses a Pod's metadata and null for other spaces", async () => {
  const { server, alice, sdk } = await setup();
  await using _ = server;
  const base = `/api/v1/w/${alice.workspace.sId}`;
  const pod = await apiJson(server, alice.token, `${base}/spaces`, {
    method: "POST",
    body: { kind: "project", name: "Launch" },
  });
  const podId = pod.body.space.sId;
  await apiJson(server, alice.token, `${base}/spaces/${podId}/project_metadata`, {
    method: "PATCH",
    body: { description: "Ship it" },
  });
  const r = await sdk(alice.token).getSpaceMetadata({ spaceId: podId });
  assert.ok(r.isOk(), r.isErr() ? JSON.stringify(r.error) : "");
  assert.equal(r.value.metadata?.description, "Ship it");
  assert.equal(r.value.metadata?.spaceId, podId);
  assert.deepEqual(r.value.metadata?.members, [alice.user.sId]);
  const spaces = await sdk(alice.token).getSpaces();
  const global = spaces.isOk() ? spaces.value.find((s) => s.kind === "global")! : null;
  const none = await sdk(alice.token).getSpaceMetadata({ spaceId: global!.sId });
  assert.ok(none.isOk());
  assert.equal(none.value.metadata, null);
  const missing = await sdk(alice.token).getSpaceMetadata({ spaceId: "vlt_nope" });
  assert.ok(missing.isErr());
  assert.equal(missing.error.type, "space_not_found");
});

Deno.test("[sdk] exists() is Ok(true) for a member and an API key; Dust's errors otherwise", async () => {
  const { server, alice, sdk } = await setup();
  await using _ = server;
  for (const token of [alice.token, await createApiKey(server, alice.workspace)]) {
    const r = await sdk(token).exists();
    assert.ok(r.isOk(), r.isErr() ? JSON.stringify(r.error) : "");
    assert.equal(r.value, true);
  }
  const nowhere = new DustAPI(
    { url: server.url },
    { apiKey: alice.token, workspaceId: "nosuchwork" },
    quiet,
  );
  const missing = await nowhere.exists();
  assert.ok(missing.isErr());
  assert.equal(missing.error.type, "workspace_not_found");
  const bad = await sdk("sk-not-a-key").exists();
  assert.ok(bad.isErr());
  assert.equal(bad.error.type, "invalid_api_key_error");
});
