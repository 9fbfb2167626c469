import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken, type UserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createEmptyConversation, createPod, keyActorOf } from "../helpers/knowledge.ts";
import {
  CAT_LINES_DEFAULT,
  filesCat,
  filesCreate,
  filesGrep,
  filesList,
  filesResolve,
  GREP_PATTERN_MAX_CHARS,
} from "../../src/core/file_system.ts";
import { createFile, uploadFileContent } from "../../src/core/files.ts";
import { writeScopeFile } from "../../src/core/scoped_files.ts";
import type { FileScope } from "../../src/core/file_types.ts";
import { AppError } from "../../src/errors.ts";
import type { TestServer } from "../helpers/server.ts";

async function rejectsWithMessage(p: Promise<unknown> | (() => unknown), message: string | RegExp) {
  await assert.rejects(async () => await (typeof p === "function" ? p() : p), (e: unknown) => {
    assert.ok(e instanceof AppError, String(e));
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

async function setup(server: TestServer) {
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "builder" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const podId = await createPod(server, actorOf(alice), "Research");
  const scope: FileScope = { type: "pod", pod_id: podId };
  return { alice, bob, podId, scope, a: actorOf(alice) };
}

async function put(
  server: TestServer,
  u: UserWithToken,
  scope: FileScope,
  rel: string,
  text: string,
  type = "text/plain",
) {
  await writeScopeFile(server.deps, actorOf(u), {
    scope,
    rel,
    bytes: new TextEncoder().encode(text),
    contentType: type,
  });
}

Deno.test("[file_system] files_list: empty scope, then `<path> (<mime>, <KB> KB)` lines by path", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  assert.deepEqual(await filesList(server.deps, a, { scope }), {
    text: "No files available.",
    files: [],
  });
  await put(server, alice, scope, "notes/b.md", "x".repeat(1025), "text/markdown");
  await put(server, alice, scope, "a.txt", "hi");
  assert.equal(
    (await filesList(server.deps, a, { scope })).text,
    `pod-${podId}/a.txt (text/plain, 1 KB)\npod-${podId}/notes/b.md (text/markdown, 2 KB)`,
  );
  assert.deepEqual((await filesList(server.deps, a, { scope })).files, [
    { path: `pod-${podId}/a.txt`, mimeType: "text/plain", sizeBytes: 2 },
    { path: `pod-${podId}/notes/b.md`, mimeType: "text/markdown", sizeBytes: 1025 },
  ]);
});

Deno.test("[file_system] files_create: Created then Updated, Dust's message and shape", async () => {
  await using server = await startTestServer();
  const { podId, scope, a } = await setup(server);
  const path = `pod-${podId}/out/summary.json`;
  const first = await filesCreate(server.deps, a, {
    scope,
    path,
    content: '{"a":1}',
    content_type: "application/json",
  });
  assert.deepEqual(first, {
    // 7 bytes are 7 bytes, not "1 KB" (issue 13).
    message: `Created \`${path}\` (application/json, 7 bytes)`,
    path,
    contentType: "application/json",
  });
  const second = await filesCreate(server.deps, a, {
    scope,
    path,
    content: "x".repeat(3000),
    content_type: "application/json",
  });
  assert.equal(second.message, `Updated \`${path}\` (application/json, 3 KB)`);
  const cat = await filesCat(server.deps, a, { scope, path });
  assert.equal(cat.text, `1: ${"x".repeat(3000)}`);
});

Deno.test("[file_system] files_create: 50 KB cap, wrong prefix, traversal and Frame files refused", async () => {
  await using server = await startTestServer();
  const { podId, scope, a } = await setup(server);
  const base = { scope, content_type: "text/plain" };
  await rejectsWithMessage(
    filesCreate(server.deps, a, {
      ...base,
      path: `pod-${podId}/big.txt`,
      content: "x".repeat(50 * 1024 + 1),
    }),
    "Content exceeds the 50 KB limit.",
  );
  await filesCreate(server.deps, a, {
    ...base,
    path: `pod-${podId}/max.txt`,
    content: "x".repeat(50 * 1024),
  });
  await rejectsWithMessage(
    filesCreate(server.deps, a, { ...base, path: "conversation-abc/x.txt", content: "x" }),
    `Path must start with \`pod-${podId}/\` for the given scope.`,
  );
  for (const bad of ["../x.txt", "a/../../x.txt", "/etc/passwd", "a\\b", "a\u0000b", "a//b"]) {
    await rejectsWithMessage(
      filesCreate(server.deps, a, { ...base, path: `pod-${podId}/${bad}`, content: "x" }),
      /^Invalid path: /,
    );
  }
  // A sibling scope whose id starts like ours is not ours.
  await rejectsWithMessage(
    filesCreate(server.deps, a, { ...base, path: `pod-${podId}x/a.txt`, content: "x" }),
    /^Path must start with/,
  );
  await rejectsWithMessage(
    filesCreate(server.deps, a, {
      scope,
      path: `pod-${podId}/app.frame`,
      content: "<div/>",
      content_type: "application/vnd.dust.frame",
    }),
    "Frame files cannot be created with files_create.",
  );
  assert.doesNotMatch((await filesList(server.deps, a, { scope })).text, /big\.txt|passwd|frame/);
});

Deno.test("[file_system] files_cat: numbered lines, offset, default limit note, max limit", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  const lines = Array.from({ length: 450 }, (_, i) => `line ${i + 1}`);
  await put(server, alice, scope, "long.txt", lines.join("\r\n") + "\n");
  const path = `pod-${podId}/long.txt`;
  const page = (await filesCat(server.deps, a, { scope, path })).text;
  assert.ok(page.startsWith("1: line 1\n2: line 2\n"));
  assert.ok(
    page.endsWith(
      `${CAT_LINES_DEFAULT}: line 200\n\n[Showing lines 1-200. Use offset=201 to read more.]`,
    ),
  );
  const tail = (await filesCat(server.deps, a, { scope, path, offset: 449, limit: 10 })).text;
  assert.equal(tail, "449: line 449\n450: line 450");
  assert.equal(
    (await filesCat(server.deps, a, { scope, path, offset: 999 })).text,
    `No lines found at offset 999 in \`${path}\`.`,
  );
  await rejectsWithMessage(filesCat(server.deps, a, { scope, path, limit: 501 }), /^limit: /);
  await rejectsWithMessage(filesCat(server.deps, a, { scope, path, offset: 0 }), /^offset: /);
  await put(server, alice, scope, "empty.txt", "");
  assert.equal(
    (await filesCat(server.deps, a, { scope, path: `pod-${podId}/empty.txt` })).text,
    `\`pod-${podId}/empty.txt\` is empty.`,
  );
  await rejectsWithMessage(
    filesCat(server.deps, a, { scope, path: `pod-${podId}/missing.txt` }),
    `File not found: \`pod-${podId}/missing.txt\`.`,
  );
});

Deno.test("[file_system] files_cat: the 20 KB output budget truncates with Dust's note", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  const line = "y".repeat(1000);
  await put(server, alice, scope, "wide.txt", Array(100).fill(line).join("\n"));
  const text = (await filesCat(server.deps, a, { scope, path: `pod-${podId}/wide.txt` })).text;
  const shown = text.split("\n\n")[0].split("\n").length;
  assert.equal(shown, 20); // 20 × ~1,004 bytes fit in 20,480
  assert.match(
    text,
    /\[Truncated at 20KB\. File is 98KB\. Showing lines 1-20\. Use offset=21 to read more\.\]$/,
  );
  // One line larger than the budget is cut to it.
  await put(server, alice, scope, "one.txt", "z".repeat(30_000));
  const one = (await filesCat(server.deps, a, { scope, path: `pod-${podId}/one.txt` })).text;
  assert.equal(one.split("\n\n")[0].length, 20 * 1024);
});

