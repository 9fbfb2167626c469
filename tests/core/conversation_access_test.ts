import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { createPodFixture, userActor } from "../helpers/conversations.ts";
import { canReadConversation } from "../../src/core/access.ts";
import { findSpaceInWorkspace } from "../../src/core/space_rows.ts";
import type { ApiKeyActor } from "../../src/auth/actor.ts";
import { toWorkspaceRef } from "../../src/core/workspaces.ts";
import {
  appendEvent,
  parseLastEventId,
  pruneExpiredEvents,
  readEventsAfter,
} from "../../src/core/conversation_events.ts";

async function setup() {
  const server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const key: ApiKeyActor = {
    kind: "api_key",
    workspace: toWorkspaceRef(alice.workspace),
    credential: { kind: "api_key", id: "key_test" },
  };
  return { server, alice, bob, key, ws: alice.workspace.id };
}

const base = {
  space: null,
  visibility: "unlisted" as const,
  isParticipant: false,
  createdThroughApiKey: false,
};

Deno.test("[conversation access] a participant reads an unlisted conversation", async () => {
  const { server, alice, ws } = await setup();
  await using _ = server;
  const ok = await canReadConversation(server.deps.db, userActor(alice), {
    ...base,
    workspaceId: ws,
    isParticipant: true,
  });
  assert.equal(ok, true);
});

Deno.test("[conversation access] a non-participant does not read an unlisted conversation", async () => {
  const { server, bob, ws } = await setup();
  await using _ = server;
  assert.equal(
    await canReadConversation(server.deps.db, userActor(bob), { ...base, workspaceId: ws }),
    false,
  );
});

Deno.test("[conversation access] every member reads a workspace-visible conversation", async () => {
  const { server, bob, ws } = await setup();
  await using _ = server;
  const ok = await canReadConversation(server.deps.db, userActor(bob), {
    ...base,
    workspaceId: ws,
    visibility: "workspace",
  });
  assert.equal(ok, true);
});

Deno.test("[conversation access] nobody reads a deleted conversation, not even its participant", async () => {
  const { server, alice, key, ws } = await setup();
  await using _ = server;
  const facts = { ...base, workspaceId: ws, visibility: "deleted" as const, isParticipant: true };
  assert.equal(await canReadConversation(server.deps.db, userActor(alice), facts), false);
  assert.equal(await canReadConversation(server.deps.db, key, facts), false);
});

Deno.test("[conversation access] another workspace's conversation is unreadable", async () => {
  const { server, alice, key, ws } = await setup();
  await using _ = server;
  const facts = {
    ...base,
    workspaceId: ws + 1000,
    visibility: "workspace" as const,
    isParticipant: true,
  };
  assert.equal(await canReadConversation(server.deps.db, userActor(alice), facts), false);
  assert.equal(await canReadConversation(server.deps.db, key, facts), false);
});

Deno.test("[conversation access] an API key reads the conversations API keys created", async () => {
  const { server, key, ws } = await setup();
  await using _ = server;
  const facts = { ...base, workspaceId: ws, createdThroughApiKey: true };
  assert.equal(await canReadConversation(server.deps.db, key, facts), true);
});

Deno.test("[conversation access] an API key never reads a member's private conversation", async () => {
  const { server, key, ws } = await setup();
  await using _ = server;
  assert.equal(await canReadConversation(server.deps.db, key, { ...base, workspaceId: ws }), false);
  const test = { ...base, workspaceId: ws, visibility: "test" as const };
  assert.equal(await canReadConversation(server.deps.db, key, test), false);
});

Deno.test("[conversation access] an API key reads workspace-visible conversations", async () => {
  const { server, key, ws } = await setup();
  await using _ = server;
  const facts = { ...base, workspaceId: ws, visibility: "workspace" as const };
  assert.equal(await canReadConversation(server.deps.db, key, facts), true);
});

Deno.test("[conversation access] a member does not read an API key's unlisted conversation", async () => {
  const { server, alice, ws } = await setup();
  await using _ = server;
  const facts = { ...base, workspaceId: ws, createdThroughApiKey: true };
  assert.equal(await canReadConversation(server.deps.db, userActor(alice), facts), false);
});

Deno.test("[conversation access] a Pod conversation follows the Pod: members yes, others and API keys no", async () => {
  const { server, alice, bob, key, ws } = await setup();
  await using _ = server;
  const podSId = await createPodFixture(server, ws, "Pod", [alice]);
  const space = await findSpaceInWorkspace(server.deps.db, ws, podSId);
  const facts = { ...base, workspaceId: ws, space };
  assert.equal(await canReadConversation(server.deps.db, userActor(alice), facts), true);
  assert.equal(await canReadConversation(server.deps.db, userActor(bob), facts), false);
  assert.equal(
    await canReadConversation(server.deps.db, userActor(bob), { ...facts, isParticipant: true }),
    false,
  );
  assert.equal(await canReadConversation(server.deps.db, key, facts), false);
});

Deno.test("[conversation events core] reads resume strictly after an event id", async () => {
  await using server = await startTestServer();
  const e1 = await appendEvent(server.deps, "conversation:x", { type: "a" });
  const e2 = await appendEvent(server.deps, "conversation:x", { type: "b" });
  await appendEvent(server.deps, "conversation:y", { type: "other" });
  assert.deepEqual(
    (await readEventsAfter(server.deps, "conversation:x", 0, 10)).map((e) => e.data.type),
    [
      "a",
      "b",
    ],
  );
  assert.deepEqual(await readEventsAfter(server.deps, "conversation:x", Number(e1.eventId), 10), [
    e2,
  ]);
  assert.deepEqual(
    await readEventsAfter(server.deps, "conversation:x", Number(e2.eventId), 10),
    [],
  );
});

Deno.test("[conversation events core] pruning removes only events older than 10 minutes", async () => {
  await using server = await startTestServer();
  const old = await appendEvent(server.deps, "message:m", { type: "old" });
  await server.deps.db.run(
    "UPDATE stream_events SET created_at = ? WHERE id = ?",
    Date.now() - 11 * 60 * 1000,
    Number(old.eventId),
  );
  await appendEvent(server.deps, "message:m", { type: "fresh" });
  assert.equal(await pruneExpiredEvents(server.deps), 1);
  assert.deepEqual(
    (await readEventsAfter(server.deps, "message:m", 0, 10)).map((e) => e.data.type),
    [
      "fresh",
    ],
  );
});

Deno.test("[conversation events core] lastEventId must be an event id", () => {
  assert.equal(parseLastEventId(undefined), 0);
  assert.equal(parseLastEventId(""), 0);
  assert.equal(parseLastEventId("42"), 42);
  assert.throws(() => parseLastEventId("1700000000000-0"), /lastEventId/);
  assert.throws(() => parseLastEventId("-1"), /lastEventId/);
});
