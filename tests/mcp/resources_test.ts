/**
 * MCP resources through real clients (the v1 SDK client on 2025-11-25, the v2 client on
 * 2025-11-25 and on 2026-07-28): listing (paginated, permission-filtered), templates, reading
 * documents, Pod and conversation files (text and binary) and conversation transcripts, the
 * size limit, `resource_link` items in tool results that open with `resources/read`, and the
 * narrowed endpoints. Permissions are the core's: a member who cannot read a restricted space,
 * a Pod or a conversation gets "not found" for its resources, and sees none of them listed.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  actorOf,
  createFolder,
  createPod,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { writeScopeFile } from "../../src/core/scoped_files.ts";
import { createConversation } from "../../src/core/conversations.ts";
import { READ_WHOLE_MAX_BYTES } from "../../src/core/file_system.ts";
import { flushAuditLog } from "../../src/core/audit.ts";
import { DOCUMENTS_PER_PAGE } from "../../src/mcp/resources.ts";
import { documentUri, fileUri } from "../../src/mcp/resource_uris.ts";
import { type AnyClient, CLIENTS, createMcpUser, type McpUser, payloadOf } from "./helpers.ts";

interface Fixture {
  alice: McpUser;
  bob: McpUser;
  podId: string;
  conversationId: string;
  globalDs: { spaceId: string; dataSourceId: string; viewId: string };
  secretDs: { spaceId: string; dataSourceId: string; viewId: string };
  png: Uint8Array;
}

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 255]);

async function viewOf(s: TestServer, dataSourceId: string): Promise<string> {
  return (await s.deps.db.get(
    "SELECT view_s_id FROM data_sources WHERE s_id = ?",
    dataSourceId,
  ) as { view_s_id: string }).view_s_id;
}

async function setup(s: TestServer, extraDocs = 0): Promise<Fixture> {
  const alice = await createMcpUser(s, {
    email: "alice@example.com",
    role: "admin",
    name: "Alice Martin",
  });
  const bob = await createMcpUser(s, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = actorOf(alice);
  const spaceId = await globalSpaceSId(s, alice.workspace);
  const dataSourceId = await createFolder(s, a, spaceId, "handbook");
  await putDocument(
    s,
    a,
    { spaceId, dataSourceId },
    "guides/onboarding",
    "Welcome aboard, zeppelin.",
    {
      title: "Onboarding",
    },
  );
  for (let i = 0; i < extraDocs; i++) {
    await putDocument(s, a, { spaceId, dataSourceId }, `bulk-${i}`, `bulk document ${i}`);
  }
  const secretSpace = await createRestrictedSpace(s, a, "Board", []);
  const secretSource = await createFolder(s, a, secretSpace, "minutes");
  await putDocument(
    s,
    a,
    { spaceId: secretSpace, dataSourceId: secretSource },
    "m1",
    "Secret minutes",
  );
  const podId = await createPod(s, a, "Launch", []);
  const scope = { type: "pod" as const, pod_id: podId };
  const text = new TextEncoder().encode("# Plan\nship it\n");
  await writeScopeFile(s.deps, a, {
    scope,
    rel: "plan.md",
    bytes: text,
    contentType: "text/markdown",
  });
  await writeScopeFile(s.deps, a, {
    scope,
    rel: "img/logo.png",
    bytes: PNG,
    contentType: "image/png",
  });
  const conv = await createConversation(s.deps, a, {
    title: "Roadmap chat",
    message: "What ships first?",
    agentName: null,
  });
  return {
    alice,
    bob,
    podId,
    conversationId: conv.conversationId,
    globalDs: { spaceId, dataSourceId, viewId: await viewOf(s, dataSourceId) },
    secretDs: {
      spaceId: secretSpace,
      dataSourceId: secretSource,
      viewId: await viewOf(s, secretSource),
    },
    png: PNG,
  };
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Every resource, following `nextCursor` (bounded). */
async function listAll(c: AnyClient): Promise<Json[]> {
  const out: Json[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await c.raw.listResources(cursor ? { cursor } : {});
    out.push(...page.resources);
    cursor = page.nextCursor;
    if (!cursor) return out;
  }
  throw new Error("more than 50 pages");
}

async function readOne(c: AnyClient, uri: string): Promise<Json> {
  const r = await c.raw.readResource({ uri });
  assert.equal(r.contents.length, 1);
  assert.equal(r.contents[0].uri, uri);
  return r.contents[0];
}

async function assertNotFound(c: AnyClient, uri: string): Promise<void> {
  await assert.rejects(c.raw.readResource({ uri }), (e: Error & { code?: number }) => {
    assert.ok([-32602, -32002].includes(e.code ?? 0), `code ${e.code}: ${e.message}`);
    return true;
  }, uri);
}