Deno.test("[file_system] files_cat: images and binaries get a note, never bytes", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  await put(server, alice, scope, "pic.png", "\x89PNG....", "image/png");
  await put(server, alice, scope, "doc.pdf", "%PDF-1.7", "application/pdf");
  const img = await filesCat(server.deps, a, { scope, path: `pod-${podId}/pic.png` });
  assert.match(
    img.text,
    /is an image \(image\/png, 1 KB\)\. Image binary content is not returned via MCP\.$/,
  );
  const pdf = await filesCat(server.deps, a, { scope, path: `pod-${podId}/doc.pdf` });
  assert.equal(
    pdf.text,
    `\`pod-${podId}/doc.pdf\` is a binary file (application/pdf) and cannot be read as text.`,
  );
});

Deno.test("[file_system] files_grep: matches, (?i), no-match text, invalid and oversized patterns", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  await put(server, alice, scope, "log.txt", "Alpha\nbeta\nALPHA beta\ngamma\n");
  const path = `pod-${podId}/log.txt`;
  assert.equal(
    (await filesGrep(server.deps, a, { scope, path, pattern: "Alpha" })).text,
    "1: Alpha\n\n[1 match found]",
  );
  assert.equal(
    (await filesGrep(server.deps, a, { scope, path, pattern: "(?i)alpha" })).text,
    "1: Alpha\n3: ALPHA beta\n\n[2 matches found]",
  );
  assert.equal(
    (await filesGrep(server.deps, a, { scope, path, pattern: "delta" })).text,
    `No lines matched the pattern in \`${path}\`.`,
  );
  assert.equal(
    (await filesGrep(server.deps, a, { scope, path, pattern: "ALPHA\\ beta" })).text,
    "3: ALPHA beta\n\n[1 match found]",
  );
  await rejectsWithMessage(
    filesGrep(server.deps, a, { scope, path, pattern: "(" }),
    /^Unsupported or invalid regular expression\. Error: /,
  );
  await rejectsWithMessage(
    filesGrep(server.deps, a, { scope, path, pattern: "a".repeat(GREP_PATTERN_MAX_CHARS + 1) }),
    `Unsupported or invalid regular expression. Error: Regular expressions cannot exceed ${GREP_PATTERN_MAX_CHARS} characters.`,
  );
});

