/**
 * `dust-mcp bridge` end to end: the official filesystem MCP server (npm
 * `@modelcontextprotocol/server-filesystem`, a real stdio server) on a temp directory, put
 * behind a real server's relay by the bridge process; an agent (scripted model) reads a file
 * through it without asking (read-only tool, `--ask writes`), the server stops and starts again
 * on the same data directory and port, the bridge reconnects with its registration and cursor,
 * and the agent writes a file through it after the user approved (a destructive tool asks).
 * Failures: a bad token and a local command that does not start are one line and exit 1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { dustApiFor } from "../helpers/local_mcp.ts";
import { type ChatRequest, lastToolResult, startFakeModel } from "../helpers/fake_model.ts";
import { postAgainAndFollow, postAndFollow } from "../helpers/approvals.ts";
import { filesystemServer, startBridge } from "../helpers/bridge.ts";
import { runBridge } from "../../src/bridge/bridge.ts";

const TOOL = "secure_filesystem_server__";

Deno.test("[bridge] an agent reads and writes local files through the bridge, before and after a server restart", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dust-mcp-bridge-files-" }));
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bridge-data-" });
  await Deno.writeTextFile(join(dir, "note.txt"), "the answer is 42");
  await using model = await startFakeModel([
    { toolCalls: [{ name: `${TOOL}read_text_file`, arguments: { path: join(dir, "note.txt") } }] },
    (req: ChatRequest) => ({ content: `Read: ${lastToolResult(req)}` }),
    {
      toolCalls: [{
        name: `${TOOL}write_file`,
        arguments: { path: join(dir, "after.txt"), content: "written after the restart" },
      }],
    },
    (req: ChatRequest) => ({ content: `Wrote: ${lastToolResult(req)}` }),
  ]);
  let server = await startTestServer({ dataDir, flags: model.flags });
  const url = server.url;
  const port = new URL(url).port;
  try {
    const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
    await using bridge = startBridge(
      [
        "--url",
        url,
        "--workspace",
        alice.workspace.sId,
        "--token",
        "-",
        "--",
        ...filesystemServer(dir),
      ],
      { stdin: `${alice.token}\n` },
    );
    const connected = await bridge.waitForLine(/connected as (mcp-client-side:\S+)/, 60_000);
    const [line, serverId] = [connected.input!, connected[1]];
    assert.match(
      line,
      /\[secure-filesystem-server\]/,
      `registered under the server's own name: ${line}`,
    );
    assert.match(
      line,
      /ask first: .*write_file\*/,
      `the status line says which tools ask: ${line}`,
    );

    // The server lists the registration (connected access page's source).
    const reg = await server.deps.db.get(
      "SELECT server_name FROM relay_registrations WHERE server_id = ?",
      serverId,
    ) as { server_name: string } | undefined;
    assert.equal(reg?.server_name, "secure-filesystem-server");

    const api = dustApiFor(server, alice.token, alice.workspace.sId);
    const first = await postAndFollow(api, "What does the note say?", {
      clientSideMCPServerIds: [serverId],
    });
    const read = await first.events.until("agent_message_success", 30_000);
    assert.equal(read.message.content, "Read: the answer is 42");
    assert.ok(
      !first.events.types().includes("tool_approve_execution"),
      "a read-only tool runs without asking",
    );
    await first.events[Symbol.asyncDispose]();

    // Restart: same data directory, same port. The bridge keeps its registration.
    const mark = bridge.lines.length;
    await server.stop();
    await bridge.waitForLine(/connection lost/, 30_000, mark);
    server = await startTestServer({
      dataDir,
      publicUrl: url,
      flags: { ...model.flags, port },
    });
    await bridge.waitForLine(
      new RegExp(`reconnected \\(${serverId.replace(".", "\\.")}\\)`),
      60_000,
      mark,
    );

    const api2 = dustApiFor(server, alice.token, alice.workspace.sId);
    const second = await postAgainAndFollow(api2, first.conversationId, "Write a file", [serverId]);
    const ask = await second.events.until("tool_approve_execution", 30_000);
    assert.equal(ask.stake, "high", "a destructive tool asks every time");
    assert.equal(ask.metadata.toolName, "write_file");
    const ok = await api2.validateAction({
      conversationId: second.conversationId,
      messageId: second.agentMessageId,
      actionId: ask.actionId,
      approved: "approved",
    });
    assert.ok(ok.isOk(), JSON.stringify(ok.isErr() && ok.error));
    const wrote = await second.events.until("agent_message_success", 30_000);
    assert.match(wrote.message.content, /^Wrote: .*after\.txt/);
    assert.equal(await Deno.readTextFile(join(dir, "after.txt")), "written after the restart");
    await second.events[Symbol.asyncDispose]();

    // Stopping the bridge removes its registration.
    assert.equal(await bridge.stop(), 0);
    const left = await server.deps.db.get(
      "SELECT COUNT(*) AS n FROM relay_registrations WHERE server_id = ?",
      serverId,
    ) as { n: number };
    assert.equal(Number(left.n), 0, "deregistered on exit");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("[bridge] a registration that expired while the server was down is registered again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-bridge-files-" });
  const dataDir = await Deno.makeTempDir({ prefix: "dust-mcp-bridge-data-" });
  let server = await startTestServer({ dataDir });
  const url = server.url;
  try {
    const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
    await using bridge = startBridge([
      "--url",
      url,
      "--workspace",
      alice.workspace.sId,
      "--token",
      alice.token,
      "--names",
      "My files",
      "--",
      ...filesystemServer(dir),
    ]);
    const first = (await bridge.waitForLine(/\[My files\] connected as (\S+)/, 60_000))[1];
    // The server is down longer than the registration's 10 minutes: it has expired.
    await server.deps.db.run("UPDATE relay_registrations SET expires_at = 0");
    const mark = bridge.lines.length;
    await server.stop();
    server = await startTestServer({
      dataDir,
      publicUrl: url,
      flags: { port: new URL(url).port },
    });
    await bridge.waitForLine(/registration expired; registering again/, 60_000, mark);
    const again = (await bridge.waitForLine(/\[My files\] connected as (\S+)/, 60_000, mark))[1];
    assert.notEqual(again, first, "a new registration");
    const row = await server.deps.db.get(
      "SELECT server_name FROM relay_registrations WHERE server_id = ? AND expires_at > ?",
      again,
      Date.now(),
    ) as { server_name: string } | undefined;
    assert.equal(row?.server_name, "My files");
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("[bridge] a bad token, an unknown workspace or a URL without a relay is one line and exit 1", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const dir = await Deno.makeTempDir({ prefix: "dust-mcp-bridge-files-" });
  try {
    await using bridge = startBridge([
      "--url",
      server.url,
      "--workspace",
      alice.workspace.sId,
      "--token",
      "not-a-token",
      "--",
      ...filesystemServer(dir),
    ]);
    assert.equal(await bridge.exited(60_000), 1);
    const ours = bridge.lines.filter((l) => l.startsWith("dust-mcp"));
    assert.equal(ours.length, 1, bridge.lines.join("\n"));
    assert.match(
      ours[0],
      /^dust-mcp: bridge: the server refused the token \(401: .*\); check --token$/,
    );
    // A workspace id that names nothing, or a URL with no relay: one line too, not retried.
    for (
      const [url, wId, expected] of [
        [server.url, "nope", /check --url and --workspace$/],
        [`${server.url}/elsewhere`, alice.workspace.sId, /check --url and --workspace$/],
      ] as [string, string, RegExp][]
    ) {
      await using other = startBridge([
        "--url",
        url,
        "--workspace",
        wId,
        "--token",
        alice.token,
        "--",
        ...filesystemServer(dir),
      ]);
      assert.equal(await other.exited(60_000), 1, other.lines.join("\n"));
      const said = other.lines.filter((l) => l.startsWith("dust-mcp"));
      assert.equal(said.length, 1, other.lines.join("\n"));
      assert.match(said[0], expected);
    }
    const n = await server.deps.db.get("SELECT COUNT(*) AS n FROM relay_registrations") as {
      n: number;
    };
    assert.equal(Number(n.n), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[bridge] a local command that does not start, or is not an MCP server, is one line and exit 1", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const base = ["--url", server.url, "--workspace", alice.workspace.sId, "--token", alice.token];
  const cases: [string[], RegExp][] = [
    [["/nonexistent/mcp-server", "x"], /\/nonexistent\/mcp-server x: command not found/],
    [
      ["node", "-e", "console.error('no config file'); process.exit(3)"],
      /did not start an MCP server on standard I\/O: .*\(it said: no config file\)/,
    ],
  ];
  for (const [command, expected] of cases) {
    await using bridge = startBridge([...base, "--", ...command]);
    assert.equal(await bridge.exited(60_000), 1, bridge.lines.join("\n"));
    const ours = bridge.lines.filter((l) => l.startsWith("dust-mcp: "));
    assert.equal(ours.length, 1, bridge.lines.join("\n"));
    assert.match(ours[0], expected);
  }
  const n = await server.deps.db.get("SELECT COUNT(*) AS n FROM relay_registrations") as {
    n: number;
  };
  assert.equal(Number(n.n), 0, "nothing registered");
});

Deno.test("[bridge] usage: no command, an empty group, or an unknown --ask is exit 2", async () => {
  const base = ["--url", "http://127.0.0.1:9", "--workspace", "w", "--token", "t"];
  for (
    const [args, expected] of [
      [base, /bridge needs a command after each --/],
      [[...base, "--", "node", "--"], /bridge needs a command after each --/],
      [[...base, "--ask", "sometimes", "--", "node"], /--ask: "sometimes" is not one of/],
      [[...base, "--names", "a,b", "--", "node"], /--names: 2 names for 1 command/],
    ] as [string[], RegExp][]
  ) {
    await using bridge = startBridge(args);
    assert.equal(await bridge.exited(60_000), 2, bridge.lines.join("\n"));
    assert.match(bridge.lines.join("\n"), expected);
  }
});

Deno.test("[bridge] in process: two servers; a heartbeat that finds its registration gone registers that one again", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const dirs = [
    await Deno.makeTempDir({ prefix: "dust-mcp-bridge-a-" }),
    await Deno.makeTempDir({ prefix: "dust-mcp-bridge-b-" }),
  ];
  const lines: string[] = [];
  const stop = new AbortController();
  const waitFor = async (re: RegExp, from = 0, ms = 30_000) => {
    const until = Date.now() + ms;
    for (;;) {
      const m = lines.slice(from).map((l) => l.match(re)).find((x) => x);
      if (m) return m;
      if (Date.now() > until) throw new Error(`no line ${re}:\n${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const running = runBridge(
    {
      url: server.url,
      workspaceId: alice.workspace.sId,
      token: alice.token,
      servers: dirs.map((d, i) => ({ command: filesystemServer(d), name: `Files ${i + 1}` })),
      ask: "all",
      timings: { heartbeatMs: 100 },
    },
    (l) => lines.push(l),
    stop.signal,
  );
  try {
    const one =
      (await waitFor(/\[Files 1\] connected as (\S+) \(14 tools: 0 run without asking/))[1];
    const two = (await waitFor(/\[Files 2\] connected as (\S+)/))[1];
    assert.notEqual(one, two);
    const mark = lines.length;
    await server.deps.db.run("DELETE FROM relay_registrations WHERE server_id = ?", one);
    await waitFor(/\[Files 1\] registration expired; registering again/, mark);
    const again = (await waitFor(/\[Files 1\] connected as (\S+)/, mark))[1];
    assert.notEqual(again, one);
    const live = await server.deps.db.all(
      "SELECT server_id FROM relay_registrations ORDER BY server_id",
    ) as { server_id: string }[];
    assert.deepEqual(live.map((r) => r.server_id).sort(), [again, two].sort());
  } finally {
    stop.abort();
    assert.equal(await running, 0);
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
  const left = await server.deps.db.get("SELECT COUNT(*) AS n FROM relay_registrations") as {
    n: number;
  };
  assert.equal(Number(left.n), 0, "both deregistered on stop");
});
