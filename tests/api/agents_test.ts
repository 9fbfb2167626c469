import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson, createApiKey, createUserWithToken } from "../helpers/fixtures.ts";

async function setup() {
  const server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const builder = await createUserWithToken(server, {
    email: "builder@example.com",
    role: "builder",
    workspace: admin.workspace,
  });
  const user = await createUserWithToken(server, {
    email: "user@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const base = `/api/v1/w/${admin.workspace.sId}/assistant/agent_configurations`;
  return { server, admin, builder, user, base };
}

const names = (body: { agentConfigurations: { name: string }[] }) =>
  body.agentConfigurations.map((a) => a.name);

Deno.test("[api/agents] every workspace has the global dust agent in Dust's light shape", async () => {
  const { server, user, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, user.token, base);
  assert.equal(r.status, 200);
  const dust = r.body.agentConfigurations.find((a: { sId: string }) => a.sId === "dust");
  assert.ok(dust);
  assert.equal(dust.scope, "global");
  assert.equal(dust.status, "active");
  assert.equal(typeof dust.id, "number");
  assert.equal(typeof dust.model.providerId, "string");
  assert.equal(typeof dust.model.temperature, "number");
  assert.equal(typeof dust.versionCreatedAt, "string");
  assert.equal(dust.userFavorite, false);
});

Deno.test("[api/agents] builders create agents; views filter them by scope", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  for (
    const [name, scope] of [["Helper", "workspace"], ["Pub", "published"], ["Mine", "private"]]
  ) {
    const r = await apiJson(server, builder.token, base, {
      method: "POST",
      body: { name, description: `${name} agent`, instructions: "Be brief.", scope },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.agentConfiguration.scope, scope);
  }
  const forBuilder = await apiJson(server, builder.token, `${base}?view=list`);
  assert.deepEqual(names(forBuilder.body), ["Dust", "Helper", "Mine", "Pub"]);
  const forUser = await apiJson(server, user.token, base);
  assert.deepEqual(names(forUser.body), ["Dust", "Helper", "Pub"], "private agents: author only");
  assert.deepEqual(names((await apiJson(server, user.token, `${base}?view=workspace`)).body), [
    "Helper",
  ]);
  assert.deepEqual(names((await apiJson(server, user.token, `${base}?view=published`)).body), [
    "Pub",
  ]);
  assert.deepEqual(names((await apiJson(server, user.token, `${base}?view=global`)).body), [
    "Dust",
  ]);
});

Deno.test("[api/agents] a plain user cannot create an agent (403)", async () => {
  const { server, user, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, user.token, base, {
    method: "POST",
    body: { name: "Nope", description: "", instructions: "x" },
  });
  assert.equal(r.status, 403);
  assert.equal(r.body.error.type, "workspace_auth_error");
});

Deno.test("[api/agents] bad create bodies answer 400 naming the field", async () => {
  const { server, builder, base } = await setup();
  await using _ = server;
  const spaces = await apiJson(server, builder.token, base, {
    method: "POST",
    body: { name: "has spaces", description: "", instructions: "x" },
  });
  assert.equal(spaces.status, 400);
  assert.match(spaces.body.error.message, /^name:/);
  const temp = await apiJson(server, builder.token, base, {
    method: "POST",
    body: {
      name: "Hot",
      description: "",
      instructions: "x",
      model: { providerId: "openai", modelId: "gpt-4o", temperature: 9 },
    },
  });
  assert.equal(temp.status, 400);
  assert.match(temp.body.error.message, /^model\.temperature:/);
  const missing = await apiJson(server, builder.token, base, { method: "POST", body: {} });
  assert.equal(missing.status, 400);
  assert.match(missing.body.error.message, /name/);
});

Deno.test("[api/agents] a taken agent name answers 400 assistant_saving_error", async () => {
  const { server, builder, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, builder.token, base, {
    method: "POST",
    body: { name: "dust", description: "", instructions: "x" },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.type, "assistant_saving_error");
});

Deno.test("[api/agents] API keys get view=all by default and 401 for list", async () => {
  const { server, admin, builder, base } = await setup();
  await using _ = server;
  await apiJson(server, builder.token, base, {
    method: "POST",
    body: { name: "Secret", description: "", instructions: "x", scope: "private" },
  });
  const key = await createApiKey(server, admin.workspace);
  const all = await apiJson(server, key, base);
  assert.equal(all.status, 200);
  assert.deepEqual(names(all.body), ["Dust"]);
  const list = await apiJson(server, key, `${base}?view=list`);
  assert.equal(list.status, 401);
  const fav = await apiJson(server, key, `${base}?view=favorites`);
  assert.equal(fav.status, 401);
});

Deno.test("[api/agents] all_unrestricted is for admins (403 app_auth_error otherwise)", async () => {
  const { server, admin, builder, base } = await setup();
  await using _ = server;
  await apiJson(server, builder.token, base, {
    method: "POST",
    body: { name: "Secret", description: "", instructions: "x", scope: "private" },
  });
  const asAdmin = await apiJson(server, admin.token, `${base}?view=all_unrestricted`);
  assert.equal(asAdmin.status, 200);
  assert.deepEqual(names(asAdmin.body), ["Dust", "Secret"]);
  const asBuilder = await apiJson(server, builder.token, `${base}?view=all_unrestricted`);
  assert.equal(asBuilder.status, 403);
  assert.equal(asBuilder.body.error.type, "app_auth_error");
  const key = await createApiKey(server, admin.workspace);
  assert.equal((await apiJson(server, key, `${base}?view=all_unrestricted`)).status, 403);
});

Deno.test("[api/agents] an unknown view answers 400 naming view", async () => {
  const { server, user, base } = await setup();
  await using _ = server;
  const r = await apiJson(server, user.token, `${base}?view=everything`);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /^view:/);
});

Deno.test("[api/agents] get one by sId; private agents and other workspaces answer 404", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  const created = await apiJson(server, builder.token, base, {
    method: "POST",
    body: { name: "Private", description: "", instructions: "x", scope: "private" },
  });
  const sId = created.body.agentConfiguration.sId;
  const own = await apiJson(server, builder.token, `${base}/${sId}`);
  assert.equal(own.status, 200);
  assert.equal(own.body.agentConfiguration.sId, sId);
  const other = await apiJson(server, user.token, `${base}/${sId}`);
  assert.equal(other.status, 404);
  assert.equal(other.body.error.type, "agent_configuration_not_found");
  const stranger = await createUserWithToken(server, { email: "s@example.com", role: "admin" });
  const foreign = await apiJson(
    server,
    stranger.token,
    `/api/v1/w/${stranger.workspace.sId}/assistant/agent_configurations/${sId}`,
  );
  assert.equal(foreign.status, 404);
  assert.deepEqual(foreign.body, other.body);
});

Deno.test("[api/agents] withAuthors=true adds lastAuthors", async () => {
  const { server, builder, base } = await setup();
  await using _ = server;
  await apiJson(server, builder.token, base, {
    method: "POST",
    body: { name: "Authored", description: "", instructions: "x" },
  });
  const r = await apiJson(server, builder.token, `${base}?withAuthors=true`);
  const authored = r.body.agentConfigurations.find((a: { name: string }) => a.name === "Authored");
  assert.deepEqual(authored.lastAuthors, ["builder"]);
  const dust = r.body.agentConfigurations.find((a: { sId: string }) => a.sId === "dust");
  assert.deepEqual(dust.lastAuthors, []);
});

Deno.test("[api/agents] PATCH userFavorite marks a favourite for the caller only; view=favorites lists them", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  const fav = await apiJson(server, user.token, `${base}/dust`, {
    method: "PATCH",
    body: { userFavorite: true },
  });
  assert.equal(fav.status, 200);
  assert.equal(fav.body.agentConfiguration.userFavorite, true);
  const mine = await apiJson(server, user.token, `${base}?view=favorites`);
  assert.deepEqual(names(mine.body), ["Dust"]);
  assert.equal(mine.body.agentConfigurations[0].userFavorite, true);
  const theirs = await apiJson(server, builder.token, `${base}?view=favorites`);
  assert.deepEqual(theirs.body.agentConfigurations, []);
  const list = await apiJson(server, builder.token, base);
  assert.equal(list.body.agentConfigurations[0].userFavorite, false);
  await apiJson(server, user.token, `${base}/dust`, {
    method: "PATCH",
    body: { userFavorite: false },
  });
  assert.deepEqual(
    (await apiJson(server, user.token, `${base}?view=favorites`)).body.agentConfigurations,
    [],
  );
});