Deno.test("[file_system] files_grep: at most 50 matches with the capped note", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  await put(
    server,
    alice,
    scope,
    "many.txt",
    Array.from({ length: 80 }, (_, i) => `hit ${i}`).join("\n"),
  );
  const text =
    (await filesGrep(server.deps, a, { scope, path: `pod-${podId}/many.txt`, pattern: "^hit" }))
      .text;
  const [body, note] = text.split("\n\n");
  assert.equal(body.split("\n").length, 50);
  assert.equal(body.split("\n")[49], "50: hit 49");
  assert.match(note, /^\[Showing 50 matching lines within the output limit\./);
});

Deno.test("[file_system] files_grep: a catastrophic backtracking pattern runs in linear time (RE2) and the server keeps serving", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  await put(server, alice, scope, "bomb.txt", "a".repeat(40) + "!\n");
  const started = performance.now();
  const pending = filesGrep(server.deps, a, {
    scope,
    path: `pod-${podId}/bomb.txt`,
    pattern: "^(a+)+$",
  });
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  assert.equal((await pending).text, `No lines matched the pattern in \`pod-${podId}/bomb.txt\`.`);
  assert.ok(performance.now() - started < 2000, "answered well within the grep time limit");
  // Patterns RE2 does not support (backreferences, lookarounds) are refused, as by Dust.
  await rejectsWithMessage(
    filesGrep(server.deps, a, { scope, path: `pod-${podId}/bomb.txt`, pattern: "(a)\\1" }),
    /^Unsupported or invalid regular expression\. Error: /,
  );
  await put(server, alice, scope, "ok.txt", "fine\n");
  const ok = await filesGrep(server.deps, a, {
    scope,
    path: `pod-${podId}/ok.txt`,
    pattern: "fine",
  });
  assert.equal(ok.text, "1: fine\n\n[1 match found]");
});

Deno.test("[file_system] files_grep: non-text files are explained, not searched", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope, a } = await setup(server);
  await put(server, alice, scope, "doc.pdf", "%PDF", "application/pdf");
  const r = await filesGrep(server.deps, a, { scope, path: `pod-${podId}/doc.pdf`, pattern: "x" });
  assert.equal(
    r.text,
    `\`pod-${podId}/doc.pdf\` is not a text file (application/pdf) and cannot be searched with grep.`,
  );
});

