/**
 * `migrate-data` moves a real instance: populated on SQLite + local files through REST and MCP,
 * stopped, moved into an empty PostgreSQL database (and an empty S3 prefix when the suite has an
 * S3 server; else its bytes stay in the data directory), then served from the new engines and
 * used through REST and MCP. Runs in the PostgreSQL pass (`DUST_MCP_TEST_DATABASE=postgres`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestServer, testEngine } from "../helpers/server.ts";
import { createPgTestDatabase } from "../helpers/pg_test_db.ts";
import { awsEnv } from "../helpers/test_files.ts";
import { apiJson, bearer, createUserWithToken } from "../helpers/fixtures.ts";
import { createPasswordUser } from "../helpers/oauth_client.ts";
import { connect, postForm } from "../helpers/oauth_flow.ts";
import { messageBody } from "../helpers/conversations.ts";
import { connectV1, payloadOf } from "../mcp/helpers.ts";
import { tempDataDir } from "./capture_io.ts";
import {
  countsOf,
  migrateData,
  prefixCleanup,
  sha256,
  startSource,
  targetArgs,
  targetFilesUrl,
  uploadFile,
  withSource,
} from "../helpers/migrate_data.ts";

const onPostgres = testEngine() === "postgres";

Deno.test({
  name:
    "[cli] migrate-data moves a populated SQLite instance to PostgreSQL; it then serves REST and MCP",
  ignore: !onPostgres,
  async fn() {
    await using dir = await tempDataDir();
    await using target = await createPgTestDatabase({ empty: true });
    const filesUrl = targetFilesUrl();
    await using _files = prefixCleanup(filesUrl);

    // --- populate on SQLite + local files, through REST and MCP -----------------------------
    const source = await startSource(dir.path);
    const publicUrl = source.config.publicUrl;
    const aliceP = await createPasswordUser(source, { email: "alice@example.com", role: "admin" });
    const alice = await createUserWithToken(source, {
      email: "alice@example.com",
      role: "admin",
      workspace: aliceP.workspace,
    });
    const bob = await createUserWithToken(source, {
      email: "bob@example.com",
      role: "user",
      workspace: aliceP.workspace,
    });
    const wId = alice.workspace.sId;
    const w = `/api/v1/w/${wId}`;
    const key = await apiJson(source, alice.token, `${w}/api_keys`, {
      method: "POST",
      body: { name: "ci" },
    });
    assert.equal(key.status, 200, JSON.stringify(key.body));
    const pod = await apiJson(source, alice.token, `${w}/spaces`, {
      method: "POST",
      body: { kind: "project", name: "Launch", members: [bob.user.sId] },
    });
    const podId = pod.body.space.sId as string;
    const taskTexts = ["write the plan", "ship it", "celebrate"];
    for (const text of taskTexts) {
      const t = await apiJson(source, bob.token, `${w}/spaces/${podId}/tasks`, {
        method: "POST",
        body: { text },
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
    }
    const spaces = await apiJson(source, alice.token, `${w}/spaces`);
    const globalId = spaces.body.spaces.find((s: { kind: string }) => s.kind === "global").sId;
    const ds = await apiJson(source, alice.token, `${w}/spaces/${globalId}/data_sources`, {
      method: "POST",
      body: { name: "Handbook" },
    });
    const dsId = ds.body.data_source.sId as string;
    for (let i = 0; i < 30; i++) {
      const d = await apiJson(
        source,
        alice.token,
        `${w}/spaces/${globalId}/data_sources/${dsId}/documents/doc-${i}`,
        {
          method: "POST",
          body: {
            title: i === 17 ? "Zeppelin policy" : `Page ${i}`,
            text: `${i === 17 ? "Every zeppelin needs a hangar. " : ""}${
              "filler text ".repeat(200)
            }`,
          },
        },
      );
      assert.equal(d.status, 200, JSON.stringify(d.body));
    }
    const conv = await apiJson(source, alice.token, `${w}/assistant/conversations`, {
      method: "POST",
      body: { title: "Over REST", message: messageBody("first over rest", []) },
    });
    const restConv = conv.body.conversation.sId as string;
    await apiJson(source, alice.token, `${w}/assistant/conversations/${restConv}/messages`, {
      method: "POST",
      body: messageBody("second over rest", []),
    });
    const small = crypto.getRandomValues(new Uint8Array(1000));
    // Larger than one S3 part (8 MiB): a multipart copy on S3.
    const large = new Uint8Array(9 * 1024 * 1024 + 123);
    for (let i = 0; i < large.length; i += 65536) {
      crypto.getRandomValues(large.subarray(i, i + 65536));
    }
    const uploaded = [
      {
        ...(await uploadFile(source, alice.token, wId, restConv, "small.bin", small)),
        bytes: small,
      },
      {
        ...(await uploadFile(source, alice.token, wId, restConv, "large.bin", large)),
        bytes: large,
      },
    ];
    const oauth = await connect(source.url, aliceP);
    let mcpConv: string;
    {
      await using c = await connectV1(source, oauth.tokens.access_token);
      mcpConv = payloadOf<{ conversationId: string }>(
        await c.callTool({
          name: "create_conversation",
          arguments: { title: "Over MCP", message: "first over mcp", agentName: null },
        }),
      ).conversationId;
      payloadOf(
        await c.callTool({
          name: "create_conversation_message",
          arguments: { conversationId: mcpConv, message: "second over mcp", agentName: null },
        }),
      );
      payloadOf(
        await c.callTool({
          name: "files_create",
          arguments: {
            scope: { type: "pod", pod_id: podId },
            path: `pod-${podId}/notes.md`,
            content: "moved notes\n",
            content_type: "text/markdown",
          },
        }),
      );
    }
    await source.stop();
    // Retention pruned every stream event: SQLite's AUTOINCREMENT still remembers the last id
    // handed out (clients resume from event ids), and the new engine must not reuse it.
    const lastEventId = await withSource(dir.path, async (db) => {
      await db.run("DELETE FROM stream_events");
      return Number(
        (await db.get<{ seq: number }>(
          "SELECT seq FROM sqlite_sequence WHERE name = 'stream_events'",
        ))!.seq,
      );
    });
    assert.ok(lastEventId > 0);

    // --- move ---------------------------------------------------------------------------------
    const moved = await migrateData(dir.path, targetArgs(target.url, filesUrl));
    assert.equal(moved.code, 0, moved.err.join("\n") + moved.out.join("\n"));
    const out = moved.out.join("\n");
    assert.match(out, /counts equal in every table/);
    assert.match(
      out,
      filesUrl ? /files: 3\/3 copied to s3:\/\/.* verified, SHA-256 equal/ : /files: stay in/,
    );
    assert.match(out, /^done in [\d.]+ s: \d+ rows in \d+ tables/m);
    const counts = await countsOf(dir.path, target.url);
    for (const [t, [a, b]] of Object.entries(counts)) assert.equal(b, a, `rows of ${t}`);
    for (
      const t of [
        "users",
        "documents",
        "document_chunks",
        "messages",
        "files",
        "api_keys",
        "oauth_grants",
        "audit_log",
        "pod_tasks",
        "signing_keys",
        "mcp_server_views",
        "storage_usage",
      ]
    ) {
      assert.ok(counts[t][0] > 0, `the source has ${t} rows`);
    }
    if (filesUrl) {
      // Every blob is in the bucket: the new server cannot fall back on the data directory.
      await Deno.remove(join(dir.path, "files"), { recursive: true });
    }

    // --- serve from the new engines -----------------------------------------------------------
    await using server = await startTestServer({
      dataDir: dir.path,
      publicUrl,
      files: filesUrl ? undefined : "local",
      flags: { "database-url": target.url, ...(filesUrl ? { "files-url": filesUrl } : {}) },
      env: awsEnv(),
    });
    assert.equal(server.deps.db.engine, "postgres");
    assert.equal(server.deps.files.kind, filesUrl ? "s3" : "local");
    // REST: the conversation reads back, the files download identical, the API key works.
    const readBack = await apiJson(server, alice.token, `${w}/assistant/conversations/${restConv}`);
    assert.equal(readBack.status, 200, JSON.stringify(readBack.body));
    const texts = readBack.body.conversation.content.flat().map((m: { content?: string }) =>
      m.content
    );
    assert.ok(texts.includes("first over rest") && texts.includes("second over rest"));
    for (const f of uploaded) {
      const dl = await fetch(`${server.url}${f.path}?action=download`, {
        headers: bearer(alice.token),
      });
      assert.equal(dl.status, 200);
      assert.equal(sha256(new Uint8Array(await dl.arrayBuffer())), sha256(f.bytes));
    }
    const byKey = await apiJson(server, key.body.secret, `${w}/spaces`);
    assert.equal(byKey.status, 200, "the API key moved");
    // MCP with the access token issued before the move: signing keys and grant moved.
    {
      await using c = await connectV1(server, oauth.tokens.access_token);
      const found = payloadOf<{ results: { title: string }[] }>(
        await c.callTool({ name: "search", arguments: { query: "zeppelin hangar" } }),
      );
      assert.equal(found.results[0]?.title, "Zeppelin policy");
      const msgs = payloadOf<{ messages: string }>(
        await c.callTool({
          name: "get_conversation_messages",
          arguments: { conversationId: mcpConv },
        }),
      );
      assert.ok(
        msgs.messages.includes("first over mcp") && msgs.messages.includes("second over mcp"),
      );
      const tasks = payloadOf<{ tasks: { text: string }[] }>(
        await c.callTool({ name: "get_pod_tasks", arguments: { podId } }),
      );
      assert.deepEqual(tasks.tasks.map((t) => t.text).sort(), [...taskTexts].sort());
      const cat = payloadOf<{ text: string }>(
        await c.callTool({
          name: "files_cat",
          arguments: { scope: { type: "pod", pod_id: podId }, path: `pod-${podId}/notes.md` },
        }),
      );
      assert.match(cat.text, /moved notes/);
    }
    // The refresh token moved too.
    const refreshed = await postForm(`${server.url}/token`, {
      grant_type: "refresh_token",
      refresh_token: oauth.tokens.refresh_token,
      client_id: oauth.clientId,
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    // New rows get fresh ids (sequences restarted past the copied ones) and counters moved.
    const more = await apiJson(
      server,
      alice.token,
      `${w}/assistant/conversations/${restConv}/messages`,
      {
        method: "POST",
        body: messageBody("third, after the move", []),
      },
    );
    assert.equal(more.status, 200, JSON.stringify(more.body));
    const doc = await apiJson(
      server,
      alice.token,
      `${w}/spaces/${globalId}/data_sources/${dsId}/documents/after-move`,
      {
        method: "POST",
        body: { title: "After", text: "written on postgres" },
      },
    );
    assert.equal(doc.status, 200, JSON.stringify(doc.body));
    const task = await apiJson(server, bob.token, `${w}/spaces/${podId}/tasks`, {
      method: "POST",
      body: { text: "after the move" },
    });
    assert.equal(task.status, 200, JSON.stringify(task.body));
    const events = await server.deps.db.get<{ first: number }>(
      "SELECT MIN(id) AS first FROM stream_events",
    );
    assert.ok(events!.first > lastEventId, `event ids continue after ${lastEventId}`);
    const views = await server.deps.db.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM mcp_server_views",
    );
    assert.equal(views!.n, counts.mcp_server_views[0], "no tool views added by the copy");
  },
});
