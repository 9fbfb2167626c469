import assert from "node:assert/strict";
import { startTestServer } from "../helpers/server.ts";
import { createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createEmptyConversation, createPod, keyActorOf } from "../helpers/knowledge.ts";
import {
  createFile,
  deleteFile,
  openFileContent,
  requireReadableFile,
  uploadFileContent,
} from "../../src/core/files.ts";
import {
  assertUploadable,
  MAX_FILE_SIZES,
  normaliseRelativePath,
  PATH_LIMITS,
} from "../../src/core/file_types.ts";
import { AppError } from "../../src/errors.ts";
import { pendingWrites } from "../helpers/test_files.ts";

function stream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return ReadableStream.from([bytes]);
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), status: number, type: string) {
  const run = typeof p === "function" ? async () => await p() : () => p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof AppError, String(e));
    assert.equal(e.status, status, e.message);
    assert.equal(e.type, type, e.message);
    return true;
  });
}

Deno.test("[files] an unsupported content type is refused with file_type_not_supported", () => {
  assert.throws(() => assertUploadable("application/x-msdownload", "a.exe", 10), (e: AppError) => {
    assert.equal(e.status, 400);
    assert.equal(e.type, "file_type_not_supported");
    assert.equal(e.message, 'Content type "application/x-msdownload" is not supported.');
    return true;
  });
});

Deno.test("[files] per-type size limits: text and images are small, documents larger", () => {
  assertUploadable("text/plain", "a.txt", MAX_FILE_SIZES.text);
  assertUploadable("application/pdf", "a.pdf", MAX_FILE_SIZES.document);
  assert.ok(MAX_FILE_SIZES.document > MAX_FILE_SIZES.text);
  for (
    const [type, size] of [["text/csv", MAX_FILE_SIZES.text + 1], [
      "image/png",
      MAX_FILE_SIZES.image + 1,
    ], ["application/pdf", MAX_FILE_SIZES.document + 1]] as const
  ) {
    assert.throws(() => assertUploadable(type, "big", size), (e: AppError) => {
      assert.equal(e.type, "file_too_large");
      assert.match(e.message, /^File "big" is too large/);
      return true;
    });
  }
  // Parameters and case do not matter.
  assertUploadable("Text/Plain; charset=utf-8", "a.txt", 1);
});

Deno.test("[files] path normalisation refuses traversal, absolute paths, NUL, backslashes, overlong parts", () => {
  const refused = [
    "",
    "..",
    "../etc/passwd",
    "a/../../b",
    "a/./b",
    "/abs/path",
    "a\\b",
    "a\u0000b",
    "a\nb",
    "a//b",
    "a/",
    " lead",
    "x".repeat(PATH_LIMITS.segmentBytes + 1),
    "é".repeat(128) + "xx", // 258 bytes in UTF-8
    Array(PATH_LIMITS.depth + 1).fill("d").join("/"),
    "y".repeat(PATH_LIMITS.totalChars + 1),
  ];
  for (const p of refused) {
    assert.throws(() => normaliseRelativePath(p), (e: AppError) => {
      assert.equal(e.type, "invalid_request_error");
      assert.match(e.message, /^Invalid path: /);
      return true;
    }, JSON.stringify(p));
  }
  assert.equal(normaliseRelativePath("reports/q1 summary.md"), "reports/q1 summary.md");
  assert.equal(normaliseRelativePath("cafe\u0301.txt"), "café.txt"); // NFC
  assert.equal(normaliseRelativePath("x".repeat(255)), "x".repeat(255));
});

Deno.test("[files] create → upload → ready → view → delete, bytes gone from disk", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const actor = actorOf(alice);
  const cId = await createEmptyConversation(server, actor);
  const bytes = new TextEncoder().encode("hello\nworld\n");
  const f = await createFile(server.deps, actor, {
    contentType: "text/plain",
    fileName: "notes.txt",
    fileSize: bytes.length,
    useCase: "conversation",
    useCaseMetadata: { conversationId: cId },
  });
  assert.match(f.sId, /^fil_[A-Za-z0-9]{10,}$/);
  assert.equal(f.status, "created");
  assert.equal(f.path, "notes.txt");
  const ready = await uploadFileContent(server.deps, actor, { fileId: f.sId, body: stream(bytes) });
  assert.equal(ready.status, "ready");
  const { body } = await openFileContent(server.deps, actor, f.sId);
  assert.equal(await new Response(body).text(), "hello\nworld\n");
  await deleteFile(server.deps, actor, f.sId);
  await assert.rejects(() => server.deps.files.read(ready.storageKey!), Deno.errors.NotFound);
  await rejectsWith(
    async () => await requireReadableFile(server.deps, actor, f.sId),
    404,
    "file_not_found",
  );
});