for (const [label, connect] of Object.entries(CLIENTS)) {
  Deno.test(`[mcp resources] ${label}: list, templates and read documents, files and transcripts as the owner`, async () => {
    await using s = await startTestServer();
    const f = await setup(s);
    await using c = await connect(s, f.alice.mcpToken);
    const w = f.alice.workspace.sId;
    const all = await listAll(c);
    const uris = all.map((r) => r.uri);
    const conv = `dust://w/${w}/conversations/${f.conversationId}`;
    const plan = fileUri(w, `pod-${f.podId}/plan.md`);
    const logo = fileUri(w, `pod-${f.podId}/img/logo.png`);
    const onboarding = documentUri(w, f.globalDs.viewId, "guides/onboarding");
    const minutes = documentUri(w, f.secretDs.viewId, "m1");
    for (const u of [conv, plan, logo, onboarding, minutes]) assert.ok(uris.includes(u), u);
    assert.equal(new Set(uris).size, uris.length, "no resource listed twice");
    assert.deepEqual(
      all.find((r) => r.uri === logo),
      {
        uri: logo,
        name: "logo.png",
        title: `pod-${f.podId}/img/logo.png`,
        description: "File of the Pod Launch",
        mimeType: "image/png",
        size: PNG.byteLength,
      },
    );
    assert.equal(onboarding, `dust://w/${w}/documents/${f.globalDs.viewId}/guides%2Fonboarding`);

    const templates = (await c.raw.listResourceTemplates()).resourceTemplates;
    assert.deepEqual(templates.map((t: Json) => t.uriTemplate), [
      "dust://w/{workspaceId}/documents/{dataSourceViewId}/{documentId}",
      "dust://w/{workspaceId}/files/conversation-{conversationId}/{+path}",
      "dust://w/{workspaceId}/files/pod-{podId}/{+path}",
      "dust://w/{workspaceId}/conversations/{conversationId}",
    ]);

    const doc = await readOne(c, onboarding);
    assert.deepEqual([doc.mimeType, doc.text], ["text/plain", "Welcome aboard, zeppelin."]);
    const md = await readOne(c, plan);
    assert.deepEqual([md.mimeType, md.text], ["text/markdown", "# Plan\nship it\n"]);
    const bin = await readOne(c, logo);
    assert.equal(bin.mimeType, "image/png");
    assert.equal(bin.text, undefined);
    assert.deepEqual(Uint8Array.from(atob(bin.blob), (ch) => ch.charCodeAt(0)), f.png);
    const transcript = await readOne(c, conv);
    assert.equal(transcript.mimeType, "text/plain");
    assert.match(
      transcript.text,
      /^# Roadmap chat\n\n>> User \(Alice Martin, alice@example\.com\)/,
    );
    assert.match(transcript.text, /What ships first\?/);
    // The path rules of the file tools hold: no way out of the scope.
    const escape = `dust://w/${w}/files/pod-${f.podId}/img/../plan.md`;
    await assert.rejects(c.raw.readResource({ uri: escape }), /"\.\." segments are not allowed/);
  });

  Deno.test(`[mcp resources] ${label}: a member sees and reads only what the core lets them read`, async () => {
    await using s = await startTestServer();
    const f = await setup(s);
    await using c = await connect(s, f.bob.mcpToken);
    const w = f.alice.workspace.sId;
    const uris = (await listAll(c)).map((r) => r.uri);
    assert.deepEqual(uris, [documentUri(w, f.globalDs.viewId, "guides/onboarding")]);
    assert.equal((await readOne(c, uris[0])).text, "Welcome aboard, zeppelin.");
    for (
      const uri of [
        documentUri(w, f.secretDs.viewId, "m1"),
        fileUri(w, `pod-${f.podId}/plan.md`),
        `dust://w/${w}/conversations/${f.conversationId}`,
        documentUri(w, f.globalDs.viewId, "no-such-document"),
        documentUri("w_other", f.globalDs.viewId, "guides/onboarding"),
        "dust://w/not-a-resource",
        "https://example.com/x",
      ]
    ) {
      await assertNotFound(c, uri);
    }
  });
}

Deno.test("[mcp resources] listing pages through many documents with nextCursor (v1 by pages, v2 aggregating)", async () => {
  await using s = await startTestServer();
  const f = await setup(s, DOCUMENTS_PER_PAGE + 5);
  await using v1 = await CLIENTS["v1 (2025-11-25)"](s, f.bob.mcpToken);
  const first = await v1.raw.listResources({});
  assert.equal(first.resources.length, DOCUMENTS_PER_PAGE);
  assert.equal(typeof first.nextCursor, "string");
  const second = await v1.raw.listResources({ cursor: first.nextCursor });
  assert.equal(second.resources.length, 6);
  assert.equal(second.nextCursor, undefined);
  const names = [...first.resources, ...second.resources].map((r: Json) => r.name);
  assert.equal(new Set(names).size, DOCUMENTS_PER_PAGE + 6);
  await assert.rejects(v1.raw.listResources({ cursor: "garbage!" }), /cursor/i);
  // The v2 client walks the pages itself when called without a cursor.
  await using v2 = await CLIENTS["v2 (auto: 2026-07-28)"](s, f.bob.mcpToken);
  const all = (await v2.raw.listResources()).resources.map((r: Json) => r.name);
  assert.deepEqual(all, names);
  const page = await v2.raw.listResources({ cursor: first.nextCursor });
  assert.deepEqual(page.resources.map((r: Json) => r.name), names.slice(DOCUMENTS_PER_PAGE));
});

