/**
 * Three instances of the real program on one PostgreSQL database (and one S3 prefix when the
 * S3 test server is configured), behind a round-robin proxy that is their public URL
 * (tests/helpers/multi_instance.ts). Runs only with `DUST_MCP_TEST_DATABASE=postgres`.
 *
 * 1. REST writes and MCP tool calls spread over the instances, each read back on every one.
 * 2. A conversation event stream open on A follows messages posted on B and C, in order, once.
 * 3. The relay across instances: the client-side server's request stream on A, the agent run on
 *    B (the fake model calls the server's tool), the result posted to C.
 * 4. An OAuth access token revoked on A is refused on B at the very next request.
 * 5. SIGKILL of one instance under the durability suite's write load, through the proxy: no
 *    acknowledged write lost, the stream resumes on another instance with `lastEventId` (each
 *    event once), the agent message the dead instance was generating ends `failed`
 *    (`agent_interrupted`) on another, and the load goes on over the survivors without error.
 */
import assert from "node:assert/strict";
import { testEngine } from "../helpers/server.ts";
import {
  type Instance,
  type Instances,
  readFrames,
  startInstances,
} from "../helpers/multi_instance.ts";
import { type DurabilitySetup, prepareDataDir } from "../helpers/durability_server.ts";
import { call, Ledger, mcpRequest, seededRandom } from "../helpers/durability_ledger.ts";
import { type LoadContext, runWriters } from "../helpers/durability_load.ts";
import { verifyLedger, verifyScopedFilesOnDisk } from "../helpers/durability_verify.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { startLocalMcpServer } from "../helpers/local_mcp.ts";
import { BrowserHttp } from "../helpers/browser_http.ts";
import { authorizeUrl, exchange, postForm, registerPublicClient } from "../helpers/oauth_flow.ts";
import { pkcePair } from "../helpers/oauth_client.ts";
import { TAKEN_OVER_MESSAGE } from "../../src/agents/loop.ts";

