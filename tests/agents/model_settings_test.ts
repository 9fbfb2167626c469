/**
 * The model configuration: flags/env by default, overridden by an instance admin on
 * `/admin/model` (or `setModelSettings`), the API key never shown back, non-admins refused.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { userActorOf } from "../helpers/actors.ts";
import { BrowserHttp, formValue } from "../helpers/browser_http.ts";
import { setPasswordHash } from "../../src/core/users.ts";
import {
  describeModelSettings,
  getModelSettings,
  setModelSettings,
} from "../../src/core/model_settings.ts";
import { startFakeModel } from "../helpers/fake_model.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { resolveConfig } from "../../src/config.ts";

async function makeInstanceAdmin(
  server: { deps: { db: import("../../src/db/db.ts").Db } },
  userId: number,
) {
  await server.deps.db.run("UPDATE users SET is_instance_admin = 1 WHERE id = ?", userId);
}

Deno.test("[agents] model settings: flags are the default, saved settings override them, clearing restores them", async () => {
  await using server = await startTestServer({
    flags: { "model-base-url": "http://127.0.0.1:1/v1", model: "from-flags" },
  });
  const admin = await createUserWithToken(server, { email: "root@example.com", role: "admin" });
  await makeInstanceAdmin(server, admin.user.id);
  assert.deepEqual(await getModelSettings(server.deps), {
    baseUrl: "http://127.0.0.1:1/v1",
    apiKey: null,
    model: "from-flags",
    source: "config",
  });
  const saved = await setModelSettings(server.deps, await userActorOf(server, admin), {
    baseUrl: "http://127.0.0.1:2/v1/",
    model: "saved-model",
    apiKey: "sk-secret",
  });
  assert.deepEqual(saved, {
    baseUrl: "http://127.0.0.1:2/v1",
    model: "saved-model",
    source: "settings",
    apiKeySet: true,
  });
  assert.equal((await getModelSettings(server.deps)).apiKey, "sk-secret");
  assert.ok(!JSON.stringify(await describeModelSettings(server.deps)).includes("sk-secret"));
  await setModelSettings(server.deps, await userActorOf(server, admin), { baseUrl: "", model: "" });
  assert.equal((await getModelSettings(server.deps)).source, "config");
});

Deno.test("[agents] model settings: only an instance admin may change them; bad values are 400", async () => {
  await using server = await startTestServer();
  const wsAdmin = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  await assert.rejects(
    async () =>
      await setModelSettings(server.deps, await userActorOf(server, wsAdmin), {
        baseUrl: "http://x/v1",
        model: "m",
      }),
    (e: Error & { status?: number }) => e.status === 403,
  );
  await makeInstanceAdmin(server, wsAdmin.user.id);
  const actor = await userActorOf(server, wsAdmin);
  await assert.rejects(
    async () => await setModelSettings(server.deps, actor, { baseUrl: "not a url", model: "m" }),
    /baseUrl/,
  );
  await assert.rejects(
    async () => await setModelSettings(server.deps, actor, { baseUrl: "ftp://x", model: "m" }),
    /baseUrl/,
  );
  await assert.rejects(
    async () => await setModelSettings(server.deps, actor, { baseUrl: "http://x/v1", model: " " }),
    /model/,
  );
  assert.equal((await getModelSettings(server.deps)).source, "none");
});

Deno.test("[agents] the admin page saves the model and agents then answer with it", async () => {
  await using model = await startFakeModel([{ content: "Hello from the saved model." }]);
  await using server = await startTestServer();
  const admin = await createUserWithToken(server, { email: "root@example.com", role: "admin" });
  await setPasswordHash(server.deps.db, admin.user.id, "correct horse battery");
  await makeInstanceAdmin(server, admin.user.id);

  const b = new BrowserHttp(server.url);
  await b.signIn("root@example.com", "correct horse battery");
  const page = await b.get("/admin/model");
  assert.equal(page.status, 200);
  assert.match(page.text, /not configured/);
  const csrf = formValue(page.text, "csrf")!;
  const saved = await b.post("/admin/model", {
    csrf,
    base_url: model.baseUrl,
    model: "page-model",
    api_key: "sk-page-secret",
  });
  assert.equal(saved.status, 200, saved.text);
  assert.match(saved.text, /Saved\./);
  assert.doesNotMatch(saved.text, /sk-page-secret/);
  const noCsrf = await b.post("/admin/model", { base_url: "", model: "" });
  assert.equal(noCsrf.status, 403);
  assert.equal((await getModelSettings(server.deps)).model, "page-model");

  const r = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${admin.workspace.sId}/assistant/conversations`,
    {
      method: "POST",
      body: {
        title: null,
        visibility: "unlisted",
        blocking: true,
        message: {
          content: "hi",
          mentions: [{ configurationId: "dust" }],
          context: { username: "root", timezone: "UTC" },
        },
      },
    },
  );
  assert.equal(r.status, 200);
  const agent = r.body.agentMessages?.[0] ??
    r.body.conversation.content.flat().find((m: { type: string }) => m.type === "agent_message");
  assert.ok(agent);
  assert.equal(model.requests[0].model, "page-model");
});

Deno.test("[agents] the model page refuses a signed-in user who is not an instance admin", async () => {
  await using server = await startTestServer();
  const user = await createUserWithToken(server, { email: "u@example.com", role: "admin" });
  await setPasswordHash(server.deps.db, user.user.id, "correct horse battery");
  const b = new BrowserHttp(server.url);
  await b.signIn("u@example.com", "correct horse battery");
  assert.equal((await b.get("/admin/model")).status, 403);
  const anon = await new BrowserHttp(server.url).get("/admin/model");
  assert.equal(anon.status, 303);
});

Deno.test("[agents] model settings: DUST_MCP_MODEL_* environment variables configure the model; flags win", () => {
  const env = {
    DUST_MCP_MODEL_BASE_URL: "http://127.0.0.1:11434/v1/",
    DUST_MCP_MODEL_API_KEY: "sk-env",
    DUST_MCP_MODEL: "llama3",
  };
  const fromEnv = resolveConfig({}, env);
  assert.equal(fromEnv.modelBaseUrl, "http://127.0.0.1:11434/v1");
  assert.equal(fromEnv.modelApiKey, "sk-env");
  assert.equal(fromEnv.model, "llama3");
  const flagged = resolveConfig(
    { model: "qwen", "model-base-url": "http://127.0.0.1:8000/v1" },
    env,
  );
  assert.equal(flagged.model, "qwen");
  assert.equal(flagged.modelBaseUrl, "http://127.0.0.1:8000/v1");
  assert.equal(flagged.modelApiKey, "sk-env", "an unset flag falls back to its variable");
  assert.throws(
    () => resolveConfig({}, { DUST_MCP_MODEL_BASE_URL: "not a url" }),
    /DUST_MCP_MODEL_BASE_URL: "not a url" is not an absolute URL/,
  );
});