Deno.test("[api/agents] PATCH with a bad body or an API key is refused", async () => {
  const { server, admin, user, base } = await setup();
  await using _ = server;
  const bad = await apiJson(server, user.token, `${base}/dust`, {
    method: "PATCH",
    body: { userFavorite: "yes" },
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /^userFavorite:/);
  const key = await createApiKey(server, admin.workspace);
  const byKey = await apiJson(server, key, `${base}/dust`, {
    method: "PATCH",
    body: { userFavorite: true },
  });
  assert.equal(byKey.status, 401);
  assert.equal(byKey.body.error.type, "user_not_found");
  const missing = await apiJson(server, user.token, `${base}/nope`, {
    method: "PATCH",
    body: { userFavorite: true },
  });
  assert.equal(missing.status, 404);
});

Deno.test("[api/agents] search?q= ranks the caller's agents by name; q is required", async () => {
  const { server, builder, user, base } = await setup();
  await using _ = server;
  for (
    const [name, scope] of [["writer", "workspace"], ["ghostwriter", "workspace"], [
      "writer-private",
      "private",
    ]]
  ) {
    await apiJson(server, builder.token, base, {
      method: "POST",
      body: { name, description: "", instructions: "x", scope },
    });
  }
  const r = await apiJson(server, user.token, `${base}/search?q=writer`);
  assert.equal(r.status, 200);
  assert.deepEqual(names(r.body), ["writer", "ghostwriter"]);
  const own = await apiJson(server, builder.token, `${base}/search?q=writer`);
  assert.deepEqual(names(own.body), ["writer", "writer-private", "ghostwriter"]);
  const none = await apiJson(server, user.token, `${base}/search`);
  assert.equal(none.status, 400);
  assert.match(none.body.error.message, /^q:/);
});
