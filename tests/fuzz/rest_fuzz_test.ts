/**
 * Hostile input on every REST route of the server's own OpenAPI document (new routes are
 * covered without touching this file): path parameters from real ids, the other workspace's
 * ids, traversal strings and garbage; hostile query strings, headers, credentials and bodies
 * (schema-shaped with mutations, any JSON, broken JSON, wrong content types); oversized bodies
 * on every route that takes one. Every response is checked against the served document
 * (tests/helpers/openapi_contract.ts): a documented status, a body valid against its schema,
 * and 405 / OPTIONS with the `Allow` the document implies.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { startFuzzWorld } from "../helpers/fuzz_world.ts";
import type { FuzzWorld } from "../helpers/fuzz_world.ts";
import {
  credential,
  encodeSegment,
  fromSchema,
  hostileJson,
  hostileString,
  idsFor,
  idValue,
  type SchemaMode,
  sometimes,
} from "../helpers/fuzz_arbs.ts";
import { checkResponse, type FuzzRequest, send } from "../helpers/fuzz_check.ts";
import { type ApiOperation, checkProperty, listApiOperations } from "../helpers/fuzz_run.ts";
import { BODY_LIMITS } from "../../src/app.ts";
import { OpenApiContract } from "../helpers/openapi_contract.ts";

const RUNS_PER_ROUTE = 14;

/**
 * One request to `op`: in "valid" mode mostly A's real ids, A's credentials and schema-valid
 * bodies with rare mutations (to reach the core); in "hostile" mode anything goes.
 */
// deno-lint-ignore no-explicit-any
function restCase(world: FuzzWorld, op: ApiOperation, doc: any): fc.Arbitrary<FuzzRequest> {
  return fc.boolean().chain((hostile) => requestArb(world, op, { world, root: doc, hostile }));
}

function paramArb(world: FuzzWorld, name: string, hostile: boolean): fc.Arbitrary<string> {
  if (!hostile) {
    return fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...idsFor(world.a, name)) },
      { weight: 1, arbitrary: idValue(world, name) },
    );
  }
  return name === "wId"
    ? fc.oneof(
      { weight: 3, arbitrary: fc.constant(world.a.ids.wId) },
      { weight: 1, arbitrary: idValue(world, name) },
    )
    : idValue(world, name);
}

function bodyArb(op: ApiOperation, mode: SchemaMode): fc.Arbitrary<string | null> {
  if (!op.bodySchema) return fc.option(hostileJson(1).map((v) => JSON.stringify(v)), { freq: 4 });
  const shaped = fromSchema(mode, op.bodySchema).map((v) => JSON.stringify(v));
  if (!mode.hostile) return shaped;
  return fc.oneof(
    { weight: 5, arbitrary: shaped },
    { weight: 2, arbitrary: hostileJson(2).map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("{", "", "null", '{"a":', "\u0000", "[]".repeat(5000)),
    },
    { weight: 1, arbitrary: hostileString() },
  );
}

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-16",
  "text/plain",
  "multipart/form-data",
  "application/x-www-form-urlencoded",
  "",
];

function requestArb(world: FuzzWorld, op: ApiOperation, mode: SchemaMode) {
  const { hostile } = mode;
  const params = fc.tuple(
    ...op.pathParams.map((name) => fc.tuple(paramArb(world, name, hostile), fc.boolean())),
  );
  const query = fc.tuple(
    ...op.query.map((q) =>
      fc.option(fromSchema(mode, q.schema ?? { type: "string" }, q.name), {
        freq: q.required && !hostile ? 50 : 2,
      })
    ),
    sometimes(fc.tuple(hostileString(), hostileString()), hostile ? 0.3 : 0.05),
  );
  const contentType = hostile ? fc.constantFrom(...CONTENT_TYPES) : fc.constant("application/json");
  const creds = credential(
    world,
    hostile
      ? ["a_token", "a_key", "a_oauth", "b_token", "none", "garbage"]
      : ["a_token", "a_token", "a_token", "a_key"],
  );
  const requestId = hostile ? fc.option(hostileString()) : fc.constant(null);
  return fc.record({ params, query, body: bodyArb(op, mode), contentType, creds, requestId })
    .map(({ params, query, body, contentType, creds, requestId }): FuzzRequest => {
      let path = op.path;
      op.pathParams.forEach((name, i) => {
        const [value, raw] = params[i];
        path = path.replace(`{${name}}`, segmentSized(encodeSegment(urlSized(value) || "x", raw)));
      });
      const qs = new URLSearchParams();
      op.query.forEach((q, i) => {
        const v = query[i];
        if (v !== null) qs.append(q.name, urlSized(typeof v === "string" ? v : JSON.stringify(v)));
      });
      const extra = query[op.query.length] as [string, string] | null;
      if (extra) qs.append(urlSized(extra[0]), urlSized(extra[1]));
      const headers: Record<string, string> = { ...creds.header };
      if (contentType) headers["Content-Type"] = contentType;
      if (requestId) headers["X-Request-Id"] = latin1(requestId);
      return {
        method: op.method,
        path: `${path}${qs.size ? `?${qs}` : ""}`,
        headers,
        body: op.method === "GET" ? null : body ?? "",
        as: creds.as,
      };
    });
}

