/**
 * `@dust-tt/client` 1.2.8 against the workspace facts Dust keeps for its system key
 * (`getActiveMemberEmailsInWorkspace`, `getWorkspaceVerifiedDomains`,
 * `getWorkspaceFeatureFlags`), the data source tokenizer (`tokenize`) and Dust Apps
 * (`exportApps`, `checkApps`, `runApp`, `runAppStreamed`), which this server does not have.
 * The SDK validates each answer with its own zod schemas: `isOk()` proves the shape.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor } from "../helpers/local_mcp.ts";
import {
  actorOf,
  createFolder,
  createRestrictedSpace,
  globalSpaceSId,
} from "../helpers/knowledge.ts";

async function setup() {
  const server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const member = await createUserWithToken(server, {
    email: "Member@Example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const other = await createUserWithToken(server, { email: "other@example.com", role: "admin" });
  const key = await createApiKey(server, admin.workspace);
  const sdk = (token: string) => dustApiFor(server, token, admin.workspace.sId);
  return { server, admin, member, other, key, sdk };
}

Deno.test("[sdk] getActiveMemberEmailsInWorkspace, getWorkspaceVerifiedDomains, getWorkspaceFeatureFlags: admins and API keys, in Dust's shapes", async () => {
  const { server, admin, member, key, sdk } = await setup();
  await using _ = server;
  for (const token of [admin.token, key]) {
    const emails = await sdk(token).getActiveMemberEmailsInWorkspace();
    assert.ok(emails.isOk(), JSON.stringify(emails.isErr() && emails.error));
    assert.deepEqual(emails.value, ["admin@example.com", "member@example.com"]);
    const domains = await sdk(token).getWorkspaceVerifiedDomains();
    assert.ok(domains.isOk(), JSON.stringify(domains.isErr() && domains.error));
    assert.deepEqual(domains.value, []);
    const flags = await sdk(token).getWorkspaceFeatureFlags();
    assert.ok(flags.isOk(), JSON.stringify(flags.isErr() && flags.error));
    assert.deepEqual(flags.value, []);
  }
  // Dust answers a caller other than its system key as if the workspace did not exist.
  const api = sdk(member.token);
  for (
    const r of [
      await api.getActiveMemberEmailsInWorkspace(),
      await api.getWorkspaceVerifiedDomains(),
      await api.getWorkspaceFeatureFlags(),
    ]
  ) {
    assert.ok(r.isErr());
    assert.equal(r.error.type, "workspace_not_found");
  }
});

Deno.test("[sdk] tokenize cuts text with cl100k_base for a readable data source; others are data_source_not_found", async () => {
  const { server, admin, member, other, key, sdk } = await setup();
  await using _ = server;
  const gs = await globalSpaceSId(server, admin.workspace);
  const ds = await createFolder(server, actorOf(admin), gs, "handbook");
  const secret = await createRestrictedSpace(server, actorOf(admin), "Secret", [admin.user.sId]);
  const hidden = await createFolder(server, actorOf(admin), secret, "vault");
  for (const token of [member.token, key]) {
    const r = await sdk(token).tokenize("Hello world", ds);
    assert.ok(r.isOk(), JSON.stringify(r.isErr() && r.error));
    // cl100k_base: "Hello" is 9906 and " world" is 1917 (OpenAI's published encoding).
    assert.deepEqual(r.value, [[9906, "Hello"], [1917, " world"]]);
  }
  const raw = await fetch(
    `${server.url}/api/v1/w/${admin.workspace.sId}/data_sources/${ds}/tokenize`,
    {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ text: "" }),
    },
  );
  assert.deepEqual(await raw.json(), { tokens: [], tokenizer: "cl100k_base" });
  const refused = await sdk(member.token).tokenize("Hello", hidden);
  assert.ok(refused.isErr());
  assert.equal(refused.error.type, "data_source_not_found");
  const foreign = await dustApiFor(server, other.token, other.workspace.sId).tokenize("x", ds);
  assert.ok(foreign.isErr());
  assert.equal(foreign.error.type, "data_source_not_found");
  const tooLong = await sdk(key).tokenize("a".repeat(65_537), ds);
  assert.ok(tooLong.isErr());
  assert.equal(tooLong.error.type, "invalid_request_error");
});

Deno.test("[sdk] exportApps, checkApps, runApp and runAppStreamed say this server has no Dust Apps", async () => {
  const { server, admin, key, sdk } = await setup();
  await using _ = server;
  const gs = await globalSpaceSId(server, admin.workspace);
  const app = { workspaceId: admin.workspace.sId, appId: "app1", appHash: "h", appSpaceId: gs };
  const config = { model: { provider_id: "openai", model_id: "gpt-4o" } };
  for (const token of [admin.token, key]) {
    const api = sdk(token);
    for (
      const r of [
        await api.exportApps({ appSpaceId: gs }),
        await api.checkApps({ apps: [{ appId: "app1", appHash: "h" }] }, gs),
        await api.runApp(app, config, [{}]),
      ]
    ) {
      assert.ok(r.isErr());
      assert.equal(r.error.type, "app_not_found");
      assert.match(r.error.message, /has no Dust Apps/);
    }
    const streamed = await api.runAppStreamed(app, config, [{}]);
    assert.ok(streamed.isErr());
    assert.match(streamed.error.message, /status_code=404 .*app_not_found.*has no Dust Apps/);
  }
  const unknown = await sdk(key).exportApps({ appSpaceId: "vlt_nope" });
  assert.ok(unknown.isErr());
  assert.equal(unknown.error.type, "space_not_found");
});
