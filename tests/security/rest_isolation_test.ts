/**
 * Cross-workspace and cross-user isolation through every REST route of the OpenAPI document
 * (relay, files, search and event streams included). Each request carries another tenant's
 * real ids in its path, query and body, and is compared with its twin carrying fabricated ids
 * of the same shape: the answers must be identical (same status, same error type), so a
 * response never tells whether a foreign id exists. No answer may contain the foreign
 * tenant's content or ids, and the foreign workspace's rows must be unchanged afterwards.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson } from "../helpers/fixtures.ts";
import {
  B_WORDS,
  buildSecurityWorld,
  buildTenant,
  digestWorkspace,
  MEMBER_MARKERS,
  PRIVATE_MARKERS,
  type SecurityWorld,
} from "../helpers/security_world.ts";
import {
  listOperations,
  type Operation,
  type Probe,
  type ProbeResult,
  probesOf,
  sendProbe,
  twinOf,
  withoutEchoes,
} from "../helpers/security_probe.ts";

/** Variants of a probe: files are also read inline and as a download, and made for a Pod. */
function variants(p: Probe): Probe[] {
  if (p.method === "GET" && p.template.endsWith("/files/{fileId}")) {
    const view = { ...p, path: `${p.path}?action=view` };
    return [p, view, { ...p, path: `${p.path}?action=download` }];
  }
  if (p.method === "POST" && p.template.endsWith("/files")) {
    return [p, { ...p, body: { ...(p.body as object), useCase: "project_context" } }];
  }
  return [p];
}

/** Search-like probes are repeated with each marker word as the query text (query or body). */
function withQueries(p: Probe, words: readonly string[]): Probe[] {
  if (p.method === "POST" && p.template.endsWith("/search")) {
    return [p, ...words.map((query) => ({ ...p, body: { query }, ids: [] }))];
  }
  const text = /=zebrasecret(&|$)/;
  if (!text.test(p.path)) return [p];
  return words.map((w) => ({ ...p, path: p.path.replace(text, `=${w}$1`) }));
}

/** A GET whose path names a resource (a foreign one must be "not found"). */
function readsById(p: Probe): boolean {
  return p.method === "GET" && /\{(?!wId\})/.test(p.template);
}

function allIds(world: SecurityWorld): string[] {
  return Object.values(world.ids).flat().filter((id) => id.length >= 8);
}

/** The ids the caller sent (echoing them back reveals nothing; query words are not stripped). */
function sentStrings(p: Probe): string[] {
  return [...p.ids];
}

function assertNoLeak(
  label: string,
  text: string,
  p: Probe,
  markers: readonly string[],
  ids: string[],
) {
  const clean = withoutEchoes(text, sentStrings(p)).toLowerCase();
  for (const m of markers) assert.ok(!clean.includes(m), `${label} leaks "${m}": ${clean}`);
  for (const id of ids) {
    assert.ok(!clean.includes(id.toLowerCase()), `${label} leaks id ${id}: ${clean}`);
  }
}

/**
 * Send the probe's fabricated twin and require the same answer (status and error type); a
 * read of a foreign resource by id must also be refused. `only`: the ids that are foreign.
 */
async function assertAnsweredLikeTwin(
  s: TestServer,
  token: string,
  label: string,
  p: Probe,
  real: ProbeResult,
  only?: Set<string>,
) {
  const twin = await sendProbe(s, token, twinOf(p, only));
  assert.deepEqual(
    [real.status, real.type],
    [twin.status, twin.type],
    `${label}: real ids answer ${real.text} but fabricated ones ${twin.text}`,
  );
  // A read whose path names a foreign resource must be refused (own paths may answer 200).
  const path = p.path.split("?")[0];
  const foreignPath = !only || [...only].some((id) => path.includes(encodeURIComponent(id)));
  if (readsById(p) && foreignPath) assert.ok(real.status >= 400, `${label}: ${real.status}`);
}

async function setup() {
  const server = await startTestServer();
  const world = await buildSecurityWorld(server);
  const ops = (await listOperations(server)).filter((o) => o.template.includes("{wId}"));
  return { server, world, ops };
}

/** Alice reaches every GET route with her own ids (the ids the sweeps use are real). */
async function assertOwnerReachesEveryRead(s: TestServer, w: SecurityWorld, ops: Operation[]) {
  for (const op of ops.filter((o) => o.method === "GET" && !o.alwaysRefuses)) {
    const statuses: number[] = [];
    for (const p of probesOf(op, w.alice.workspace.sId, w.ids)) {
      statuses.push((await sendProbe(s, w.alice.token, p)).status);
    }
    assert.ok(statuses.includes(200), `owner: GET ${op.template} answered ${statuses}`);
  }
  // The searches the sweeps run do find the owner's restricted document.
  const w0 = `/api/v1/w/${w.alice.workspace.sId}`;
  const found = [
    await apiJson(s, w.alice.token, `${w0}/search?query=zebrasecret`),
    await apiJson(s, w.alice.token, `${w0}/search`, {
      method: "POST",
      body: { query: "zebrasecret" },
    }),
  ];
  for (const r of found) assert.match(JSON.stringify(r.body), /zebrasecret salaries/);
}

/**
 * Control for the sweeps: the owner's identical requests get past validation on every route
 * (a refusal that is only a 400 on the body's shape would prove nothing). Run last: it writes.
 */
