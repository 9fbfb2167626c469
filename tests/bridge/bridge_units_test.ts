/**
 * The bridge's pure parts: the stakes each `--ask` policy declares, the SSE reader (a `\r\n`
 * cut between two chunks is one line end, not two), registrable names, command groups.
 */
import assert from "node:assert/strict";
import { declareStakes, stakeFor } from "../../src/bridge/stakes.ts";
import { readSseFrames } from "../../src/bridge/sse.ts";
import { serverNameFor } from "../../src/bridge/bridge.ts";
import { commandGroups, serverUrl } from "../../src/bridge/cli_bridge.ts";
import { clientSideStake } from "../../src/agents/tools.ts";

const READ = { annotations: { readOnlyHint: true } };
const DESTROY = { annotations: { destructiveHint: true } };
const PLAIN = {};

Deno.test("[bridge] --ask policies: writes asks for all but read-only tools, all asks for every tool, none for none", () => {
  assert.deepEqual([READ, PLAIN, DESTROY].map((t) => stakeFor("writes", t)), [
    "never_ask",
    "low",
    "high",
  ]);
  assert.deepEqual([READ, PLAIN, DESTROY].map((t) => stakeFor("all", t)), ["low", "low", "high"]);
  assert.deepEqual([READ, PLAIN, DESTROY].map((t) => stakeFor("none", t)), [
    "never_ask",
    "never_ask",
    "never_ask",
  ]);
});

Deno.test("[bridge] declared stakes overwrite the local server's own and are what the server applies", () => {
  const listed = {
    tools: [
      { name: "read", ...READ, _meta: { other: 1 } },
      // A local server cannot lower its own stake: the bridge's policy decides.
      { name: "wipe", ...DESTROY, _meta: { "dust-mcp/stake": "never_ask" } },
    ],
    nextCursor: "c",
  };
  const out = declareStakes("writes", listed) as typeof listed;
  assert.equal(out.nextCursor, "c");
  assert.deepEqual(out.tools.map((t) => t._meta), [
    { other: 1, "dust-mcp/stake": "never_ask" },
    { "dust-mcp/stake": "high" },
  ]);
  assert.deepEqual(out.tools.map(clientSideStake), ["never_ask", "high"]);
  // Without a declaration, Dust's defaults for client-side tools.
  assert.equal(clientSideStake({ ...READ }), "low");
  assert.equal(clientSideStake({ ...DESTROY }), "high");
  assert.equal(clientSideStake({ _meta: { "dust-mcp/stake": "medium" } }), "high");
  assert.equal(clientSideStake({ _meta: { "dust-mcp/stake": "whatever" } }), "low");
  const notAList = { content: [] };
  assert.equal(declareStakes("writes", notAList), notAList, "anything else passes unchanged");
});

function bodyOf(chunks: string[]): ReadableStream<Uint8Array> {
  const bytes = chunks.map((c) => new TextEncoder().encode(c));
  return new ReadableStream({
    start(c) {
      for (const b of bytes) c.enqueue(b);
      c.close();
    },
  });
}

Deno.test("[bridge] SSE frames: a CRLF cut between chunks, comments, multi-line data", async () => {
  const frames = [];
  for await (
    const f of readSseFrames(bodyOf([
      "event: dust-handshake\r\ndata: {}\r",
      "\n\r\n: keep-alive\r\n\r\ndata: a\r",
      "\ndata: b\r\n\r\nda",
      "ta: done\n\n",
    ]))
  ) frames.push(f);
  assert.deepEqual(frames, [
    { event: "dust-handshake", data: "{}" },
    { comment: true },
    { data: "a\nb" },
    { data: "done" },
  ]);
});

Deno.test("[bridge] server names fit the relay's 5 to 30 characters; command groups split at --; --url", () => {
  assert.equal(
    serverNameFor(undefined, "secure-filesystem-server", "node"),
    "secure-filesystem-server",
  );
  assert.equal(serverNameFor("Files", "secure-filesystem-server", "node"), "Files");
  assert.equal(serverNameFor(undefined, "fs", "node"), "fs (local)");
  assert.equal(serverNameFor(undefined, "", "/usr/bin/python3"), "python3");
  assert.equal(serverNameFor(undefined, "x".repeat(40), "node").length, 30);
  assert.deepEqual(commandGroups(["a", "b", "--", "c"]), [["a", "b"], ["c"]]);
  assert.throws(() => commandGroups([]), /needs a command/);
  assert.throws(() => commandGroups(["a", "--"]), /needs a command/);
  assert.equal(serverUrl("https://dust.example.com/"), "https://dust.example.com");
  assert.equal(serverUrl("https://dust.example.com/mcp"), "https://dust.example.com");
  assert.equal(serverUrl("https://example.com/dust/"), "https://example.com/dust");
  assert.throws(() => serverUrl("ftp://example.com"), /not an http\(s\) URL/);
});