/** URLs stay under 8 KB per value (clients refuse longer ones; huge values go in bodies). */
function urlSized(s: string): string {
  return s.slice(0, 4000);
}

/**
 * A path segment that stays the segment it is: short enough that the whole path stays under
 * `send`'s 8 KB cut (at most three parameters), never cut inside a `%XX` escape, and never a
 * dot segment. A cut path named another route (a POST to
 * `…/{cId}/content_fragments` cut inside a 24,000-character `cId` reached `…/{cId}`, whose 405
 * is right for that route and not documented for this one).
 */
function segmentSized(segment: string): string {
  // `.` and `..` (also spelled `%2e`) are dot segments: the URL resolves them away, and the
  // request names another route (`spaces/../data_sources` is `…/data_sources`).
  if (/^(\.|%2e){1,2}$/i.test(segment)) return `${segment}_`;
  return segment.length <= 2000 ? segment : segment.slice(0, 2000).replace(/%[0-9A-Fa-f]?$/, "");
}

/** Header values must be ByteStrings: keep the Latin-1 part. */
function latin1(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "").slice(0, 200);
}

Deno.test("[fuzz/rest] every OpenAPI route survives hostile paths, queries, headers and bodies", async () => {
  await using world = await startFuzzWorld();
  const { ops, doc } = await listApiOperations(world);
  assert.ok(ops.length >= 50, `only ${ops.length} operations in the OpenAPI document`);
  const contract = new OpenApiContract(doc);
  for (const op of ops) {
    await checkProperty(world, `${op.method} ${op.path}`, restCase(world, op, doc), async (req) => {
      const res = await send(world, req);
      checkResponse(world, req, res, "rest");
      assert.equal(contract.check(req, res), null);
    }, RUNS_PER_ROUTE);
  }
});

/** The body limit the app applies to a path (uploads and relay results are larger). */
function limitOf(path: string): number {
  if (/\/files\/[^/]+$/.test(path)) return BODY_LIMITS.fileUpload;
  if (/\/data_sources\/[^/]+\/upload$/.test(path)) return BODY_LIMITS.fileUpload;
  if (/\/mcp\/results$/.test(path)) return BODY_LIMITS.relayResults;
  return BODY_LIMITS.default;
}

/** A body of `size` bytes streamed in chunks (no Content-Length, no big allocation). */
function streamedBody(size: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (sent >= size) return ctl.close();
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      ctl.enqueue(n === chunk.length ? chunk : chunk.slice(0, n));
    },
  });
}