Deno.test("[file_system] files_resolve: own scope, another readable scope, unreadable scope, unscoped, unknown", async () => {
  await using server = await startTestServer();
  const { alice, bob, podId, scope, a } = await setup(server);
  await put(server, alice, scope, "r/x.txt", "x");
  const id = await server.deps.db.get("SELECT s_id FROM files WHERE path = 'r/x.txt'") as {
    s_id: string;
  };
  assert.deepEqual(await filesResolve(server.deps, a, { scope, file_id: id.s_id }), {
    path: `pod-${podId}/r/x.txt`,
  });
  const cId = await createEmptyConversation(server, a);
  const conv: FileScope = { type: "conversation", conversation_id: cId };
  await rejectsWithMessage(
    async () => await filesResolve(server.deps, a, { scope: conv, file_id: id.s_id }),
    `File \`${id.s_id}\` does not belong to the given scope. Resolved path: \`pod-${podId}/r/x.txt\`.`,
  );
  // Bob cannot read the Pod: its file is "not found" to him, its path never shown.
  const bobConv: FileScope = {
    type: "conversation",
    conversation_id: await createEmptyConversation(server, actorOf(bob)),
  };
  await rejectsWithMessage(
    async () => await filesResolve(server.deps, actorOf(bob), { scope: bobConv, file_id: id.s_id }),
    `File not found: \`${id.s_id}\`.`,
  );
  const loose = await createFile(server.deps, a, {
    contentType: "text/plain",
    fileName: "l.txt",
    fileSize: 1,
    useCase: "conversation",
  });
  await uploadFileContent(server.deps, a, {
    fileId: loose.sId,
    body: ReadableStream.from([new Uint8Array(1)]),
  });
  await rejectsWithMessage(
    async () => await filesResolve(server.deps, a, { scope, file_id: loose.sId }),
    `File \`${loose.sId}\` is not accessible through the file system (use case: conversation).`,
  );
  await rejectsWithMessage(
    async () => await filesResolve(server.deps, a, { scope, file_id: "fil_nope" }),
    "File not found: `fil_nope`.",
  );
});

Deno.test("[file_system] access: a non-member's Pod scope and an unreadable conversation answer Dust's texts", async () => {
  await using server = await startTestServer();
  const { bob, podId, scope, a } = await setup(server);
  const b = actorOf(bob);
  await rejectsWithMessage(
    async () => await filesList(server.deps, b, { scope }),
    `Pod not found or you do not have access: ${podId}`,
  );
  await rejectsWithMessage(
    async () => await filesList(server.deps, keyActorOf(bob.workspace), { scope }),
    `Pod not found or you do not have access: ${podId}`,
  );
  const cId = await createEmptyConversation(server, a);
  await rejectsWithMessage(
    async () =>
      await filesList(server.deps, b, { scope: { type: "conversation", conversation_id: cId } }),
    `Conversation not found or not accessible: ${cId}`,
  );
  // A regular space is not a Pod even for its readers.
  const global = await server.deps.db.get(
    "SELECT s_id FROM spaces WHERE kind = 'global' AND workspace_id = ?",
    bob.workspace.id,
  ) as { s_id: string };
  await rejectsWithMessage(
    async () => await filesList(server.deps, b, { scope: { type: "pod", pod_id: global.s_id } }),
    `Pod not found or you do not have access: ${global.s_id}`,
  );
});

Deno.test("[file_system] access: a read-only token lists and reads but cannot create (403)", async () => {
  await using server = await startTestServer();
  const { alice, podId, scope } = await setup(server);
  const ro = actorOf(alice, ["read"]);
  assert.equal((await filesList(server.deps, ro, { scope })).text, "No files available.");
  await assert.rejects(
    () =>
      filesCreate(server.deps, ro, {
        scope,
        path: `pod-${podId}/a.txt`,
        content: "x",
        content_type: "text/plain",
      }),
    (e: AppError) => e.status === 403,
  );
});

Deno.test("[file_system] conversation scope: participants create and list files", async () => {
  await using server = await startTestServer();
  const { a } = await setup(server);
  const cId = await createEmptyConversation(server, a);
  const scope: FileScope = { type: "conversation", conversation_id: cId };
  await filesCreate(server.deps, a, {
    scope,
    path: `conversation-${cId}/draft.md`,
    content: "# hi",
    content_type: "text/markdown",
  });
  assert.equal(
    (await filesList(server.deps, a, { scope })).text,
    `conversation-${cId}/draft.md (text/markdown, 1 KB)`,
  );
});
