/**
 * Consent narrowed to spaces (issue 16): a token whose user chose, on the consent page, only
 * the global space (and no conversations) reaches nothing else through any surface — every MCP
 * tool, `resources/list` and `resources/read`, completion, every REST route of the OpenAPI
 * document, search results and counts, agents and agent runs — and a read-only one writes
 * nothing at all. Editing the choice on the connected-access page applies to the existing
 * token on its next request; the consent form refuses a space the user cannot read.
 *
 * The world (tests/helpers/narrowed_world.ts) gives alice a restricted vault, a Pod, a private
 * conversation and an OPEN space "Moose" next to the global space: the open one shares the
 * global space's search partition, so the narrowing must hold inside a partition too. Each
 * sweep first shows that alice's unnarrowed consent token DOES reach what the narrowed one
 * must not (the tests can fail).
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { digestWorkspace } from "../helpers/security_world.ts";
import { digestDatabase } from "../helpers/security_pages.ts";
import {
  fabricate,
  listOperations,
  type Probe,
  probesOf,
  sendProbe,
  twinOf,
  withoutEchoes,
} from "../helpers/security_probe.ts";
import { rawMcp, rpcOf, TOOLS_CALL } from "../mcp/helpers.ts";
import {
  accessFields,
  buildNarrowedWorld,
  consentWith,
  grantOf,
  type NarrowedWorld,
  OUTSIDE_MARKERS,
} from "../helpers/narrowed_world.ts";
import { URI_TEMPLATES } from "../../src/mcp/resource_uris.ts";
import { BrowserHttp, formValue, startSessionFor } from "../helpers/browser_http.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { messageBody } from "../helpers/conversations.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import { authorizeUrl, registerPublicClient } from "../helpers/oauth_flow.ts";
import { spaceField } from "../../src/core/grant_access.ts";
import {
  actorOf,
  createFolder,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";

type Args = Record<string, unknown>;

async function rpc(s: TestServer, token: string, method: string, params: Args = {}) {
  const r = await rawMcp(s, { jsonrpc: "2.0", id: 1, method, params }, {
    Authorization: `Bearer ${token}`,
  });
  assert.equal(r.status, 200, `${method}: HTTP ${r.status} ${r.text}`);
  return rpcOf(r.text);
}

async function tool(s: TestServer, token: string, name: string, args: Args) {
  const r = await rawMcp(s, TOOLS_CALL(name, args), { Authorization: `Bearer ${token}` });
  // A write tool called with a token that lacks the write scope: HTTP 403 insufficient_scope.
  if (r.status === 403 && /insufficient_scope/.test(r.text)) return { isError: true, text: r.text };
  assert.equal(r.status, 200, `${name}: HTTP ${r.status} ${r.text}`);
  const msg = rpcOf(r.text);
  const result = msg.result as { isError?: boolean; content: { text: string }[] } | undefined;
  if (!result) return { isError: true, text: JSON.stringify(msg.error) };
  return { isError: result.isError === true, text: result.content.map((c) => c.text).join("\n") };
}

function assertClean(label: string, text: string, sent: string[] = []) {
  const clean = withoutEchoes(text, sent).toLowerCase();
  for (const m of OUTSIDE_MARKERS) assert.ok(!clean.includes(m), `${label} leaks "${m}": ${text}`);
}

/** The ids outside the narrowed token's choice (the global space). */
function outsideIds(w: NarrowedWorld): Set<string> {
  return new Set([
    w.vault,
    w.pod,
    w.moose,
    w.mooseDs,
    w.conv,
    w.convFile,
    w.podFile,
    w.vaultAgent,
    ...w.ids.dsId.slice(0, 1),
    ...w.ids.dsvId.slice(0, 1),
    ...w.ids.documentId.slice(0, 1),
    ...w.ids.folderId.slice(0, 1),
    ...w.ids.mId,
    ...w.ids.taskId,
  ]);
}

