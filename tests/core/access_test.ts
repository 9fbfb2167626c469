import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { createApiKey, createUserWithToken } from "../helpers/fixtures.ts";
import { authenticateWorkspaceRequest } from "../../src/auth/bearer.ts";
import type { Actor, UserActor } from "../../src/auth/actor.ts";
import {
  canAdministerSpace,
  canReadAuditLog,
  canReadConversation,
  canReadSpace,
  canWriteSpace,
  isNarrowed,
  isOpenToWorkspace,
  POD_NOT_FOUND_MESSAGE,
  reachesOwnConversations,
  readableSpaceIds,
  requireReadablePod,
  requireReadableSpace,
  requireScope,
  requireUser,
  requireWorkspaceRole,
} from "../../src/core/access.ts";
import { createSpace, removeSpaceMember } from "../../src/core/spaces.ts";
import { createGroup, grantGroupToSpace } from "../../src/core/groups.ts";
import {
  findSpaceInWorkspace,
  listWorkspaceSpaces,
  type SpaceRow,
} from "../../src/core/space_rows.ts";
import { AppError } from "../../src/errors.ts";
import { mapSeries } from "../../src/util/async.ts";

async function actorFor(server: TestServer, token: string, wId: string): Promise<Actor> {
  return await authenticateWorkspaceRequest(server.deps, `Bearer ${token}`, wId);
}

/** One workspace with every role, an API key, a stranger, and one space of each shape. */
async function world() {
  const server = await startTestServer();
  const a = await createUserWithToken(server, { email: "admin@example.com", role: "admin" });
  const ws = a.workspace;
  const b = await createUserWithToken(server, {
    email: "builder@example.com",
    role: "builder",
    workspace: ws,
  });
  const u = await createUserWithToken(server, {
    email: "user@example.com",
    role: "user",
    workspace: ws,
  });
  const g = await createUserWithToken(server, {
    email: "grouped@example.com",
    role: "user",
    workspace: ws,
  });
  const s = await createUserWithToken(server, { email: "stranger@example.com", role: "admin" });
  const admin = await actorFor(server, a.token, ws.sId) as UserActor;
  const builder = await actorFor(server, b.token, ws.sId) as UserActor;
  const user = await actorFor(server, u.token, ws.sId) as UserActor;
  const grouped = await actorFor(server, g.token, ws.sId) as UserActor;
  const stranger = await actorFor(server, s.token, s.workspace.sId) as UserActor;
  const key = await actorFor(server, await createApiKey(server, ws), ws.sId);
  const deps = server.deps;
  const mk = async (actor: Actor, input: Parameters<typeof createSpace>[2]) =>
    (await findSpaceInWorkspace(deps.db, ws.id, (await createSpace(deps, actor, input)).sId))!;
  const open = await mk(admin, { kind: "regular", name: "Open", restricted: false });
  const restricted = await mk(admin, {
    kind: "regular",
    name: "Restricted",
    restricted: true,
    memberIds: [b.user.sId],
  });
  const viaGroup = await mk(admin, { kind: "regular", name: "Via group", restricted: true });
  // The creating admin joins restricted spaces; leaving shows admins administer without reading.
  for (const sp of [restricted, viaGroup]) {
    await removeSpaceMember(deps, admin, { spaceId: sp.sId, userId: a.user.sId });
  }
  const group = await createGroup(deps, admin, { name: "Readers", memberIds: [g.user.sId] });
  await grantGroupToSpace(deps, admin, { spaceId: viaGroup.sId, groupId: group.sId });
  const pod = await mk(builder, { kind: "project", name: "Pod", memberIds: [u.user.sId] });
  const openPod = await mk(builder, { kind: "project", name: "Open Pod", restricted: false });
  const byKind = async (k: string) =>
    (await listWorkspaceSpaces(deps.db, ws.id)).find((x) => x.kind === k)!;
  return {
    server,
    ws,
    admin,
    builder,
    user,
    grouped,
    stranger,
    key,
    open,
    restricted,
    viaGroup,
    pod,
    openPod,
    global: await byKind("global"),
    system: await byKind("system"),
    conversations: await byKind("conversations"),
    strangerGlobal: (await listWorkspaceSpaces(deps.db, s.workspace.id)).find((x) =>
      x.kind === "global"
    )!,
  };
}

async function readers(w: Awaited<ReturnType<typeof world>>, space: SpaceRow): Promise<string[]> {
  const all = { admin: w.admin, builder: w.builder, user: w.user, grouped: w.grouped, key: w.key };
  const out: string[] = [];
  for (const [n, a] of Object.entries(all)) {
    if (await canReadSpace(w.server.deps.db, a, space)) out.push(n);
  }
  return out;
}

async function thrown(fn: () => unknown): Promise<AppError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected an AppError");
}