Deno.test("[files] a second upload of the same name in a conversation gets `name (2).ext`", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const actor = actorOf(alice);
  const cId = await createEmptyConversation(server, actor);
  const input = {
    contentType: "text/csv",
    fileName: "data.csv",
    fileSize: 3,
    useCase: "conversation",
    useCaseMetadata: { conversationId: cId },
  };
  assert.equal((await createFile(server.deps, actor, input)).path, "data.csv");
  assert.equal((await createFile(server.deps, actor, input)).path, "data (2).csv");
});

Deno.test("[files] upload with fewer bytes than declared is refused and the file stays uploadable", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const actor = actorOf(alice);
  const f = await createFile(server.deps, actor, {
    contentType: "text/plain",
    fileName: "a.txt",
    fileSize: 10,
    useCase: "conversation",
  });
  await rejectsWith(
    uploadFileContent(server.deps, actor, { fileId: f.sId, body: stream(new Uint8Array(4)) }),
    400,
    "invalid_request_error",
  );
  assert.equal((await requireReadableFile(server.deps, actor, f.sId)).status, "created");
  const ok = await uploadFileContent(server.deps, actor, {
    fileId: f.sId,
    body: stream(new Uint8Array(10)),
  });
  assert.equal(ok.status, "ready");
  await rejectsWith(
    uploadFileContent(server.deps, actor, { fileId: f.sId, body: stream(new Uint8Array(10)) }),
    400,
    "invalid_request_error",
  );
});

Deno.test("[files] upload with more bytes than declared is cut off with file_too_large", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "user" });
  const actor = actorOf(alice);
  const f = await createFile(server.deps, actor, {
    contentType: "text/plain",
    fileName: "a.txt",
    fileSize: 5,
    useCase: "conversation",
  });
  await rejectsWith(
    uploadFileContent(server.deps, actor, { fileId: f.sId, body: stream(new Uint8Array(6)) }),
    400,
    "file_too_large",
  );
  assert.equal(await pendingWrites(server.deps.files), 0, "no partial write left behind");
  assert.deepEqual((await server.deps.files.listKeys()).keys, [], "no blob was stored");
});

Deno.test("[files] an unsupported use case is refused", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  await rejectsWith(
    async () =>
      await createFile(server.deps, actorOf(alice), {
        contentType: "text/plain",
        fileName: "a.txt",
        fileSize: 1,
        useCase: "avatar",
      }),
    400,
    "invalid_request_error",
  );
});

Deno.test("[files] access: another user's unscoped upload and an unreadable conversation answer not found", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const a = actorOf(alice);
  const b = actorOf(bob);
  const loose = await createFile(server.deps, a, {
    contentType: "text/plain",
    fileName: "a.txt",
    fileSize: 1,
    useCase: "conversation",
  });
  await rejectsWith(
    async () => await requireReadableFile(server.deps, b, loose.sId),
    404,
    "file_not_found",
  );
  const cId = await createEmptyConversation(server, a);
  await rejectsWith(
    async () =>
      await createFile(server.deps, b, {
        contentType: "text/plain",
        fileName: "x.txt",
        fileSize: 1,
        useCase: "conversation",
        useCaseMetadata: { conversationId: cId },
      }),
    404,
    "conversation_not_found",
  );
});

Deno.test("[files] isolation: a file id of another workspace does not exist", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const eve = await createUserWithToken(server, { email: "eve@example.com", role: "admin" });
  const f = await createFile(server.deps, keyActorOf(alice.workspace), {
    contentType: "text/plain",
    fileName: "a.txt",
    fileSize: 1,
    useCase: "conversation",
  });
  await rejectsWith(
    async () => await requireReadableFile(server.deps, actorOf(eve), f.sId),
    404,
    "file_not_found",
  );
  await rejectsWith(
    async () => await requireReadableFile(server.deps, keyActorOf(eve.workspace), f.sId),
    404,
    "file_not_found",
  );
});

Deno.test("[files] Pod files: members create them, non-members get the Pod-not-found text", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "builder" });
  const bob = await createUserWithToken(server, {
    email: "bob@example.com",
    role: "user",
    workspace: alice.workspace,
  });
  const pod = await createPod(server, actorOf(alice), "Launch");
  const input = {
    contentType: "text/markdown",
    fileName: "plan.md",
    fileSize: 2,
    useCase: "project_context",
    useCaseMetadata: { spaceId: pod },
  };
  assert.equal((await createFile(server.deps, actorOf(alice), input)).useCase, "project_context");
  await rejectsWith(
    async () => await createFile(server.deps, actorOf(bob), input),
    404,
    "space_not_found",
  );
  await rejectsWith(
    async () => await createFile(server.deps, keyActorOf(alice.workspace), input),
    404,
    "space_not_found",
  );
});

Deno.test("[files] a read-only token cannot create files (403)", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  await rejectsWith(
    async () =>
      await createFile(server.deps, actorOf(alice, ["read"]), {
        contentType: "text/plain",
        fileName: "a.txt",
        fileSize: 1,
        useCase: "conversation",
      }),
    403,
    "workspace_auth_error",
  );
});
