/**
 * Finding 8 of issue 10: 64 concurrent REST searches by one member moved another workspace's
 * 1 ms search to ~4 s (two shared workers, first come first served). Each member now has a
 * search budget (running + waiting; past it 429 in the surface's shape) and the workers serve
 * workspaces and members round-robin. Bounded, not timed: the member's running slot is held
 * by a slow job of their own, so their budget is full while the requests arrive.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { apiJson } from "../helpers/fixtures.ts";
import { actorOf, createFolder, globalSpaceSId, putDocument } from "../helpers/knowledge.ts";
import { connectV1, createMcpUser, errorOf, payloadOf } from "../mcp/helpers.ts";
import { searchOwnerOf } from "../../src/core/search_worker.ts";

// ~1.5 s of RE2 work on one worker (see tests/core/search_worker_test.ts): the requests below
// arrive within milliseconds of it.
const slow = {
  text: ("ab".repeat(500) + "\n").repeat(8_000),
  source: "(?i)(a|b|ab|ba)*(c|d)*x{1,100}",
  maxMatches: 50,
  lineMaxChars: 1e6,
};

Deno.test("[security] a member flooding searches gets 429 (REST envelope, MCP isError) past their budget; another workspace's member is still served", async () => {
  await using server = await startTestServer({
    // Refusals answered at once here (their hold is tested on the pool): the slow job must
    // still be running when the MCP call arrives.
    flags: {
      "search-member-concurrency": "1",
      "search-member-queue": "1",
      "search-refusal-delay-ms": "0",
    },
  });
  const alice = await createMcpUser(server, { email: "alice@example.com", role: "admin" });
  const eve = await createMcpUser(server, { email: "eve@example.com", role: "admin" });
  for (const u of [alice, eve]) {
    const a = actorOf(u);
    const where = { spaceId: await globalSpaceSId(server, u.workspace), dataSourceId: "" };
    where.dataSourceId = await createFolder(server, a, where.spaceId, "Notes");
    await putDocument(server, a, where, "doc", "walrus notes");
  }
  await using mcp = await connectV1(server, alice.mcpToken);
  const search = (u: typeof alice) =>
    apiJson(server, u.token, `/api/v1/w/${u.workspace.sId}/search?query=walrus`);

  // Alice's one running search: a slow job of hers holds her slot on one of the two workers.
  const hold = server.deps.searchWorkers.grep(slow, {
    owner: searchOwnerOf(actorOf(alice)),
    timeoutMs: 30_000,
  });
  // Her flood: one request waits (her queue of 1), every other one is refused at once.
  const flood = Array.from({ length: 8 }, () => search(alice));
  const refused: Awaited<ReturnType<typeof search>>[] = [];
  await new Promise<void>((resolve) => {
    for (const p of flood) {
      void p.then((r) => refused.push(r) === 7 && resolve());
    }
  });
  for (const r of refused) {
    assert.equal(r.status, 429);
    assert.equal(r.body.error.type, "rate_limit_error");
    assert.match(r.body.error.message, /at most 1 running and 1 waiting per member/);
    assert.equal(r.headers.get("Retry-After"), "1");
  }
  // The same budget on MCP, as a tool error.
  const tool = await mcp.callTool({ name: "search", arguments: { query: "walrus" } });
  assert.match(errorOf(tool), /Too many searches in progress/);
  // Another workspace's member finds a free worker while Alice's flood waits.
  const other = await search(eve);
  assert.equal(other.status, 200);
  assert.equal(other.body.count, 1);

  const answers = await Promise.all(flood);
  const served = answers.filter((r) => r.status === 200);
  assert.equal(served.length, 1);
  assert.equal(served[0].body.count, 1);
  assert.deepEqual((await hold).capped, false);
  // The budget is back once her searches are done.
  const after = await mcp.callTool({ name: "search", arguments: { query: "walrus" } });
  assert.equal((payloadOf(after) as { count: number }).count, 1);
});