Deno.test("[access] workspace isolation: another workspace's space answers exactly like a missing id", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  assert.equal(await canReadSpace(db, w.stranger, w.global), false);
  assert.equal(await canAdministerSpace(db, w.stranger, w.global), false);
  const foreign = await thrown(async () =>
    await requireReadableSpace(db, w.admin, w.strangerGlobal.sId)
  );
  const missing = await thrown(async () =>
    await requireReadableSpace(db, w.admin, "vlt_doesnotexist")
  );
  assert.equal(foreign.status, 404);
  assert.deepEqual(foreign.toJSON(), missing.toJSON());
  assert.equal((await readableSpaceIds(db, w.admin)).has(w.strangerGlobal.id), false);
});

Deno.test("[access] global space: every member and every API key read it", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.global), ["admin", "builder", "user", "grouped", "key"]);
});

Deno.test("[access] open regular space: every member and every API key read it", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.open), ["admin", "builder", "user", "grouped", "key"]);
});

Deno.test("[access] restricted regular space: only its members read it (not admins, not keys)", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.restricted), ["builder"]);
});

Deno.test("[access] restricted regular space: members of a granted group read it", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.viaGroup), ["grouped"]);
});

Deno.test("[access] restricted space granted to the workspace group: every member and API keys read it", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  const everyone = await db.get(
    "SELECT id FROM groups WHERE workspace_id = ? AND kind = 'global'",
    w.ws.id,
  ) as { id: number };
  await db.run(
    "INSERT INTO space_groups (space_id, group_id) VALUES (?, ?)",
    w.restricted.id,
    everyone.id,
  );
  assert.deepEqual(await readers(w, w.restricted), ["admin", "builder", "user", "grouped", "key"]);
});

Deno.test("[access] admins administer restricted regular spaces without reading them", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  assert.equal(await canAdministerSpace(db, w.admin, w.restricted), true);
  assert.equal(await canReadSpace(db, w.admin, w.restricted), false);
  assert.equal(await canAdministerSpace(db, w.builder, w.restricted), false);
  assert.equal(await canAdministerSpace(db, w.key, w.open), false, "API keys administer nothing");
});

Deno.test("[access] Pods are member-only: admins and API keys do not read them", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.pod), ["builder", "user"]);
});

Deno.test("[access] an open Pod is still read by its members only (others may join)", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.openPod), ["builder"]);
});

Deno.test("[access] system space: workspace admins only", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.system), ["admin"]);
});

Deno.test("[access] conversations space: every member and API key", async () => {
  const w = await world();
  await using _ = w.server;
  assert.deepEqual(await readers(w, w.conversations), [
    "admin",
    "builder",
    "user",
    "grouped",
    "key",
  ]);
});

Deno.test("[access] writing into global and open spaces needs a builder, an admin or an API key", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  for (const space of [w.global, w.open]) {
    assert.equal(await canWriteSpace(db, w.admin, space), true);
    assert.equal(await canWriteSpace(db, w.builder, space), true);
    assert.equal(await canWriteSpace(db, w.key, space), true);
    assert.equal(await canWriteSpace(db, w.user, space), false);
  }
});

Deno.test("[access] writing into a restricted space or a Pod: its readers", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  assert.equal(await canWriteSpace(db, w.builder, w.restricted), true);
  assert.equal(await canWriteSpace(db, w.grouped, w.viaGroup), true);
  assert.equal(await canWriteSpace(db, w.admin, w.restricted), false);
  assert.equal(await canWriteSpace(db, w.user, w.pod), true, "Pod members write");
  assert.equal(await canWriteSpace(db, w.admin, w.pod), false);
});

Deno.test("[access] administering a Pod: its editors only (not members, not admins)", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  assert.equal(await canAdministerSpace(db, w.builder, w.pod), true);
  assert.equal(await canAdministerSpace(db, w.user, w.pod), false);
  assert.equal(await canAdministerSpace(db, w.admin, w.pod), false);
});

Deno.test("[access] requireReadablePod: non-Pods, unreadable and archived Pods answer Dust's message", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  assert.equal((await requireReadablePod(db, w.user, w.pod.sId)).id, w.pod.id);
  for (
    const [actor, id] of [[w.user, w.global.sId], [w.admin, w.pod.sId], [w.key, w.pod.sId]] as const
  ) {
    const e = await thrown(async () => await requireReadablePod(db, actor, id));
    assert.equal(e.status, 404);
    assert.equal(e.message, POD_NOT_FOUND_MESSAGE);
  }
  await db.run("UPDATE spaces SET archived_at = 1 WHERE id = ?", w.pod.id);
  assert.equal((await requireReadablePod(db, w.user, w.pod.sId)).id, w.pod.id);
  assert.equal(
    (await thrown(async () =>
      await requireReadablePod(db, w.user, w.pod.sId, { activeOnly: true })
    )).status,
    404,
  );
});

Deno.test("[access] user-only operations refuse API keys with 401 user_not_found", async () => {
  const w = await world();
  await using _ = w.server;
  const e = await thrown(() => requireUser(w.key));
  assert.equal(e.status, 401);
  assert.equal(e.type, "user_not_found");
  assert.equal(requireUser(w.user), w.user);
});

Deno.test("[access] role checks refuse lower roles and API keys with 403", async () => {
  const w = await world();
  await using _ = w.server;
  assert.equal(requireWorkspaceRole(w.admin, ["admin"]), w.admin);
  for (const a of [w.builder, w.user, w.key]) {
    const e = await thrown(() => requireWorkspaceRole(a, ["admin"]));
    assert.equal(e.status, 403);
    assert.equal(e.type, "workspace_auth_error");
  }
});