Deno.test("[mcp resources] a file over the whole-read limit is refused with a readable error; reads are audited", async () => {
  await using s = await startTestServer();
  const f = await setup(s);
  const scope = { type: "pod" as const, pod_id: f.podId };
  await writeScopeFile(s.deps, actorOf(f.alice), {
    scope,
    rel: "big.txt",
    bytes: new Uint8Array(READ_WHOLE_MAX_BYTES + 1).fill(0x61),
    contentType: "text/plain",
  });
  await using c = await CLIENTS["v2 (auto: 2026-07-28)"](s, f.alice.mcpToken);
  const uri = fileUri(f.alice.workspace.sId, `pod-${f.podId}/big.txt`);
  await assert.rejects(c.raw.readResource({ uri }), /exceeds the 2048 KB limit.*files_cat/);
  await flushAuditLog(s.deps.db);
  const rows = await s.deps.db.all(
    "SELECT tool, outcome, arguments FROM audit_log WHERE tool = 'resources/read'",
  ) as { tool: string; outcome: string; arguments: string }[];
  assert.deepEqual(rows.map((r) => [r.outcome, JSON.parse(r.arguments).uri]), [["error", uri]]);
});

Deno.test("[mcp resources] tool results link the documents, files and conversations they name, and the links open", async () => {
  await using s = await startTestServer();
  const f = await setup(s);
  for (const connect of Object.values(CLIENTS)) {
    await using c = await connect(s, f.alice.mcpToken);
    const links = async (name: string, args: Record<string, unknown>) => {
      const r = await c.callTool({ name, arguments: args });
      payloadOf(r);
      return (r.content as Json[]).filter((x) => x.type === "resource_link");
    };
    const found = await links("search", { query: "zeppelin" });
    assert.equal(found.length, 1);
    assert.equal(found[0].title, "Onboarding");
    assert.equal((await readOne(c, found[0].uri)).text, "Welcome aboard, zeppelin.");
    const fetched = await links("fetch", { id: "guides/onboarding" });
    assert.deepEqual(fetched.map((l) => l.uri), found.map((l) => l.uri));
    const listed = await links("files_list", { scope: { type: "pod", pod_id: f.podId } });
    const mine = listed.filter((l) => !l.title.includes("/notes/"));
    assert.deepEqual(mine.map((l) => [l.title, l.mimeType, l.size]), [
      [`pod-${f.podId}/img/logo.png`, "image/png", PNG.byteLength],
      [`pod-${f.podId}/plan.md`, "text/markdown", 15],
    ]);
    const created = await links("files_create", {
      scope: { type: "pod", pod_id: f.podId },
      path: `pod-${f.podId}/notes/new.txt`,
      content: "twenty-seven bytes of text.",
      content_type: "text/plain",
    });
    assert.equal(created[0].uri, fileUri(f.alice.workspace.sId, `pod-${f.podId}/notes/new.txt`));
    assert.equal((await readOne(c, created[0].uri)).text, "twenty-seven bytes of text.");
    const msgs = await links("get_conversation_messages", { conversationId: f.conversationId });
    assert.match((await readOne(c, msgs[0].uri)).text, /What ships first\?/);
  }
});

Deno.test("[mcp resources] a narrowed endpoint lists, templates and reads only its toolsets' resources", async () => {
  await using s = await startTestServer();
  const f = await setup(s);
  const w = f.alice.workspace.sId;
  for (const connect of Object.values(CLIENTS)) {
    await using c = await connect(s, f.alice.mcpToken, "/mcp/x/search");
    const uris = (await listAll(c)).map((r) => r.uri);
    assert.deepEqual(
      uris.sort(),
      [
        documentUri(w, f.globalDs.viewId, "guides/onboarding"),
        documentUri(w, f.secretDs.viewId, "m1"),
      ].sort(),
    );
    const templates = (await c.raw.listResourceTemplates()).resourceTemplates;
    assert.deepEqual(templates.map((t: Json) => t.name), ["document"]);
    await assertNotFound(c, fileUri(w, `pod-${f.podId}/plan.md`));
  }
});
