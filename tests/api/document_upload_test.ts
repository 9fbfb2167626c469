/**
 * `POST …/data_sources/{dsId}/upload` over real HTTP (multipart from `fetch`'s FormData), with
 * documents built in the test: the text of each kind is found by the REST search and by the
 * MCP `search` tool for a member of the restricted space, and by neither for a member of the
 * workspace outside it; permissions are the upsert's; hostile files are refused with a 4xx
 * and the server keeps serving.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, bearer, createUserWithToken } from "../helpers/fixtures.ts";
import {
  actorOf,
  createFolder,
  createRestrictedSpace,
  globalSpaceSId,
  putDocument,
} from "../helpers/knowledge.ts";
import { connectV2, createMcpUser, type McpUser, payloadOf } from "../mcp/helpers.ts";
import { makeDocx, makeEncryptedPdf, makePdf, makeZipBombDocx } from "../helpers/documents.ts";
import { ExtractPool } from "../../src/extract/pool.ts";
import { documentIdFromFileName } from "../../src/core/document_upload.ts";

const enc = new TextEncoder();

interface World {
  admin: McpUser;
  member: McpUser;
  outsider: McpUser;
  w: string;
  spaceId: string;
  dsId: string;
  base: string;
}

async function setup(server: TestServer): Promise<World> {
  const admin = await createMcpUser(server, { email: "admin@example.com", role: "admin" });
  const member = await createMcpUser(server, {
    email: "member@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const outsider = await createMcpUser(server, {
    email: "outsider@example.com",
    role: "builder",
    workspace: admin.workspace,
  });
  const spaceId = await createRestrictedSpace(server, actorOf(admin), "Finance", [member.user.sId]);
  const w = admin.workspace.sId;
  const created = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${w}/spaces/${spaceId}/data_sources`,
    {
      method: "POST",
      body: { name: "Reports" },
    },
  );
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const dsId = created.body.data_source.sId as string;
  const base = `/api/v1/w/${w}/spaces/${spaceId}/data_sources/${dsId}`;
  // Something everyone reads, so an outsider's search runs (and finds only this).
  const globalId = await globalSpaceSId(server, admin.workspace);
  const handbook = await createFolder(server, actorOf(admin), globalId, "Handbook");
  await putDocument(
    server,
    actorOf(admin),
    { spaceId: globalId, dataSourceId: handbook },
    "welcome",
    "Welcome aboard.",
  );
  return { admin, member, outsider, w, spaceId, dsId, base };
}

/** POST a multipart upload; returns status and JSON body. */
async function upload(
  server: TestServer,
  token: string,
  path: string,
  file: { bytes: Uint8Array; name?: string; type?: string } | null,
  fields: Record<string, string | string[]> = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  }
  if (file) {
    form.append(
      "file",
      new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: file.type ?? "" }),
      file.name ?? "blob",
    );
  }
  const res = await fetch(`${server.url}${path}/upload`, {
    method: "POST",
    headers: bearer(token),
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function restSearch(server: TestServer, token: string, base: string, query: string) {
  return await apiJson(server, token, `${base}/search?query=${encodeURIComponent(query)}`);
}

async function mcpSearchTitles(server: TestServer, who: McpUser, query: string) {
  await using c = await connectV2(server, who.mcpToken);
  const r = payloadOf<{ results: { title: string }[] }>(
    await c.callTool({ name: "search", arguments: { query } }),
  );
  return r.results.map((x) => x.title);
}

Deno.test("[api/document_upload] the default document id is a slug of the file name", () => {
  assert.equal(
    documentIdFromFileName("Quarterly Report (final).PDF"),
    "quarterly-report-final.pdf",
  );
  assert.equal(documentIdFromFileName("Résumé été.docx"), "resume-ete.docx");
  assert.equal(documentIdFromFileName("../../etc/passwd"), "etc-passwd");
  assert.equal(documentIdFromFileName("???"), null);
  assert.equal(documentIdFromFileName(null), null);
});

Deno.test("[api/document_upload] each kind uploads, and a member finds it by REST and MCP search; a non-member does not", async () => {
  await using server = await startTestServer();
  const { admin, member, outsider, base } = await setup(server);
  const uploads = [
    {
      file: {
        bytes: await makePdf([["Quarterly aurora revenue grew nine percent."]], "Q3 Report"),
        name: "Q3 Report.pdf",
        type: "application/pdf",
      },
      id: "q3-report.pdf",
      title: "Q3 Report",
      mime: "application/pdf",
      word: "aurora",
    },
    {
      file: {
        bytes: await makeDocx("Travel Policy", ["Every trip needs a zeppelin approval."]),
        name: "travel.docx",
      },
      id: "travel.docx",
      title: "Travel Policy",
      mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      word: "zeppelin",
    },
    {
      file: {
        bytes: enc.encode("# Runbook\n\nRestart the quasar cluster weekly.\n"),
        name: "run.md",
      },
      id: "run.md",
      title: "Runbook",
      mime: "text/markdown",
      word: "quasar",
    },
    {
      file: {
        bytes: enc.encode(
          "<html><head><title>Wiki</title></head><body><p>The nebula wiki page.</p></body></html>",
        ),
        name: "wiki.html",
        type: "text/html",
      },
      id: "wiki.html",
      title: "Wiki",
      mime: "text/html",
      word: "nebula",
    },
    {
      file: {
        bytes: enc.encode("vendor,amount\nPulsar Ltd,1200\n"),
        name: "spend.csv",
        type: "text/csv",
      },
      id: "spend.csv",
      title: "spend.csv",
      mime: "text/csv",
      word: "pulsar",
    },
    {
      file: { bytes: enc.encode("Meeting notes about the comet launch."), name: "notes.txt" },
      id: "notes.txt",
      title: "notes.txt",
      mime: "text/plain",
      word: "comet",
    },
  ];
  for (const u of uploads) {
    const r = await upload(server, admin.token, base, u.file, {
      source_url: "https://example.com/x",
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.document.document_id, u.id);
    assert.equal(r.body.document.title, u.title);
    assert.equal(r.body.document.mime_type, u.mime);
    assert.equal(r.body.document.source_url, "https://example.com/x");
    assert.ok(r.body.document.chunk_count >= 1);
    assert.match(r.body.document.text, new RegExp(u.word, "i"));
    assert.equal(r.body.data_source.name, "Reports");
  }
  for (const u of uploads) {
    const mine = await restSearch(server, member.token, base, u.word);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.deepEqual(mine.body.documents.map((d: { document_id: string }) => d.document_id), [
      u.id,
    ]);
    const theirs = await restSearch(server, outsider.token, base, u.word);
    assert.equal(theirs.status, 404);
  }
  assert.deepEqual(await mcpSearchTitles(server, member, "aurora"), ["Q3 Report"]);
  assert.deepEqual(await mcpSearchTitles(server, member, "zeppelin"), ["Travel Policy"]);
  assert.deepEqual(await mcpSearchTitles(server, outsider, "aurora"), []);
  assert.deepEqual(await mcpSearchTitles(server, outsider, "zeppelin"), []);

  // Fields: id, title and tags given; an upload replaces a document like an upsert does.
  const again = await upload(
    server,
    member.token,
    base,
    { bytes: enc.encode("Second version mentions a meteor."), name: "notes.txt" },
    { document_id: "notes.txt", title: "Notes v2", tags: ["a", "b"] },
  );
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.document.title, "Notes v2");
  assert.deepEqual(again.body.document.tags, ["a", "b"]);
  const list = await apiJson(server, member.token, `${base}/documents?limit=100`);
  assert.equal(list.body.total, uploads.length);
});

Deno.test("[api/document_upload] permissions are the upsert's: 403 for a user in the global space, 404 outside a restricted one", async () => {
  await using server = await startTestServer();
  const { admin, outsider, base, w } = await setup(server);
  const user = await createUserWithToken(server, {
    email: "plain@example.com",
    role: "user",
    workspace: admin.workspace,
  });
  const file = { bytes: enc.encode("Nothing secret."), name: "a.txt" };
  const outside = await upload(server, outsider.token, base, file);
  assert.equal(outside.status, 404);
  assert.equal(outside.body.error.type, "space_not_found");

  const globalId = await globalSpaceSId(server, admin.workspace);
  const made = await apiJson(
    server,
    admin.token,
    `/api/v1/w/${w}/spaces/${globalId}/data_sources`,
    {
      method: "POST",
      body: { name: "Policies" },
    },
  );
  assert.equal(made.status, 200, JSON.stringify(made.body));
  const gbase = `/api/v1/w/${w}/spaces/${globalId}/data_sources/${made.body.data_source.sId}`;
  const upsert = await apiJson(server, user.token, `${gbase}/documents/a.txt`, {
    method: "POST",
    body: { text: "Nothing secret." },
  });
  const up = await upload(server, user.token, gbase, file);
  assert.equal(upsert.status, 403);
  assert.equal(up.status, 403);
  assert.equal(up.body.error.type, upsert.body.error.type);
  const ok = await upload(server, admin.token, gbase, file);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
});

Deno.test("[api/document_upload] bad input gets a clear 4xx and the server keeps serving", async () => {
  await using server = await startTestServer();
  const { member, base } = await setup(server);
  const good = await makePdf([["Fine sentence about a glacier."]]);
  const cases: [
    string,
    { bytes: Uint8Array; name?: string; type?: string } | null,
    number,
    string,
  ][] = [
    [
      "wrong type",
      { bytes: enc.encode("GIF89a"), name: "cat.gif", type: "image/gif" },
      400,
      "file_type_not_supported",
    ],
    ["corrupt PDF", { bytes: good.slice(0, 300), name: "bad.pdf" }, 400, "file_processing_error"],
    [
      "encrypted PDF",
      { bytes: makeEncryptedPdf("Locked words.", "pw"), name: "locked.pdf" },
      400,
      "file_processing_error",
    ],
    [
      "zip bomb",
      { bytes: await makeZipBombDocx(80), name: "bomb.docx" },
      400,
      "file_processing_error",
    ],
    [
      "over-size",
      { bytes: new Uint8Array(10 * 2 ** 20 + 1).fill(97), name: "big.txt" },
      400,
      "file_too_large",
    ],
    ["no file", null, 400, "invalid_request_error"],
    ["no usable name", { bytes: enc.encode("text"), name: "???" }, 400, "invalid_request_error"],
  ];
  for (const [what, file, status, type] of cases) {
    const r = await upload(server, member.token, base, file);
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.type, type, what);
    assert.ok(r.body.error.message.length > 10, what);
  }
  const json = await apiJson(server, member.token, `${base}/upload`, { method: "POST", body: {} });
  assert.equal(json.status, 400);
  assert.match(json.body.error.message, /multipart\/form-data/);

  // A parse past the time limit (the limit injected through the pool's options).
  const quick = new ExtractPool({ timeoutMs: 1 });
  const original = server.deps.extractor;
  server.deps.extractor = quick;
  try {
    const slow = await upload(server, member.token, base, { bytes: good, name: "slow.pdf" });
    assert.equal(slow.status, 400);
    assert.equal(slow.body.error.type, "file_processing_error");
    assert.match(slow.body.error.message, /took longer than 0\.001 s and was stopped/);
  } finally {
    server.deps.extractor = original;
    await quick.close();
  }

  assert.equal((await apiJson(server, null, "/healthz")).status, 200);
  const fine = await upload(server, member.token, base, { bytes: good, name: "fine.pdf" });
  assert.equal(fine.status, 200, JSON.stringify(fine.body));
  assert.match(fine.body.document.text, /glacier/);
});

Deno.test("[api/document_upload] the route is in openapi.json with a multipart body", async () => {
  await using server = await startTestServer();
  const doc = await apiJson(server, null, "/api/v1/openapi.json");
  const op = doc.body.paths["/api/v1/w/{wId}/spaces/{spaceId}/data_sources/{dsId}/upload"].post;
  const schema = op.requestBody.content["multipart/form-data"].schema;
  assert.equal(schema.properties.file.format, "binary");
  assert.deepEqual(schema.required, ["file"]);
  assert.ok(schema.properties.document_id && schema.properties.tags);
});
