/**
 * The agent pages per role: the list each member sees, the create / edit / archive forms only
 * for those the core lets edit (`canEditAgent`), refusals that change nothing, the spaces an
 * agent's search is limited to, and the test chat that opens a test conversation.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { consoleWorld, csrfOf, textOf } from "../helpers/console_world.ts";
import { getAgentConfiguration } from "../../src/core/agents.ts";
import { holdAgentRuns } from "../helpers/conversations.ts";

const form = (csrf: string, over: Record<string, string> = {}) => ({
  csrf,
  name: "researcher",
  description: "Finds things",
  instructions: "Search first.",
  providerId: "openai",
  modelId: "gpt-4o-mini",
  temperature: "0.2",
  maxStepsPerRun: "6",
  scope: "workspace",
  tool_search: "1",
  ...over,
});

Deno.test("[pages] agents: each role sees the agents it may and the forms it may use", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const a = `/w/${w.wId}/agents`;

  const user = await w.bob.browser.get(a);
  assert.equal(user.status, 200);
  const userText = textOf(user.text);
  assert.ok(userText.includes("@helper") && userText.includes("@Dust"));
  assert.ok(!userText.includes("alices-own"), "someone else's private agent is not listed");
  assert.ok(!user.text.includes(`${a}/new`), "no create link for a user");
  assert.equal((await w.bob.browser.get(`${a}/new`)).status, 403);
  const helperForUser = await w.bob.browser.get(`${a}/${w.helperAgent}`);
  assert.equal(helperForUser.status, 200);
  assert.ok(helperForUser.text.includes("Test chat"));
  assert.ok(!helperForUser.text.includes("Save agent") && !helperForUser.text.includes("Archive"));
  assert.equal((await w.bob.browser.get(`${a}/${w.privateAgent}`)).status, 404);

  const builder = await w.bea.browser.get(a);
  assert.ok(builder.text.includes(`${a}/new`));
  assert.equal((await w.bea.browser.get(`${a}/new`)).status, 200);
  const helperForBuilder = await w.bea.browser.get(`${a}/${w.helperAgent}`);
  assert.ok(
    helperForBuilder.text.includes("Save agent") && helperForBuilder.text.includes("Archive"),
  );
  const dust = await w.bea.browser.get(`${a}/dust`);
  assert.equal(dust.status, 200);
  assert.ok(!dust.text.includes("Save agent"), "the built-in agent is nobody's to edit");

  const admin = textOf((await w.alice.browser.get(a)).text);
  assert.ok(admin.includes("alices-own"), "the author sees her private agent");
  assert.ok((await w.alice.browser.get(`${a}/${w.helperAgent}`)).text.includes("Save agent"));

  assert.equal((await w.carol.browser.get(a)).status, 404);
  assert.equal((await w.carol.browser.get(`${a}/${w.helperAgent}`)).status, 404);
});

Deno.test("[pages] agents: a builder creates and edits (model, tools, spaces, scope), a user cannot, the admin archives", async () => {
  await using s = await startTestServer();
  const w = await consoleWorld(s);
  const a = `/w/${w.wId}/agents`;
  const csrfBea = await csrfOf(w.bea, w.wId);

  const created = await w.bea.browser.post(a, form(csrfBea, { [`space_${w.podSpace}`]: "1" }));
  assert.equal(created.status, 303, created.text.slice(0, 300));
  const sId = /\/agents\/([^?]+)\?saved=1$/.exec(created.location!)![1];
  let row = await getAgentConfiguration(s.deps, w.bea.actor, { agentId: sId });
  assert.equal(row.modelId, "gpt-4o-mini");
  assert.equal(row.temperature, 0.2);
  assert.deepEqual(row.tools, ["search"]);
  assert.deepEqual(row.spaceIds, [w.podSpace]);

  // A name taken: refused on the form, values kept.
  const dup = await w.bea.browser.post(a, form(csrfBea, { name: "helper" }));
  assert.equal(dup.status, 400);
  assert.ok(textOf(dup.text).includes('An agent named "helper" already exists.'));
  assert.ok(dup.text.includes("Search first."));

  const edited = await w.bea.browser.post(
    `${a}/${sId}`,
    form(csrfBea, { name: "researcher2", scope: "published", tool_files: "1", modelId: "m-2" }),
  );
  assert.equal(edited.status, 303);
  row = await getAgentConfiguration(s.deps, w.bea.actor, { agentId: sId });
  assert.equal(row.name, "researcher2");
  assert.equal(row.scope, "published");
  assert.equal(row.modelId, "m-2");
  assert.deepEqual(row.tools, ["search", "files"]);
  assert.deepEqual(row.spaceIds, [], "unticked spaces are removed");
  assert.equal(row.version, 1);

  // Bea does not read Secret: she cannot limit an agent to it (the form has no such box, and a
  // forged one is refused).
  const forged = await w.bea.browser.post(
    `${a}/${sId}`,
    form(csrfBea, { name: "researcher2", [`space_${w.secretSpace}`]: "1" }),
  );
  assert.equal(forged.status, 303, "an unknown box is ignored");
  assert.deepEqual(
    (await getAgentConfiguration(s.deps, w.bea.actor, { agentId: sId })).spaceIds,
    [],
  );

  // A user cannot create, edit or archive.
  const csrfBob = await csrfOf(w.bob, w.wId);
  assert.equal((await w.bob.browser.post(a, form(csrfBob, { name: "bobs" }))).status, 403);
  assert.equal(
    (await w.bob.browser.post(`${a}/${sId}`, form(csrfBob, { name: "hijack" }))).status,
    403,
  );
  assert.equal((await w.bob.browser.post(`${a}/${sId}/archive`, { csrf: csrfBob })).status, 403);
  assert.equal(
    (await getAgentConfiguration(s.deps, w.bea.actor, { agentId: sId })).name,
    "researcher2",
  );
  // The builder cannot edit the admin's private agent (it does not exist for her).
  assert.equal(
    (await w.bea.browser.post(`${a}/${w.privateAgent}`, form(csrfBea, { name: "x" }))).status,
    404,
  );

  // The admin archives: the agent leaves the list.
  const csrfAlice = await csrfOf(w.alice, w.wId);
  const archived = await w.alice.browser.post(`${a}/${sId}/archive`, { csrf: csrfAlice });
  assert.equal(archived.status, 303);
  assert.equal(
    (await getAgentConfiguration(s.deps, w.alice.actor, { agentId: sId })).status,
    "archived",
  );
  assert.ok(!textOf((await w.bob.browser.get(a)).text).includes("researcher2"));
});

Deno.test("[pages] agents: the test chat posts to the agent in a test conversation only its author reads", async () => {
  await using s = await startTestServer();
  holdAgentRuns(s);
  const w = await consoleWorld(s);
  const csrf = await csrfOf(w.bob, w.wId);
  const r = await w.bob.browser.post(`/w/${w.wId}/agents/${w.helperAgent}/test`, {
    csrf,
    message: "What can you do?",
  });
  assert.equal(r.status, 303);
  const cId = /\/conversations\/(\w+)$/.exec(r.location!)![1];
  const page = await w.bob.browser.get(r.location!);
  assert.equal(page.status, 200);
  const text = textOf(page.text);
  assert.ok(text.includes("Test of @helper") && text.includes("What can you do?"));
  assert.ok(text.includes("@helper") && text.includes("writing"));
  // Test conversations are listed nowhere and read by their author only.
  assert.ok(!(await w.bob.browser.get(`/w/${w.wId}/conversations`)).text.includes(cId));
  assert.equal((await w.alice.browser.get(`/w/${w.wId}/conversations/${cId}`)).status, 404);
});