/** The MCP tool calls that name what lies outside the choice (every listed tool is here). */
function toolCalls(
  w: NarrowedWorld,
  ids = {
    conv: w.conv,
    pod: w.pod,
    convFile: w.convFile,
    podFile: w.podFile,
    doc: w.ids.documentId[0],
  },
): Record<string, Args[]> {
  const convScope = { type: "conversation", conversation_id: ids.conv };
  const podScope = { type: "pod", pod_id: ids.pod };
  return {
    identity: [{}],
    list_agents: [{}, { name: "walrus" }],
    list_pods: [{}],
    list_conversations: [{}, { podId: ids.pod }],
    create_conversation: [{ title: "intrusion", podId: ids.pod, agentName: null }],
    create_conversation_message: [{ conversationId: ids.conv, message: "x", agentName: null }],
    get_conversation_messages: [{ conversationId: ids.conv }],
    mark_conversation_read: [{ conversationId: ids.conv, read: true }],
    get_pod: [{ podId: ids.pod }],
    get_pod_tasks: [{ podId: ids.pod, statusFilter: "all" }],
    search: ["zebrasecret", "mooseopen", "lynxpod", "owlprivate"].map((query) => ({ query })),
    fetch: [{ id: ids.doc }, { id: "moose_doc" }],
    files_list: [{ scope: convScope }, { scope: podScope }],
    files_cat: [
      { scope: convScope, path: `conversation-${ids.conv}/owlprivate.txt` },
      { scope: podScope, path: `pod-${ids.pod}/lynxpod.txt` },
    ],
    files_grep: [{ scope: podScope, path: `pod-${ids.pod}/lynxpod.txt`, pattern: "." }],
    files_resolve: [
      { scope: convScope, file_id: ids.convFile },
      { scope: podScope, file_id: ids.podFile },
    ],
    files_create: [
      { scope: podScope, path: `pod-${ids.pod}/x.txt`, content: "x", content_type: "text/plain" },
    ],
  };
}

async function allResources(s: TestServer, token: string): Promise<{ uri: string }[]> {
  const out: { uri: string }[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const r = (await rpc(s, token, "resources/list", cursor ? { cursor } : {})).result as {
      resources: { uri: string }[];
      nextCursor?: string;
    };
    out.push(...r.resources);
    if (!r.nextCursor) break;
    cursor = r.nextCursor;
  }
  return out;
}

const NARROW = (w: NarrowedWorld) =>
  accessFields(w.alice.workspace.sId, { spaces: [w.globalA], conversations: false });