const SEED = Number(
  Deno.env.get("DURABILITY_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0],
);
const LEASE_SECONDS = 3;
const REDIRECT = "http://127.0.0.1:53682/callback";

// deno-lint-ignore no-explicit-any
type Json = any;

/** The last user message of a model request. */
function lastUser(req: ChatRequest): string {
  const users = req.messages.filter((m) => m.role === "user");
  return String(users.at(-1)?.content ?? "");
}

/**
 * One model for every instance, answering by what it is asked: RELAY-PROBE calls the local
 * server's tool then reports its result; SLOW-STREAM streams tokens and never finishes (a run
 * to kill mid-answer); anything else is answered at once.
 */
function modelScript(req: ChatRequest) {
  const asked = lastUser(req);
  if (asked.includes("RELAY-PROBE")) {
    return req.messages.some((m) => m.role === "tool")
      ? { content: `The secret is ${lastToolResult(req)}` }
      : { toolCalls: [{ name: "local_tools__get_secret", arguments: { label: "door" } }] };
  }
  if (asked.includes("SLOW-STREAM")) {
    return { content: "tokens before the crash", hangAfterContent: true };
  }
  return { content: "ok" };
}

function conversationsPath(setup: DurabilitySetup): string {
  return `/api/v1/w/${setup.workspaceSId}/assistant/conversations`;
}

async function createConversation(
  base: string,
  setup: DurabilitySetup,
  token: string,
  content: string,
  mentions: { configurationId: string }[] = [],
  context: Record<string, unknown> = {},
): Promise<{ cId: string; messages: Json[] }> {
  const r = await call(base, conversationsPath(setup), {
    method: "POST",
    token,
    json: {
      title: content.slice(0, 40),
      visibility: "unlisted",
      message: { content, mentions, context: { username: "multi", timezone: "UTC", ...context } },
      // Tools run without asking: approvals are tests/agents/tool_approval*_test.ts's subject;
      // here a parked run would stand for a lost one.
      skipToolsValidation: true,
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { cId: r.body.conversation.sId, messages: r.body.conversation.content.flat() };
}

async function postMessage(base: string, setup: DurabilitySetup, cId: string, content: string) {
  const r = await call(base, `${conversationsPath(setup)}/${cId}/messages`, {
    method: "POST",
    token: setup.memberToken,
    json: { content, mentions: [], context: { username: "multi", timezone: "UTC" } },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** Open a conversation's event stream on one instance (after `lastEventId` when given). */
async function openEvents(
  inst: Instance,
  setup: DurabilitySetup,
  cId: string,
  lastEventId?: string,
): Promise<Response> {
  const q = lastEventId ? `?lastEventId=${lastEventId}` : "";
  const res = await fetch(`${inst.url}${conversationsPath(setup)}/${cId}/events${q}`, {
    headers: { authorization: `Bearer ${setup.memberToken}` },
  });
  assert.equal(res.status, 200);
  return res;
}

async function agentMessage(base: string, setup: DurabilitySetup, cId: string): Promise<Json> {
  const r = await call(base, `${conversationsPath(setup)}/${cId}`, { token: setup.memberToken });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.conversation.content.flat().find((m: Json) => m.type === "agent_message");
}

async function writesSpreadOverInstances(c: Instances, setup: DurabilitySetup): Promise<void> {
  const before = [...c.proxy.forwarded];
  const created: { cId: string; text: string }[] = [];
  for (let i = 0; i < 6; i++) {
    const text = `spread ${i} ${crypto.randomUUID()}`;
    const { cId } = await createConversation(c.publicUrl, setup, setup.memberToken, text);
    await postMessage(c.publicUrl, setup, cId, `${text} follow-up`);
    created.push({ cId, text });
  }
  const written: string[] = [];
  for (let i = 0; i < 6; i++) {
    const path = `notes/spread-${i}.md`;
    const r = await mcpRequest(c.publicUrl, setup.memberMcpToken, "tools/call", {
      name: "files_create",
      arguments: {
        scope: { type: "conversation", conversation_id: created[0].cId },
        path: `conversation-${created[0].cId}/${path}`,
        content: `content ${i}`,
        content_type: "text/markdown",
      },
    });
    assert.equal(r.status, 200);
    assert.ok(!r.body.result?.isError, JSON.stringify(r.body));
    written.push(path);
  }
  const spread = c.proxy.forwarded.map((n, i) => n - before[i]);
  assert.ok(spread.every((n) => n >= 6), `every instance served writes: ${spread}`);
  // Every write, read back on every instance directly.
  for (const inst of c.instances) {
    for (const { cId, text } of created) {
      const r = await call(inst.url, `${conversationsPath(setup)}/${cId}`, {
        token: setup.memberToken,
      });
      assert.equal(r.status, 200);
      const contents = r.body.conversation.content.flat().map((m: Json) => m.content);
      assert.deepEqual(contents, [text, `${text} follow-up`], `instance ${inst.index}`);
    }
    const list = await mcpRequest(inst.url, setup.memberMcpToken, "tools/call", {
      name: "files_list",
      arguments: { scope: { type: "conversation", conversation_id: created[0].cId } },
    });
    assert.equal(list.status, 200);
    const listed = JSON.stringify(list.body.result);
    for (const p of written) assert.ok(listed.includes(p.split("/")[1]), `${p} on ${inst.index}`);
  }
}

async function streamFollowsOtherInstances(c: Instances, setup: DurabilitySetup) {
  const [a, b, cc] = c.instances;
  const { cId } = await createConversation(a.url, setup, setup.memberToken, "stream start");
  const res = await openEvents(a, setup, cId);
  const fromB = `posted on B ${crypto.randomUUID()}`;
  const fromC = `posted on C ${crypto.randomUUID()}`;
  const reading = readFrames(
    res,
    (d) => (d.message as Json)?.content === fromC,
    20_000,
  );
  await postMessage(b.url, setup, cId, fromB);
  await postMessage(cc.url, setup, cId, fromC);
  const frames = await reading;
  const contents = frames.filter((f) => f.data.type === "user_message_new")
    .map((f) => (f.data.message as Json).content);
  assert.deepEqual(contents, ["stream start", fromB, fromC], "each message once, in order");
  const ids = frames.map((f) => Number(f.eventId));
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), "event ids increase");
}

async function relayAcrossInstances(c: Instances, setup: DurabilitySetup) {
  const [a, b, cc] = c.instances;
  // The client-side server's own traffic: its request stream on A, its results to C.
  const { Proxy } = await import("../helpers/multi_instance.ts");
  await using router = new Proxy(c.instances.map((i) => i.url), (req, url) => {
    if (url.pathname.endsWith("/mcp/requests")) return a.index;
    if (req.method === "POST" && url.pathname.endsWith("/mcp/results")) return cc.index;
    return undefined;
  });
  const who = { token: setup.memberToken, workspace: { sId: setup.workspaceSId } };
  await using local = await startLocalMcpServer({ url: router.url }, who, { secret: "s3cr3t" });
  // The agent runs on B: the instance the post reached.
  const { cId } = await createConversation(
    b.url,
    setup,
    setup.memberToken,
    "RELAY-PROBE what is behind the door?",
    [{ configurationId: "dust" }],
    { clientSideMCPServerIds: [local.serverId] },
  );
  let m = await agentMessage(b.url, setup, cId);
  for (let i = 0; i < 300 && m.status === "created"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    m = await agentMessage(b.url, setup, cId);
  }
  assert.equal(m.status, "succeeded", JSON.stringify(m.error));
  assert.equal(m.content, "The secret is door: s3cr3t");
  assert.deepEqual(local.calls, [{ label: "door" }], "the tool ran once");
  const requests = router.forwarded[a.index];
  const results = router.forwarded[cc.index];
  assert.ok(requests >= 1 && results >= 1, `stream on A (${requests}), results to C (${results})`);
}

async function revokeOnAIsRefusedOnB(c: Instances, setup: DurabilitySetup) {
  const [a, b] = c.instances;
  const clientId = await registerPublicClient(c.publicUrl, [REDIRECT]);
  const browser = new BrowserHttp(c.publicUrl);
  await browser.signIn(setup.adminEmail, setup.adminPassword);
  const resource = `${c.publicUrl}/mcp`;
  const { verifier, challenge } = pkcePair();
  const callback = await browser.approve(
    authorizeUrl(c.publicUrl, { clientId, redirectUri: REDIRECT, challenge, resource }),
    { workspace: setup.workspaceSId },
  );
  const token = await exchange(
    c.publicUrl,
    {
      clientId,
      code: callback.searchParams.get("code") ?? "",
      verifier,
      redirectUri: REDIRECT,
      callback,
    },
    { resource },
  );
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const access = token.body.access_token as string;
  // B verifies and memoises it.
  for (let i = 0; i < 2; i++) {
    assert.equal((await mcpRequest(b.url, access, "tools/list", {})).status, 200);
  }
  const revoked = await postForm(`${a.url}/revoke`, { token: access, client_id: clientId });
  assert.equal(revoked.status, 200);
  const after = await mcpRequest(b.url, access, "tools/list", {});
  assert.equal(after.status, 401, "refused on B at the next request");
}

/**
 * The `files_create` files of a conversation: ids from the database, contents downloaded
 * through the public URL (the bytes may be in the bucket).
 */
async function readScopedFiles(
  c: Instances,
  setup: DurabilitySetup,
  conversationSId: string,
): Promise<Map<string, { sId: string; text: string }>> {
  const rows = await c.db.all<{ s_id: string; path: string }>(
    `SELECT s_id, path FROM files WHERE scope_type = 'conversation' AND scope_s_id = ?
     AND status = 'ready' AND storage_key IS NOT NULL`,
    conversationSId,
  );
  const out = new Map<string, { sId: string; text: string }>();
  for (const r of rows) {
    const got = await call(
      c.publicUrl,
      `/api/v1/w/${setup.workspaceSId}/files/${r.s_id}?action=download`,
      { token: setup.memberToken },
    );
    out.set(r.path, { sId: r.s_id, text: new TextDecoder().decode(got.bytes) });
  }
  return out;
}

/** Wait (bounded) until no agent message is left `created`. */
async function waitForAgentsDone(c: Instances, ms = 60_000): Promise<number> {
  const deadline = Date.now() + ms;
  let left = -1;
  while (Date.now() < deadline) {
    left = Number(
      (await c.db.get<{ n: number }>(
        "SELECT count(*) AS n FROM agent_messages WHERE status = 'created'",
      ))?.n,
    );
    if (left === 0) return 0;
    await new Promise((r) => setTimeout(r, 250));
  }
  return left;
}

async function sigkillUnderLoad(c: Instances, setup: DurabilitySetup, dataSourcePath: string) {
  const [a, , victim] = c.instances;
  // A run the victim is generating, and a stream open on the victim following it.
  const { cId, messages } = await createConversation(
    victim.url,
    setup,
    setup.memberToken,
    "SLOW-STREAM tell me a long story",
    [{ configurationId: "dust" }],
  );
  const mId = messages.find((m: Json) => m.type === "agent_message").sId as string;
  const seen = await readFrames(
    await openEvents(victim, setup, cId),
    (d) => d.type === "agent_message_new",
    15_000,
  );
  const lastEventId = seen.at(-1)!.eventId;
  // Its tokens are streaming: the run is in the middle of its answer.
  const tokens = await readFrames(
    await fetch(`${victim.url}${conversationsPath(setup)}/${cId}/messages/${mId}/events`, {
      headers: { authorization: `Bearer ${setup.memberToken}` },
    }),
    (d) => d.type === "generation_tokens",
    15_000,
  );
  assert.ok(tokens.some((f) => f.data.type === "generation_tokens"), "the run was streaming");

  const ledger = new Ledger();
  ledger.mcpToken.current = setup.mcpToken;
  ledger.scopedConversationSId = cId;
  const ctx = (round: number, ms: number): LoadContext => ({
    base: c.publicUrl,
    setup,
    dataSourcePath,
    ledger,
    seed: SEED,
    round,
    killed: false,
    deadline: Date.now() + ms,
    errors: [],
  });
  const first = ctx(1, 8_000);
  const writers = runWriters(first);
  await new Promise((r) => setTimeout(r, 1_500 + Math.floor(seededRandom(SEED)() * 1_500)));
  first.killed = true;
  await victim.kill();
  await writers;
  assert.deepEqual(first.errors, [], `seed ${SEED}: errors before the kill`);

  // The survivors keep serving the same load.
  const second = ctx(2, 3_000);
  await runWriters(second);
  assert.deepEqual(second.errors, [], `seed ${SEED}: errors on the surviving instances`);

  // The dead instance's run is taken over (lease + a tick) and ends failed there.
  assert.equal(await waitForAgentsDone(c), 0, "every agent message ended");
  const m = await agentMessage(a.url, setup, cId);
  assert.equal(m.status, "failed");
  assert.deepEqual(m.error, {
    code: "agent_interrupted",
    message: TAKEN_OVER_MESSAGE,
    metadata: null,
  });
  // The stream resumes on A after the last event read on the victim: the rest, each once.
  const resumed = await readFrames(
    await openEvents(a, setup, cId, lastEventId),
    (d) => d.type === "agent_message_done" && d.messageId === mId,
    20_000,
  );
  const ids = resumed.map((f) => Number(f.eventId));
  assert.ok(ids.every((id) => id > Number(lastEventId)), "nothing already read comes again");
  assert.equal(new Set(ids).size, ids.length, "each event once");
  const done = resumed.find((f) => f.data.type === "agent_message_done");
  assert.equal(done?.data.status, "failed");

  const scoped = await readScopedFiles(c, setup, ledger.scopedConversationSId);
  const failures = [
    ...verifyScopedFilesOnDisk(ledger, scoped),
    ...await verifyLedger(c.publicUrl, setup, dataSourcePath, ledger),
  ];
  assert.deepEqual(failures, [], `seed ${SEED}: lost or damaged writes`);
  console.log(
    `[multi] seed ${SEED}: acknowledged ${JSON.stringify(ledger.counts())}; in flight at the ` +
      `kill ${JSON.stringify(Object.fromEntries(ledger.inFlight))}; forwarded ${c.proxy.forwarded}`,
  );
}

Deno.test({
  name: "[multi] three instances on one PostgreSQL database behind one URL",
  ignore: testEngine() !== "postgres",
  fn: async (t) => {
    console.log(`[multi] seed=${SEED} (replay: DURABILITY_SEED=${SEED})`);
    await using model = await startFakeModel([modelScript]);
    const flags = {
      ...model.flags,
      "work-lease-seconds": String(LEASE_SECONDS),
      // One member's load over three instances: the per-instance share must not refuse it.
      "mcp-rate-user": "100000",
      "mcp-rate-client": "100000",
      "mcp-rate-requests": "100000",
    };
    await using c = await startInstances(3, { flags });
    const setup = await prepareDataDir(c.dataDir, c.env);
    const spaces = await call(c.publicUrl, `/api/v1/w/${setup.workspaceSId}/spaces`, {
      token: setup.adminToken,
    });
    const global = spaces.body.spaces.find((s: Json) => s.kind === "global").sId;
    const ds = await call(
      c.publicUrl,
      `/api/v1/w/${setup.workspaceSId}/spaces/${global}/data_sources`,
      { method: "POST", token: setup.adminToken, json: { name: "Multi docs" } },
    );
    assert.equal(ds.status, 200, JSON.stringify(ds.body));
    const dataSourcePath =
      `/api/v1/w/${setup.workspaceSId}/spaces/${global}/data_sources/${ds.body.data_source.sId}`;

    await t.step(
      "REST writes and MCP tool calls spread over the instances",
      () => writesSpreadOverInstances(c, setup),
    );
    await t.step(
      "an event stream on A follows messages posted on B and C",
      () => streamFollowsOtherInstances(c, setup),
    );
    await t.step(
      "relay: request stream on A, agent run on B, result posted to C",
      () => relayAcrossInstances(c, setup),
    );
    await t.step(
      "a token revoked on A is refused on B at once",
      () => revokeOnAIsRefusedOnB(c, setup),
    );
    await t.step(
      "SIGKILL one instance under load: nothing acknowledged lost",
      () => sigkillUnderLoad(c, setup, dataSourcePath),
    );
  },
});
