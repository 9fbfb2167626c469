/**
 * Truncated SSE reconnects: the relay request stream and the conversation / message event
 * streams opened with real, foreign and garbage ids and `lastEventId` values (query and
 * `Last-Event-ID` header), cut at random moments (before the headers, mid-replay, after the
 * first bytes), many at once, with registrations churning underneath. Both workspaces' relay
 * logs hold pending requests carrying their marker, so a replay of the wrong log shows up.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type FuzzWorld, startFuzzWorld } from "../helpers/fuzz_world.ts";
import { credential, encodeSegment, hostileString, idValue } from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { checkProperty } from "../helpers/fuzz_run.ts";
import { publishRelayRequest } from "../../src/core/relay_requests.ts";

/** Event ids: real-looking, huge, negative, garbage. */
function lastEventId(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom("0", "1", "2", "999999999999999", "9999999999999999999", "-1", "1.5", "1e3"),
    fc.nat({ max: 50 }).map(String),
    hostileString().map((s) => s.slice(0, 2000)),
  );
}

/** Open a stream and cut it after `cutMs` (possibly before the headers); check what came. */
async function openAndCut(world: FuzzWorld, req: FuzzRequest, cutMs: number): Promise<void> {
  try {
    // Under 10 ms the request itself is aborted (often before the headers); above, the body
    // is read until it idles for cutMs and then cancelled.
    const timeoutMs = cutMs < 10 ? Math.max(1, cutMs) : cutMs + 2000;
    const res = await send(world, { ...req, timeoutMs, sseIdleMs: cutMs });
    checkResponse(world, req, res, "rest");
    if (res.status === 200) {
      assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    }
  } catch (e) {
    // Only a client-side abort (the cut before the headers) is expected here.
    if (!(e instanceof DOMException && e.name === "AbortError")) throw e;
  }
}

async function seedRelayLog(world: FuzzWorld): Promise<void> {
  for (const t of [world.a, world.b]) {
    for (let i = 0; i < 3; i++) {
      await publishRelayRequest(world.server.deps, t.ids.serverId, {
        jsonrpc: "2.0",
        id: i + 1,
        method: "tools/call",
        params: { name: `${t.marker}_tool`, arguments: { n: i } },
      });
    }
  }
}

Deno.test("[fuzz/streams] relay request streams cut at random moments with hostile lastEventId", async () => {
  await using world = await startFuzzWorld();
  await seedRelayLog(world);
  const arb = fc.record({
    serverId: fc.oneof(
      { weight: 3, arbitrary: fc.constant(world.a.ids.serverId) },
      { weight: 2, arbitrary: idValue(world, "serverId") },
    ),
    lastEventId: fc.option(lastEventId()),
    header: fc.option(lastEventId().map((s) => s.replace(/[^\x20-\x7e]/g, ""))),
    creds: credential(world, ["a_token", "a_token", "a_key", "b_token", "none", "garbage"]),
    cutMs: fc.integer({ min: 0, max: 150 }),
  });
  await checkProperty(world, "relay requests", arb, async (c) => {
    const q = new URLSearchParams({ serverId: c.serverId.toWellFormed().slice(0, 2000) });
    if (c.lastEventId !== null) q.set("lastEventId", c.lastEventId.toWellFormed());
    const headers: Record<string, string> = { ...c.creds.header };
    if (c.header !== null) headers["Last-Event-ID"] = c.header;
    const req: FuzzRequest = {
      method: "GET",
      path: `/api/v1/w/${world.a.ids.wId}/mcp/requests?${q}`,
      headers,
      as: c.creds.as,
    };
    await openAndCut(world, req, c.cutMs);
  }, 60);
});

Deno.test("[fuzz/streams] conversation and message event streams cut at random moments", async () => {
  await using world = await startFuzzWorld();
  const arb = fc.record({
    cId: fc.oneof(
      { weight: 3, arbitrary: fc.constant(world.a.ids.cId) },
      { weight: 2, arbitrary: idValue(world, "cId") },
    ),
    mId: fc.option(
      fc.oneof(fc.constant(world.a.ids.mId), idValue(world, "mId")),
      { freq: 2 },
    ),
    lastEventId: fc.option(lastEventId()),
    creds: credential(world, ["a_token", "a_token", "a_key", "b_token", "none", "garbage"]),
    cutMs: fc.integer({ min: 0, max: 150 }),
    raw: fc.boolean(),
  });
  await checkProperty(world, "conversation events", arb, async (c) => {
    const cId = encodeSegment(c.cId.slice(0, 2000), c.raw);
    const base = `/api/v1/w/${world.a.ids.wId}/assistant/conversations/${cId}`;
    const path = c.mId === null
      ? `${base}/events`
      : `${base}/messages/${encodeSegment(c.mId.slice(0, 2000), c.raw)}/events`;
    const q = c.lastEventId === null
      ? ""
      : `?${new URLSearchParams({ lastEventId: c.lastEventId.toWellFormed() })}`;
    const req: FuzzRequest = {
      method: "GET",
      path: `${path}${q}`,
      headers: c.creds.header,
      as: c.creds.as,
    };
    await openAndCut(world, req, c.cutMs);
  }, 60);
});

Deno.test("[fuzz/streams] fifty streams opened at once and dropped, registrations churning, server still streams", async () => {
  await using world = await startFuzzWorld();
  await seedRelayLog(world);
  const auth = { Authorization: `Bearer ${world.a.token}` };
  const wBase = `/api/v1/w/${world.a.ids.wId}`;
  const churnName = "churn-server";
  const opens: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    const path = i % 2
      ? `${wBase}/mcp/requests?serverId=${
        encodeURIComponent(world.a.ids.serverId)
      }&lastEventId=${i}`
      : `${wBase}/assistant/conversations/${world.a.ids.cId}/events?lastEventId=${i}`;
    opens.push(openAndCut(world, { method: "GET", path, headers: auth, as: world.a }, i * 3));
  }
  // Register, heartbeat and deregister a server while the streams come and go.
  for (let i = 0; i < 5; i++) {
    const reg = await send(world, {
      method: "POST",
      path: `${wBase}/mcp/register`,
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ serverName: churnName }),
      as: world.a,
    });
    assert.equal(reg.status, 200, reg.text);
    const serverId = JSON.parse(reg.text).serverId;
    for (const op of ["heartbeat", "deregister", "heartbeat"]) {
      const req: FuzzRequest = {
        method: "POST",
        path: `${wBase}/mcp/${op}`,
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ serverId }),
        as: world.a,
      };
      checkResponse(world, req, await send(world, req), "rest");
    }
  }
  await Promise.all(opens);

  // A fresh reconnect after all that still replays A's pending requests (and only A's).
  const replay: FuzzRequest = {
    method: "GET",
    path: `${wBase}/mcp/requests?serverId=${
      encodeURIComponent(world.a.ids.serverId)
    }&lastEventId=0`,
    headers: auth,
    as: world.a,
    sseIdleMs: 500,
  };
  const res = await send(world, replay);
  checkResponse(world, replay, res, "rest");
  assert.equal(res.status, 200);
  assert.match(res.text, /dust-handshake/);
  assert.ok(res.text.includes(`${world.a.marker}_tool`), res.text.slice(0, 500));
});