Deno.test("[security] narrowed consent: MCP tools, resources and completion reach only the chosen space", async () => {
  await using s = await startTestServer();
  const w = await buildNarrowedWorld(s);
  const full =
    (await consentWith(s, w.alice, accessFields(w.alice.workspace.sId, { spaces: null })))
      .token!;
  const narrow = (await consentWith(s, w.alice, NARROW(w))).token!;
  // Control: the unnarrowed consent token reaches everything the narrowed one must not.
  for (const q of ["zebrasecret", "mooseopen"]) {
    assert.match((await tool(s, full, "search", { query: q })).text, new RegExp(q));
  }
  assert.match((await tool(s, full, "list_agents", {})).text, /walrus_vault_agent/);
  assert.equal((await tool(s, full, "get_pod", { podId: w.pod })).isError, false);
  const fullUris = (await allResources(s, full)).map((r) => r.uri);
  const outside = outsideIds(w);
  const outsideUris = fullUris.filter((u) => [...outside].some((id) => u.includes(id)));
  assert.ok(outsideUris.length >= 3, `control lists ${fullUris.join(" ")}`);

  // The narrowed token: the global space, and nothing else.
  const heron = await tool(s, narrow, "search", { query: "heronpublic mooseopen zebrasecret" });
  assert.equal(heron.isError, false, heron.text);
  const found = JSON.parse(heron.text) as { count: number; results: { spaceId: string }[] };
  assert.ok(found.count >= 1, "the chosen space is searched");
  assert.equal(found.count, found.results.length);
  for (const r of found.results) assert.equal(r.spaceId, w.globalA, "a result outside the choice");
  assert.match((await tool(s, narrow, "list_agents", {})).text, /heron_global_agent/);

  const before = await digestWorkspace(s, w.alice.workspace.id);
  const fakeIds = {
    conv: fabricate(w.conv),
    pod: fabricate(w.pod),
    convFile: fabricate(w.convFile),
    podFile: fabricate(w.podFile),
    doc: fabricate(w.ids.documentId[0]),
  };
  const real = toolCalls(w);
  const fake = toolCalls(w, fakeIds);
  const listed = ((await rpc(s, narrow, "tools/list")).result as { tools: { name: string }[] })
    .tools.map((t) => t.name).sort();
  assert.deepEqual(listed, Object.keys(real).sort(), "every tool is swept");
  const sentOf = (a: Args) => {
    const out: string[] = [];
    JSON.stringify(a, (_k, v) => (typeof v === "string" && out.push(v), v));
    return out.sort((x, y) => y.length - x.length);
  };
  for (const [name, list] of Object.entries(real)) {
    for (const [k, args] of list.entries()) {
      const a = await tool(s, narrow, name, args);
      assertClean(`${name} ${JSON.stringify(args)}`, a.text, sentOf(args));
      for (const id of outside) {
        if (!sentOf(args).includes(id)) {
          assert.ok(!a.text.includes(id), `${name} names ${id}: ${a.text}`);
        }
      }
      // Outside the choice answers exactly as an id that names nothing.
      const b = await tool(s, narrow, name, fake[name][k]);
      assert.deepEqual(
        [a.isError, withoutEchoes(a.text, sentOf(args))],
        [b.isError, withoutEchoes(b.text, sentOf(fake[name][k]))],
        `${name} ${JSON.stringify(args)}: real and fabricated ids answer differently`,
      );
    }
  }
  assert.equal(await digestWorkspace(s, w.alice.workspace.id), before, "a refused write wrote");

  // resources/list lists none of it; resources/read of each listed-for-full URI is refused.
  const mine = await allResources(s, narrow);
  assert.ok(mine.length >= 1, "the global document is listed");
  for (const r of mine) {
    for (const id of outside) assert.ok(!r.uri.includes(id), `resources/list: ${r.uri}`);
  }
  assertClean("resources/list", JSON.stringify(mine));
  for (const uri of outsideUris) {
    const read = await rpc(s, narrow, "resources/read", { uri });
    assert.ok(read.error, `resources/read ${uri}: ${JSON.stringify(read)}`);
    assertClean(`resources/read ${uri}`, JSON.stringify(read), [uri]);
  }
  // completion/complete: no value outside the choice, for every template variable.
  const ctx = { conversationId: w.conv, podId: w.pod, dataSourceViewId: w.ids.dsvId[0] };
  for (const template of Object.values(URI_TEMPLATES)) {
    for (const name of template.match(/\{\+?(\w+)\}/g)!.map((v) => v.replace(/[{}+]/g, ""))) {
      for (const value of ["", "m", "z", "l"]) {
        const r = await rpc(s, narrow, "completion/complete", {
          ref: { type: "ref/resource", uri: template },
          argument: { name, value },
          context: { arguments: ctx },
        });
        const text = JSON.stringify(r.result ?? r.error);
        for (const id of outside) {
          assert.ok(!text.includes(id), `completion ${name}=${value} names ${id}: ${text}`);
        }
        assertClean(`completion ${template} ${name}`, text);
      }
    }
  }
  // Agents whose knowledge lies outside: neither listed nor completed nor fetched.
  const agents = await rpc(s, narrow, "completion/complete", {
    ref: { type: "ref/prompt", name: "ask_agent" },
    argument: { name: "agentName", value: "w" },
  });
  assertClean("agent completion", JSON.stringify(agents));
});

/** Probes with the vault, Moose, the Pod and the private conversation in their ids. */
function restIds(w: NarrowedWorld): Record<string, string[]> {
  const i = w.ids;
  return {
    ...i,
    spaceId: [w.vault, w.moose, w.globalA, w.pod],
    dsId: [i.dsId[0], w.mooseDs, i.dsId[1]],
    dsvId: [i.dsvId[0], i.dsvId[0], i.dsvId[1]],
    documentId: [i.documentId[0], "moose_doc", i.documentId[1]],
    sId: [w.vaultAgent, ...i.sId],
    folderId: [i.folderId[0], i.folderId[0], i.folderId[1]],
  };
}