Deno.test("[fuzz/rest] bodies over the limit answer 413 in the REST shape on every route with a body", async () => {
  await using world = await startFuzzWorld();
  const { ops, doc } = await listApiOperations(world);
  const contract = new OpenApiContract(doc);
  const withBody = ops.filter((o) => o.bodySchema || o.method === "POST");
  assert.ok(withBody.length >= 20);
  const big = "x".repeat(BODY_LIMITS.default + 1);
  for (const op of withBody) {
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => idsFor(world.a, name)[0]);
    const limit = limitOf(path);
    const upload = op.method === "POST" &&
      /\/files\/\{fileId\}$|\/data_sources\/\{dsId\}\/upload$/.test(op.path);
    const req: FuzzRequest = {
      method: op.method,
      path,
      headers: {
        Authorization: `Bearer ${world.a.token}`,
        // The upload routes stream (files) or cap (documents) the bytes and read only multipart.
        "Content-Type": upload ? "multipart/form-data; boundary=fuzz" : "application/json",
      },
      body: limit === BODY_LIMITS.default ? big : streamedBody(limit + 1),
      as: world.a,
    };
    const res = await send(world, req);
    checkResponse(world, req, res, "rest");
    assert.equal(contract.check(req, res), null);
    const where = `${op.method} ${op.path}: ${res.status} ${res.text.slice(0, 200)}`;
    if (!upload) assert.equal(res.status, 413, where);
    else {
      // Cut while streaming: past the file's declared size (400) or the global cap (413).
      assert.ok(res.status === 400 || res.status === 413, where);
      assert.match(res.text, /"type":"(file_too_large|invalid_request_error)"/, where);
    }
  }
});

Deno.test("[fuzz/rest] a streamed body without Content-Length is cut at the limit", async () => {
  await using world = await startFuzzWorld();
  const req: FuzzRequest = {
    method: "POST",
    path: `/api/v1/w/${world.a.ids.wId}/assistant/conversations`,
    headers: { Authorization: `Bearer ${world.a.token}`, "Content-Type": "application/json" },
    body: streamedBody(BODY_LIMITS.default + 1),
    as: world.a,
  };
  const res = await send(world, req);
  checkResponse(world, req, res, "rest");
  assert.equal(res.status, 413);
});

Deno.test("[fuzz/rest] oversized bodies on /mcp and the OAuth JSON endpoints answer 413 in their own shape", async () => {
  await using world = await startFuzzWorld();
  const big = "x".repeat(BODY_LIMITS.default + 1);
  const cases: Array<[string, Record<string, string>, "mcp" | "oauth_json"]> = [
    [
      "/mcp",
      { Authorization: `Bearer ${world.a.mcpToken}`, "Content-Type": "application/json" },
      "mcp",
    ],
    ["/token", { "Content-Type": "application/x-www-form-urlencoded" }, "oauth_json"],
    ["/register", { "Content-Type": "application/json" }, "oauth_json"],
    ["/revoke", { "Content-Type": "application/x-www-form-urlencoded" }, "oauth_json"],
  ];
  for (const [path, headers, surface] of cases) {
    for (const body of [big, streamedBody(BODY_LIMITS.default + 1)]) {
      const req: FuzzRequest = { method: "POST", path, headers, body, as: world.a };
      const res = await send(world, req);
      checkResponse(world, req, res, surface);
      assert.equal(res.status, 413, `${path}: ${res.status}`);
      const json = JSON.parse(res.text);
      if (surface === "mcp") assert.equal(json.error.code, -32600);
      else assert.equal(json.error, "invalid_request");
    }
  }
});

Deno.test("[fuzz/rest] wrong methods and mangled paths around every route answer 4xx in the envelope", async () => {
  await using world = await startFuzzWorld();
  const { ops, doc } = await listApiOperations(world);
  const contract = new OpenApiContract(doc);
  const auth = { Authorization: `Bearer ${world.a.token}`, "Content-Type": "application/json" };
  const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
  const paths = new Set<string>();
  for (const op of ops) {
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => idsFor(world.a, name)[0]);
    for (
      const mangled of [`${path}/`, `${path}/extra`, `${path}%2F..`]
    ) {
      paths.add(mangled);
    }
    paths.add(path);
  }
  for (const path of paths) {
    for (const method of methods) {
      // Real routes with their own method were fuzzed above; here only the others.
      if (ops.some((o) => o.method === method && path === fill(world, o.path))) continue;
      const req: FuzzRequest = {
        method,
        path,
        headers: auth,
        body: method === "GET" ? null : "{}",
        as: world.a,
      };
      const res = await send(world, req);
      if (method === "OPTIONS" && res.status === 204) assert.equal(res.text, "");
      else checkResponse(world, req, res, "rest");
      assert.equal(contract.check(req, res), null);
    }
  }
});

function fill(world: FuzzWorld, template: string): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => idsFor(world.a, name)[0]);
}