async function assertOwnerPassesValidation(s: TestServer, w: SecurityWorld, ops: Operation[]) {
  for (const op of ops.filter((o) => o.method !== "GET")) {
    const answers: string[] = [];
    for (const p of probesOf(op, w.alice.workspace.sId, w.ids).flatMap(variants)) {
      const r = await sendProbe(s, w.alice.token, p);
      answers.push(`${r.status} ${r.text.slice(0, 160)}`);
    }
    // Validation errors name the field: {"type":"invalid_request_error","message":"text: …"}.
    const shapeOnly = /invalid_request_error","message":"[\w.]+: /;
    assert.ok(
      answers.some((a) => !shapeOnly.test(a)),
      `owner: ${op.method} ${op.template} never passes validation: ${answers.join(" | ")}`,
    );
  }
}

Deno.test("[security] REST: every route answers another workspace's ids exactly like ids that name nothing", async () => {
  const { server, world, ops } = await setup();
  await using _ = server;
  await assertOwnerReachesEveryRead(server, world, ops);
  const aId = world.alice.workspace.id;
  const before = await digestWorkspace(server, aId);
  const foreign = allIds(world);
  let compared = 0;
  for (const [who, token] of [["carol", world.carol.token], ["B's API key", world.keyB]]) {
    for (const op of ops) {
      for (const base of probesOf(op, world.carol.workspace.sId, world.ids)) {
        for (const p of variants(base).flatMap((v) => withQueries(v, MEMBER_MARKERS))) {
          const label = `${who}: ${p.method} ${p.path}`;
          const real = await sendProbe(server, token, p);
          assertNoLeak(label, real.text, p, [...PRIVATE_MARKERS, ...MEMBER_MARKERS], foreign);
          if (p.ids.length === 0) continue;
          await assertAnsweredLikeTwin(server, token, label, p, real);
          compared++;
        }
      }
    }
  }
  assert.ok(compared > 80, `only ${compared} comparisons`);
  assert.equal(await digestWorkspace(server, aId), before, "workspace A's rows changed");
  await assertOwnerPassesValidation(server, world, ops);
});

Deno.test("[security] REST: a member never reaches restricted spaces, Pods, others' conversations, files or relay servers", async () => {
  const { server, world, ops } = await setup();
  await using _ = server;
  const aId = world.alice.workspace.id;
  const before = await digestWorkspace(server, aId);
  const hidden = [...world.hiddenFromBob].filter((id) => id.length >= 8);
  let compared = 0;
  for (const op of ops) {
    for (const base of probesOf(op, world.alice.workspace.sId, world.ids)) {
      for (const p of variants(base).flatMap((v) => withQueries(v, PRIVATE_MARKERS))) {
        const label = `bob: ${p.method} ${p.path}`;
        const touchesHidden = p.ids.some((id) => world.hiddenFromBob.has(id));
        // Id-less writes are bob's own legitimate actions in A; only reads are scanned.
        if (!touchesHidden && p.method !== "GET") continue;
        const real = await sendProbe(server, world.bob.token, p);
        assertNoLeak(label, real.text, p, PRIVATE_MARKERS, hidden);
        if (!touchesHidden) continue;
        await assertAnsweredLikeTwin(server, world.bob.token, label, p, real, world.hiddenFromBob);
        compared++;
      }
    }
  }
  assert.ok(compared > 40, `only ${compared} comparisons`);
  assert.equal(await digestWorkspace(server, aId), before, "workspace A's rows changed");
});

Deno.test("[security] REST: a workspace id in the path other than the credential's is refused on every route", async () => {
  const { server, world, ops } = await setup();
  await using _ = server;
  const before = await digestWorkspace(server, world.alice.workspace.id);
  for (const [who, token] of [["carol", world.carol.token], ["B's API key", world.keyB]]) {
    for (const op of ops) {
      const [p] = probesOf(op, world.alice.workspace.sId, world.ids);
      const r = await sendProbe(server, token, p);
      assert.equal(r.status, 401, `${who}: ${p.method} ${p.path} → ${r.status} ${r.text}`);
      assert.equal(r.type, "workspace_auth_error", `${who}: ${p.method} ${p.path}`);
      assertNoLeak(`${who}: ${p.path}`, r.text, p, [...PRIVATE_MARKERS, ...MEMBER_MARKERS], []);
    }
  }
  assert.equal(await digestWorkspace(server, world.alice.workspace.id), before);
});

Deno.test("[security] REST: references to another workspace's resources from one's own are refused like fabricated ones", async () => {
  const { server, world, ops } = await setup();
  await using _ = server;
  const own = await buildTenant(server, world.carol, B_WORDS);
  const aIds = new Set(Object.values(world.ids).flat());
  const before = await digestWorkspace(server, world.alice.workspace.id);
  const foreign = allIds(world);
  let compared = 0;
  for (const op of ops) {
    const probes = probesOf(op, world.carol.workspace.sId, own.ids, world.ids);
    for (const p of probes.flatMap(variants)) {
      const label = `carol: ${p.method} ${p.path} ${JSON.stringify(p.body ?? "")}`;
      const real = await sendProbe(server, world.carol.token, p);
      assertNoLeak(label, real.text, p, [...PRIVATE_MARKERS, ...MEMBER_MARKERS], foreign);
      if (!p.ids.some((id) => aIds.has(id))) continue;
      // Carol's own ids stay; only the references to A's resources are fabricated.
      await assertAnsweredLikeTwin(server, world.carol.token, label, p, real, aIds);
      compared++;
    }
  }
  assert.ok(compared > 20, `only ${compared} comparisons`);
  assert.equal(
    await digestWorkspace(server, world.alice.workspace.id),
    before,
    "workspace A changed",
  );
});
