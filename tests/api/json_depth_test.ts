/**
 * Nesting depth (issue 10, "Smaller"): a document `section` nested 5,000 deep overflowed the
 * stack in the recursive section schema and answered 500 with a stack in the log. Every REST
 * JSON body is now bounded where it is parsed (MAX_JSON_DEPTH levels) with a 400.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { apiJson, createUserWithToken } from "../helpers/fixtures.ts";
import { actorOf, createFolder, globalSpaceSId } from "../helpers/knowledge.ts";
import { jsonDepthExceeds, MAX_JSON_DEPTH } from "../../src/util/json_depth.ts";

/** A section tree `levels` sections deep. */
function nestedSection(levels: number) {
  let s: Record<string, unknown> = { prefix: null, content: "leaf", sections: [] };
  for (let i = 1; i < levels; i++) s = { prefix: `level ${i}`, content: null, sections: [s] };
  return s;
}

/** Objects nested `levels` deep: `{a:{a:…{a:1}}}`. */
function nestedObject(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

function unhandled(server: TestServer): string[] {
  return server.logs.filter((l) => l.includes("unhandled error"));
}

async function knowledge() {
  const server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const spaceId = await globalSpaceSId(server, alice.workspace);
  const ds = await createFolder(server, actorOf(alice), spaceId, "handbook");
  const docUrl = (id: string) =>
    `/api/v1/w/${alice.workspace.sId}/spaces/${spaceId}/data_sources/${ds}/documents/${id}`;
  return { server, alice, docUrl };
}

Deno.test("[api/documents] a section nested 5,000 deep answers 400 invalid_request_error, with no stack in the log (was 500)", async () => {
  const { server, alice, docUrl } = await knowledge();
  await using _ = server;
  const r = await apiJson(server, alice.token, docUrl("deep"), {
    method: "POST",
    body: { section: nestedSection(5000) },
  });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.deepEqual(r.body.error, {
    type: "invalid_request_error",
    message: `body: nested deeper than ${MAX_JSON_DEPTH} levels`,
  });
  assert.deepEqual(unhandled(server), []);
  // Within the body bound, the section bound (32 levels) answers; 32 levels are accepted.
  const over = await apiJson(server, alice.token, docUrl("deep"), {
    method: "POST",
    body: { section: nestedSection(34) },
  });
  assert.equal(over.status, 400);
  assert.match(over.body.error.message, /^section: nested deeper than 32 levels/);
  const ok = await apiJson(server, alice.token, docUrl("deep"), {
    method: "POST",
    body: { section: nestedSection(32) },
  });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.match(ok.body.document.text, /level 31[\s\S]*leaf$/);
});

Deno.test("[api] any JSON body nested past the bound answers 400 before a schema walks it; up to the bound it is read as before", async () => {
  await using server = await startTestServer();
  const alice = await createUserWithToken(server, { email: "alice@example.com", role: "admin" });
  const post = (extra: unknown) =>
    apiJson(server, alice.token, `/api/v1/w/${alice.workspace.sId}/assistant/conversations`, {
      method: "POST",
      body: {
        title: "t",
        message: {
          content: "hi",
          mentions: [],
          context: { username: "alice", timezone: "UTC", extra },
        },
      },
    });
  // body → message → context → extra: three levels above the nested value.
  assert.equal((await post(nestedObject(MAX_JSON_DEPTH - 3))).status, 200);
  for (const levels of [MAX_JSON_DEPTH - 2, 100_000]) {
    const r = await post(nestedObject(levels));
    assert.equal(r.status, 400, `${levels}: ${JSON.stringify(r.body).slice(0, 200)}`);
    assert.equal(r.body.error.type, "invalid_request_error");
  }
  const arrays = await apiJson(server, alice.token, `/api/v1/w/${alice.workspace.sId}/files`, {
    method: "POST",
    rawBody: "[".repeat(50_000) + "]".repeat(50_000),
  });
  assert.equal(arrays.status, 400);
  assert.deepEqual(unhandled(server), []);
});

Deno.test("[util] jsonDepthExceeds counts objects and arrays, stops at the bound, and never recurses", () => {
  assert.equal(jsonDepthExceeds("text"), false);
  assert.equal(jsonDepthExceeds(null), false);
  assert.equal(jsonDepthExceeds({}, 1), false);
  assert.equal(jsonDepthExceeds({ a: [] }, 1), true);
  assert.equal(jsonDepthExceeds({ a: [1, { b: null }] }, 3), false);
  assert.equal(jsonDepthExceeds({ a: [1, { b: {} }] }, 3), true);
  assert.equal(jsonDepthExceeds(nestedObject(MAX_JSON_DEPTH)), false);
  assert.equal(jsonDepthExceeds(nestedObject(MAX_JSON_DEPTH + 1)), true);
  const deep = JSON.parse("[".repeat(1_000_000) + "]".repeat(1_000_000));
  assert.equal(jsonDepthExceeds(deep), true);
});