Deno.test("[access] a read-only token is refused writes", async () => {
  const w = await world();
  await using _ = w.server;
  const readOnly: UserActor = { ...w.user, scopes: new Set(["read"]) };
  assert.equal((await thrown(() => requireScope(readOnly, "write"))).status, 403);
  requireScope(readOnly, "read");
  requireScope(w.key, "write");
});

Deno.test("[access] readableSpaceIds agrees with canReadSpace for every actor and space", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  const spaces = await listWorkspaceSpaces(db, w.ws.id);
  for (const a of [w.admin, w.builder, w.user, w.grouped, w.key]) {
    const ids = await readableSpaceIds(db, a);
    for (const s of spaces) assert.equal(ids.has(s.id), await canReadSpace(db, a, s), `${s.name}`);
  }
});

Deno.test("[access] open to the workspace: global, conversations and open regular spaces only — every actor reads them", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  const open = [w.global, w.conversations, w.open];
  for (const s of await listWorkspaceSpaces(db, w.ws.id)) {
    const expected = open.some((o) => o.id === s.id);
    assert.equal(isOpenToWorkspace(s), expected, s.name);
    const reads = await mapSeries(
      [w.admin, w.builder, w.user, w.grouped, w.key],
      async (a) => await canReadSpace(db, a, s),
    );
    const everyone = reads.every(Boolean);
    // Open implies read by all; the converse may hold through grants, which the rule ignores.
    if (expected) assert.ok(everyone, s.name);
  }
  // A Pod everyone happens to be in is still not open: membership can change.
  assert.equal(isOpenToWorkspace(w.openPod), false);
});

/** An actor narrowed on consent to `spaces` (and conversations when asked). */
function narrowed(a: UserActor, spaces: SpaceRow[], conversations = false): UserActor {
  return {
    ...a,
    narrowing: {
      spaceIds: new Set(spaces.map((s) => s.id)),
      spaceSIds: new Set(spaces.map((s) => s.sId)),
      conversations,
    },
  };
}

Deno.test("[access] a narrowed token reads, writes and administers only its chosen spaces", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  // The builder reads the global, open and restricted spaces; narrowed to the open one only.
  const b = narrowed(w.builder, [w.open]);
  for (const s of [w.global, w.restricted, w.conversations]) {
    assert.equal(await canReadSpace(db, w.builder, s), true, `control: ${s.name}`);
    assert.equal(await canReadSpace(db, b, s), false, s.name);
    assert.equal(await canWriteSpace(db, b, s), false, s.name);
  }
  assert.equal(await canReadSpace(db, b, w.open), true);
  assert.equal(await canWriteSpace(db, b, w.open), true);
  assert.deepEqual([...await readableSpaceIds(db, b)], [w.open.id]);
  // Choosing a space the user does not read gives nothing: the choice only narrows.
  assert.equal(await canReadSpace(db, narrowed(w.user, [w.restricted]), w.restricted), false);
  // The Pod's editor administers it only when it is chosen.
  assert.equal(await canAdministerSpace(db, w.builder, w.pod), true, "control");
  assert.equal(await canAdministerSpace(db, narrowed(w.builder, [w.open]), w.pod), false);
  assert.equal(await canAdministerSpace(db, narrowed(w.builder, [w.pod]), w.pod), true);
});

Deno.test("[access] a narrowed token reaches the conversations space and conversations in no space only with conversations", async () => {
  const w = await world();
  await using _ = w.server;
  const db = w.server.deps.db;
  const facts = {
    workspaceId: w.ws.id,
    space: null,
    visibility: "workspace" as const,
    isParticipant: true,
    createdThroughApiKey: false,
  };
  assert.equal(await canReadConversation(db, narrowed(w.user, [w.global]), facts), false);
  assert.equal(await canReadConversation(db, narrowed(w.user, [w.global], true), facts), true);
  assert.equal(await canReadSpace(db, narrowed(w.user, [], false), w.conversations), false);
  assert.equal(await canReadSpace(db, narrowed(w.user, [], true), w.conversations), true);
  assert.equal(reachesOwnConversations(narrowed(w.user, [w.global])), false);
  assert.equal(reachesOwnConversations(w.user), true);
});

Deno.test("[access] a narrowed token does no builder or admin action and reads no audit log", async () => {
  const w = await world();
  await using _ = w.server;
  const admin = narrowed(w.admin, [w.global], true);
  for (const roles of [["admin"], ["admin", "builder"]] as const) {
    const e = await thrown(() => requireWorkspaceRole(admin, roles));
    assert.equal(e.status, 403);
    assert.equal(e.type, "workspace_auth_error");
  }
  assert.equal(requireWorkspaceRole(admin, ["admin", "builder", "user"]), admin);
  assert.equal(canReadAuditLog(w.admin), true, "control");
  assert.equal(canReadAuditLog(admin), false);
  assert.equal(isNarrowed(admin), true);
  assert.equal(isNarrowed(w.admin), false);
});