/** Each search-like probe again with the outside words as its query. */
function withQueries(p: Probe): Probe[] {
  const words = ["zebrasecret", "mooseopen", "lynxpod"];
  if (p.method === "POST" && p.template.endsWith("/search")) {
    return [p, ...words.map((query) => ({ ...p, body: { query }, ids: [] }))];
  }
  const text = /=zebrasecret(&|$)/;
  if (!text.test(p.path)) return [p];
  return words.map((word) => ({ ...p, path: p.path.replace(text, `=${word}$1`) }));
}

Deno.test("[security] narrowed consent: an OAuth REST token reaches only the chosen space on every route", async () => {
  await using s = await startTestServer();
  const w = await buildNarrowedWorld(s);
  const wId = w.alice.workspace.sId;
  const narrow = (await consentWith(s, w.alice, NARROW(w), "api")).token!;
  const full = (await consentWith(s, w.alice, accessFields(wId, { spaces: null }), "api")).token!;
  const base = `/api/v1/w/${wId}`;
  // Control and positive control: search finds the vault for the full token, heron for both.
  const q = (t: string, query: string) => apiJson(s, t, `${base}/search?query=${query}`);
  assert.match(JSON.stringify((await q(full, "zebrasecret")).body), /zebrasecret salaries/);
  assert.match(JSON.stringify((await q(full, "mooseopen")).body), /mooseopen/);
  const mine = (await q(narrow, "heronpublic")).body;
  assert.ok(mine.count >= 1, JSON.stringify(mine));
  for (const r of mine.results) assert.equal(r.spaceId, w.globalA);
  // A narrowed token administers nothing and mints no wider credential.
  for (
    const [path, body] of [["/personal_tokens", { name: "wider" }], ["/api_keys", { name: "k" }]]
  ) {
    const r = await apiJson(s, narrow, `${base}${path}`, { method: "POST", body });
    assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.body)}`);
  }
  const outside = outsideIds(w);
  const ops = (await listOperations(s)).filter((o) => o.template.includes("{wId}"));
  const before = await digestWorkspace(s, w.alice.workspace.id);
  let compared = 0;
  for (const op of ops) {
    for (const p of probesOf(op, wId, restIds(w)).flatMap(withQueries)) {
      const label = `${p.method} ${p.path}`;
      const touches = p.ids.some((id) => outside.has(id));
      // Id-less writes are the user's own actions in the chosen space: only reads are scanned.
      if (!touches && p.method !== "GET") continue;
      const real = await sendProbe(s, narrow, p);
      assertClean(label, real.text, p.ids);
      const clean = withoutEchoes(real.text, p.ids);
      for (const id of outside) assert.ok(!clean.includes(id), `${label} names ${id}: ${clean}`);
      if (!touches) continue;
      const twin = await sendProbe(s, narrow, twinOf(p, outside));
      assert.deepEqual(
        [real.status, real.type],
        [twin.status, twin.type],
        `${label}: outside ids answer ${real.text} but fabricated ones ${twin.text}`,
      );
      if (p.method === "GET" && /\{(?!wId\})/.test(p.template)) {
        const path = p.path.split("?")[0];
        if ([...outside].some((id) => path.includes(encodeURIComponent(id)))) {
          assert.ok(real.status >= 400, `${label}: ${real.status}`);
        }
      }
      compared++;
    }
  }
  assert.ok(compared > 40, `only ${compared} comparisons`);
  // A post names the caller's own client-side servers, whose TTL it refreshes before the
  // conversation is looked up (messages.ts): the user's own registration, in no space.
  const ttl = (d: string) => d.replace(/"expires_at":\d+\}\]$/gm, '"expires_at":0}]');
  const after = ttl(await digestWorkspace(s, w.alice.workspace.id)).split("\n");
  const changed = ttl(before).split("\n").map((line, i) => [line, after[i]])
    .filter(([a, b]) => a !== b);
  assert.deepEqual(changed, [], "a refused write wrote");
});

Deno.test("[security] narrowed consent: a read-only narrowed token writes nothing through REST or MCP", async () => {
  await using s = await startTestServer();
  const w = await buildNarrowedWorld(s);
  const wId = w.alice.workspace.sId;
  const ro = { spaces: [w.globalA, w.pod], conversations: true, readOnly: true };
  const api = await consentWith(s, w.alice, accessFields(wId, ro), "api");
  const mcp = await consentWith(s, w.alice, accessFields(wId, ro), "mcp");
  assert.equal(api.scope, "read", "the token response says read-only");
  const ops = (await listOperations(s)).filter((o) => o.template.includes("{wId}"));
  const before = await digestDatabase(s);
  let sent = 0;
  for (const op of ops.filter((o) => o.method !== "GET")) {
    for (const p of probesOf(op, wId, restIds(w))) {
      // Some POSTs are reads (search, tokenize, mention parsing): the digest is the proof.
      await sendProbe(s, api.token!, p);
      sent++;
    }
  }
  for (const [name, list] of Object.entries(toolCalls(w))) {
    for (const args of list) await tool(s, mcp.token!, name, args);
  }
  assert.ok(sent > 40, `only ${sent} writes tried`);
  const after = await digestDatabase(s);
  const changed = before.split("\n").filter((line, i) => after.split("\n")[i] !== line)
    .map((l) => l.slice(0, l.indexOf(":")))
    // The audit log's own row count: every refused call is audited, as it must be.
    .filter((table) => table !== "audit_usage");
  assert.deepEqual(changed, [], "a read-only token changed the database");
  // Control: the same token reads its Pod (so the refusals above are about writing).
  assert.equal((await tool(s, mcp.token!, "get_pod", { podId: w.pod })).isError, false);
});

async function editAccess(
  b: BrowserHttp,
  w: NarrowedWorld,
  grant: string,
  fields: Record<string, string>,
) {
  const wId = w.alice.workspace.sId;
  const page = await b.get(`/w/${wId}/connected/grants/${grant}`);
  assert.equal(page.status, 200, page.text.slice(0, 300));
  const r = await b.post(`/w/${wId}/connected/access`, {
    csrf: formValue(page.text, "csrf")!,
    grant,
    ...fields,
  });
  return r;
}

Deno.test("[security] narrowed consent: editing the choice on the connected-access page applies to the existing token at once", async () => {
  await using s = await startTestServer();
  const w = await buildNarrowedWorld(s);
  const wId = w.alice.workspace.sId;
  const c = await consentWith(s, w.alice, NARROW(w));
  const api = await consentWith(s, w.alice, NARROW(w), "api", c.browser);
  const token = c.token!;
  const grant = await grantOf(s, c.clientId);
  const apiGrant = await grantOf(s, api.clientId);
  const podFiles = { scope: { type: "pod", pod_id: w.pod } };
  const restPod = () => apiJson(s, api.token!, `/api/v1/w/${wId}/spaces/${w.pod}/project_metadata`);
  assert.equal((await tool(s, token, "get_pod", { podId: w.pod })).isError, true);
  assert.equal((await restPod()).status, 404);
  // The connected-access page shows the choice.
  const listing = await c.browser.get(`/w/${wId}/connected`);
  assert.match(listing.text, /Company Data, no conversations · read \+ write|no conversations/);

  // Widen: the Pod is added — the very same tokens reach it on their next request.
  const wide = accessFields(wId, { spaces: [w.globalA, w.pod], conversations: false });
  assert.equal((await editAccess(c.browser, w, grant, wide)).status, 200);
  assert.equal((await editAccess(c.browser, w, apiGrant, wide)).status, 200);
  assert.equal((await tool(s, token, "get_pod", { podId: w.pod })).isError, false);
  assert.equal((await tool(s, token, "files_list", podFiles)).isError, false);
  assert.equal((await restPod()).status, 200);
  const create = (path: string) =>
    tool(s, token, "files_create", {
      scope: podFiles.scope,
      path: `pod-${w.pod}/${path}`,
      content: "x",
      content_type: "text/plain",
    });
  assert.equal((await create("a.txt")).isError, false, "read + write writes");

  // Read-only: the same token can no longer write, at once.
  const ro = accessFields(wId, { spaces: [w.globalA, w.pod], readOnly: true });
  assert.equal((await editAccess(c.browser, w, grant, ro)).status, 200);
  const refused = await create("b.txt");
  assert.equal(refused.isError, true, refused.text);
  assert.equal((await tool(s, token, "get_pod", { podId: w.pod })).isError, false);

  // Narrow again: the Pod is gone for the same tokens at once.
  assert.equal((await editAccess(c.browser, w, grant, NARROW(w))).status, 200);
  assert.equal((await editAccess(c.browser, w, apiGrant, NARROW(w))).status, 200);
  assert.equal((await tool(s, token, "get_pod", { podId: w.pod })).isError, true);
  assert.equal((await restPod()).status, 404);

  // Nobody edits another user's grant; nobody gives a space they cannot read.
  const bobBrowser = new BrowserHttp(s.url);
  await startSessionFor(s, bobBrowser, w.bob.user.id);
  const page = await bobBrowser.get(`/w/${wId}/connected`);
  const bobEdit = await bobBrowser.post(`/w/${wId}/connected/access`, {
    csrf: formValue(page.text, "csrf")!,
    grant,
    ...wide,
  });
  assert.equal(bobEdit.status, 404, bobEdit.text.slice(0, 200));
  const bobConsent = await consentWith(s, w.bob, accessFields(wId, { spaces: [w.globalA] }));
  const bobGrant = await grantOf(s, bobConsent.clientId);
  const r = await editAccess(bobBrowser, { ...w, alice: w.bob }, bobGrant, {
    ...accessFields(wId, { spaces: [w.globalA, w.vault] }),
  });
  assert.equal(r.status, 400, r.text.slice(0, 300));
  assert.equal((await tool(s, bobConsent.token!, "get_pod", { podId: w.pod })).isError, true);
});

Deno.test("[security] narrowed consent: the consent form refuses a space the user cannot read", async () => {
  await using s = await startTestServer();
  const w = await buildNarrowedWorld(s);
  const wId = w.alice.workspace.sId;
  const codes = async () =>
    Number((await s.deps.db.get("SELECT count(*) AS n FROM oauth_codes") as { n: number }).n);
  const before = await codes();
  // bob reads the global space but not alice's vault or Pod, nor anything of carol's workspace.
  const carolGlobal = (await apiJson(s, w.carol.token, `/api/v1/w/${w.carol.workspace.sId}/spaces`))
    .body.spaces.find((x: { kind: string }) => x.kind === "global").sId;
  for (const bad of [w.vault, w.pod, carolGlobal, "vlt_doesnotexist"]) {
    const r = await consentWith(s, w.bob, accessFields(wId, { spaces: [w.globalA, bad] }));
    assert.equal(r.status, 400, `${bad}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.match(r.text, /cannot give access/);
  }
  assert.equal(await codes(), before, "no code was issued");
  // The page offers bob the spaces he reads, ticked, under "every space" by default.
  const b = new BrowserHttp(s.url);
  await startSessionFor(s, b, w.bob.user.id);
  const clientId = await registerPublicClient(s.url, ["http://127.0.0.1:53682/callback"]);
  const { page } = await b.openConsent(
    authorizeUrl(s.url, { clientId, challenge: pkcePair().challenge }),
  );
  assert.match(page.text, /<input type="radio" name="access" value="all" checked/);
  assert.match(page.text, new RegExp(`name="${spaceField(wId, w.globalA)}" value="1" checked`));
  assert.match(page.text, new RegExp(`name="${spaceField(wId, w.moose)}"`));
  for (const hidden of [w.vault, w.pod]) assert.ok(!page.text.includes(hidden), hidden);
  const ok = await consentWith(s, w.bob, accessFields(wId, { spaces: [w.globalA] }));
  assert.equal(ok.status, 303);
  assert.match((await tool(s, ok.token!, "search", { query: "heronpublic" })).text, /heronpublic/);
});

Deno.test("[security] narrowed consent: an agent run launched by a narrowed token searches only the chosen spaces", async () => {
  const verdict = (req: ChatRequest) => {
    const found = lastToolResult(req);
    return {
      content: found.includes("zebrasecret")
        ? "LEAK"
        : found.includes("heronpublic")
        ? "clean"
        : "none",
    };
  };
  const search = {
    toolCalls: [{ name: "search", arguments: { query: "zebrasecret heronpublic" } }],
  };
  await using model = await startFakeModel([search, verdict, search, verdict]);
  await using s = await startTestServer({ flags: model.flags });
  const alice = await createUserWithToken(s, { email: "alice@example.com", role: "admin" });
  const a = actorOf(alice);
  const global = await globalSpaceSId(s, alice.workspace);
  const handbook = await createFolder(s, a, global, "handbook");
  await putDocument(s, a, { spaceId: global, dataSourceId: handbook }, "h", "heronpublic welcome");
  const vault = await createRestrictedSpace(s, a, "Vault", []);
  const ledger = await createFolder(s, a, vault, "ledger");
  await putDocument(s, a, { spaceId: vault, dataSourceId: ledger }, "l", "zebrasecret salaries");
  const ask = async (token: string) => {
    const w = `/api/v1/w/${alice.workspace.sId}/assistant/conversations`;
    const r = await apiJson(s, token, w, {
      method: "POST",
      body: {
        title: null,
        visibility: "unlisted",
        blocking: true,
        message: {
          content: "What do we know?",
          mentions: [{ configurationId: "dust" }],
          context: { username: "alice", timezone: "UTC" },
        },
      },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const got = await apiJson(s, token, `${w}/${r.body.conversation.sId}`);
    // deno-lint-ignore no-explicit-any
    return got.body.conversation.content.flat().find((m: any) => m.type === "agent_message");
  };
  // Control: the same question through alice's unnarrowed personal token finds the vault.
  assert.equal((await ask(alice.token)).content, "LEAK");
  const who = { ...alice, mcpToken: "" };
  const narrow = await consentWith(
    s,
    who,
    accessFields(alice.workspace.sId, { spaces: [global], conversations: true }),
    "api",
  );
  const answer = await ask(narrow.token!);
  assert.equal(answer.status, "succeeded", JSON.stringify(answer.error));
  assert.equal(answer.content, "clean");
});

Deno.test("[security] narrowed consent: an event stream opened with the token ends when its grant's choice is edited", async () => {
  await using s = await startTestServer();
  const w = await buildNarrowedWorld(s);
  const base = `/api/v1/w/${w.alice.workspace.sId}/assistant/conversations`;
  const conv = await apiJson(s, w.alice.token, base, {
    method: "POST",
    body: { title: "t", spaceId: w.pod, message: messageBody("first", []) },
  });
  assert.equal(conv.status, 200, JSON.stringify(conv.body));
  const path = `${base}/${conv.body.conversation.sId}`;
  const podOnly = accessFields(w.alice.workspace.sId, { spaces: [w.pod] });
  const c = await consentWith(s, w.alice, podOnly, "api");
  const post = async (content: string) => {
    const r = await apiJson(s, w.alice.token, `${path}/messages`, {
      method: "POST",
      body: messageBody(content, []),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  let text = "";
  let ended = false;
  const res = await fetch(`${s.url}${path}/events`, {
    headers: { Authorization: `Bearer ${c.token}` },
  });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    ended = true;
  })();
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 150 && !cond(); i++) await new Promise((ok) => setTimeout(ok, 20));
  };
  try {
    await post("beforeedit");
    await until(() => text.includes("beforeedit"));
    assert.ok(text.includes("beforeedit"), "control: the token follows its Pod's conversation");
    const edited = await editAccess(c.browser, w, await grantOf(s, c.clientId), NARROW(w));
    assert.equal(edited.status, 200);
    await post("afteredit");
    await until(() => ended);
    assert.ok(!text.includes("afteredit"), "the stream still delivers outside the new choice");
    assert.ok(ended, "the stream ends");
  } finally {
    await reader.cancel().catch(() => {});
    await pump.catch(() => {});
  }
});
